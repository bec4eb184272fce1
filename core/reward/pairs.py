"""From a person's ratings to the training pairs of a reward model.

Which ratings count: every pairwise rating with a winner; ties (the two answers are equally
good: a soft pair, target 1/2); 1-5 scores, as pairs between answers to the same prompt; and
ratings where the person wrote a better answer themselves (source ``WRITTEN_SOURCE``: the
person's text is the chosen answer, one rating for each answer shown), weighing
``WRITTEN_WEIGHT``; "both bad" (source ``BOTH_BAD_SOURCE`` in core.store.ratings), a score of 1
for each answer.
Skips say nothing.
Blind comparisons of a tuned model with its base (source ``COMPARE_SOURCE``) are left out:
they are the person's judgement of the tuned model, and must stay independent of the reward
model that trained it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from core.errors import InputError
from core.store.database import Store
from core.store.ratings import COMPARE_SOURCE, WRITTEN_SOURCE, count_from_source, counts_by_kind, ratings_of_kind

MIN_PAIRS_FOR_ACCURACY = 20  # below this a held-out accuracy is noise: 5 pairs give 0, 20, 40 ... %
WRITTEN_WEIGHT = 1.0  # measured (bench reward): 2 or 4 learnt no more than 1


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    rating_ids: tuple[int, ...]  # the ratings this pair comes from
    target: float = 1.0  # P(chosen preferred) as the person said it: 1, or 1/2 for a tie
    weight: float = 1.0  # how much the pair counts in training

    @property
    def tie(self) -> bool:
        return self.target == 0.5


def _usable(store: Store, kind: str) -> list[dict]:
    """Ratings of ``kind`` that train reward models, oldest first: all but the blind comparisons."""
    return ratings_of_kind(store, kind, leave_out_source=COMPARE_SOURCE)


def pairs_from_ratings(store: Store, ties: bool = True) -> list[Pair]:
    """Pairwise ratings with a winner as they are (a written answer's weighing more), ties as
    soft pairs (with ``ties``), skips left out; 1-5 scores become pairs between answers to
    the same prompt. Blind comparisons are left out. Raises when nothing has a winner."""
    pairs = []
    for r in _usable(store, "pair"):
        if r["outcome"] == "chosen":
            pairs.append(Pair(r["prompt"], r["chosen"], r["rejected"], (r["id"],),
                              weight=WRITTEN_WEIGHT if r["source"] == WRITTEN_SOURCE else 1.0))
        elif r["outcome"] == "tie" and ties and r["chosen"] != r["rejected"]:
            pairs.append(Pair(r["prompt"], r["chosen"], r["rejected"], (r["id"],), target=0.5))
    by_prompt: dict[str, dict[str, list]] = defaultdict(dict)
    for r in _usable(store, "score"):
        # A completion scored twice keeps the mean of its scores.
        entry = by_prompt[r["prompt"]].setdefault(r["completion"], [])
        entry.append((r["id"], r["score"]))
    for prompt, answers in by_prompt.items():
        scored = [(text, sum(s for _, s in v) / len(v), tuple(i for i, _ in v)) for text, v in answers.items()]
        for (ta, sa, ia), (tb, sb, ib) in combinations(scored, 2):
            if sa == sb:
                continue
            (win, _, iw), (lose, _, il) = ((ta, sa, ia), (tb, sb, ib)) if sa > sb else ((tb, sb, ib), (ta, sa, ia))
            pairs.append(Pair(prompt, win, lose, iw + il))
    if not any(not p.tie for p in pairs):  # ties alone teach nothing of which is better
        raise InputError(_why_no_pairs(store))
    return pairs


def _why_no_pairs(store: Store) -> str:
    counts = counts_by_kind(store)
    compared = count_from_source(store, COMPARE_SOURCE)
    if compared and compared == sum(counts.values()):
        return (f"Your {compared} ratings are all blind comparisons of a tuned model with its base: they judge "
                "the tuned model and do not train reward models. Rate some answers first ('superhf rate next').")
    if not counts:
        return ("There are no ratings yet. Rate some answers first ('superhf rate next', or "
                "'superhf ratings import FILE').")
    parts = []
    if counts.get("pair"):
        parts.append(f"your {counts['pair']} pairwise ratings are all ties or skips")
    if counts.get("score"):
        parts.append(f"no prompt among your {counts['score']} scored answers has two answers with different scores")
    return ("Nothing to learn from: " + " and ".join(parts) + ". A reward model learns which of two answers is "
            "better: choose a winner in some pairs, or score several answers to the same prompt differently.")

