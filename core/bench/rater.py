"""Simulated people for the benchmarks: programmatic stand-ins with a taste of their own, so a
benchmark runs unattended and repeatably. Each has ``utility(text)``, its own score of an
answer (which the benchmarks use as the judge, and which no trained model ever sees), and
``prefers_a(a, b, rng)``, its pairwise choice: noisy the way a person's is, the closer two
answers are in its own judgement, the likelier it picks the worse one.

Two tastes that pull apart on purpose:

* ``SimulatedRater`` ("support-lead"): warm, reader-facing, structured answers. Its utility
  adds up keyword counts, so a longer, chattier answer tends to win.
* ``ConciseExpert`` ("concise-expert"): a direct, finished answer of moderate length. Its
  utility is not a sum of keyword counts: an answer cut off mid-sentence fails whatever else
  it says, and courtesy phrases the support lead rewards ("I hope this helps", "happy to")
  count against it as filler.

Neither was tuned against the project's models; their rules are stated here and in the
reports, and the unit tests pin them."""

from __future__ import annotations

import math
import random
import re

POLITE = re.compile(r"\b(please|thank|thanks|glad|happy to|sorry|hope|welcome)\b", re.I)
STRUCTURE = re.compile(r"(^|\n)\s*(\d+[.)]|[-*•])\s+")
YOU = re.compile(r"\b(you|your|yours)\b", re.I)
SELF = re.compile(r"\b(I|me|my|mine|I'm|I've)\b")
PLACEHOLDER = re.compile(r"\[[^\]]{2,40}\]")

ENDS_PROPERLY = re.compile(r"[.!?][\"')\]*_]*$")
HEDGES = re.compile(r"\b(I think|I believe|maybe|perhaps|probably|possibly|might|it depends|generally speaking|"
                    r"in some cases|kind of|sort of)\b", re.I)
FILLER = re.compile(r"(^\W*(sure|certainly|of course|absolutely|great question|good question)\b)|"
                    r"\b(I hope this helps|hope this helps|feel free to|let me know if|happy to help|glad to help|"
                    r"as an AI|in conclusion|it is important to note|it's important to note|"
                    r"it is worth noting|it's worth noting)\b", re.I)


class Rater:
    """What every simulated person shares: a utility, and a choice between two answers that
    picks A with probability sigmoid(sharpness * (u(A) - u(B)))."""

    name = "rater"
    sharpness = 3.0
    taste = ""  # one paragraph for the reports

    def utility(self, text: str) -> float:
        raise NotImplementedError

    def prefers_a(self, a: str, b: str, rng: random.Random) -> bool:
        p = 1.0 / (1.0 + math.exp(-self.sharpness * (self.utility(a) - self.utility(b))))
        return rng.random() < p


class SimulatedRater(Rater):
    """A support lead's taste, in code. An answer's utility adds up:
    +0.5 per "you"/"your" (it speaks to the reader; at most four count),
    -0.5 per "I"/"me"/"my" (it talks about itself; at most four count),
    +1.0 if it is structured (a numbered or bulleted list),
    +0.5 per polite phrase (please, thank you, glad, sorry, hope...; at most two count),
    -1.0 if it leaves template placeholders such as "[Your Name]",
    -1.0 if it is nearly empty (under 5 words).
    Between two answers it picks A with probability sigmoid(3 * (u(A) - u(B))): clear
    differences almost always go its way, near-ties are close to a coin flip."""

    name = "support-lead"
    taste = ("a support lead: +0.5 per \"you\"/\"your\" and -0.5 per \"I\"/\"me\"/\"my\" (four count at most), "
             "+1 for a numbered or bulleted list, +0.5 per polite phrase (two at most), -1 for template "
             "placeholders such as \"[Your Name]\", -1 under 5 words")

    def utility(self, text: str) -> float:
        u = 0.5 * min(4, len(YOU.findall(text))) - 0.5 * min(4, len(SELF.findall(text)))
        u += 1.0 if STRUCTURE.search(text) else 0.0
        u += 0.5 * min(2, len(POLITE.findall(text)))
        u -= 1.0 if PLACEHOLDER.search(text) else 0.0
        u -= 1.0 if len(text.split()) < 5 else 0.0
        return u


def repeats_itself(text: str) -> bool:
    """A word trigram said twice: the answer goes round in circles."""
    words = re.findall(r"\w+", text.lower())
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(grams) != len(set(grams))


class ConciseExpert(Rater):
    """A busy expert who wants the answer, finished, and nothing else. The utility is a gate
    and then deductions, not a sum of keyword counts:
    -2.0 if nearly empty (under 5 words), whatever else;
    -1.5 if cut off (the text does not end with ".", "!" or "?", closing quotes or brackets
    allowed after it), whatever else: an unfinished answer fails;
    otherwise 1.0, minus
      0.5 per hedge (I think, maybe, perhaps, probably, might, it depends...; two count at most),
      0.5 per filler phrase (an opening "Sure"/"Certainly"/"Of course"/"Great question", "I hope
      this helps", "feel free to", "let me know if", "happy to help", "in conclusion", "it's
      important to note"...; two count at most),
      1.0 if it repeats itself (a word trigram said twice),
      0.05 per word beyond 60 (long-winded).
    Between two answers it picks A with probability sigmoid(3 * (u(A) - u(B)))."""

    name = "concise-expert"
    taste = ("a concise expert: an answer under 5 words scores -2 and one cut off mid-sentence -1.5, whatever "
             "else it says; a finished one starts at +1 and loses 0.5 per hedge (\"I think\", \"maybe\", "
             "\"might\"...; two at most), 0.5 per filler phrase (an opening \"Sure\"/\"Certainly\", \"I hope "
             "this helps\", \"feel free to\"...; two at most), 1 if it repeats a word trigram, and 0.05 per "
             "word beyond 60")

    def utility(self, text: str) -> float:
        text = text.strip()
        n_words = len(text.split())
        if n_words < 5:
            return -2.0
        if not ENDS_PROPERLY.search(text):
            return -1.5
        u = 1.0
        u -= 0.5 * min(2, len(HEDGES.findall(text)))
        u -= 0.5 * min(2, len(FILLER.findall(text)))
        u -= 1.0 if repeats_itself(text) else 0.0
        u -= 0.05 * max(0, n_words - 60)
        return u


RATERS: dict[str, type[Rater]] = {r.name: r for r in (SimulatedRater, ConciseExpert)}


def make_rater(name: str) -> Rater:
    from core.errors import InputError

    if name not in RATERS:
        raise InputError(f"No simulated rater named '{name}'. There are: {', '.join(RATERS)}.")
    return RATERS[name]()
