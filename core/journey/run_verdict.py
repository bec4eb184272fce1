"""After a run: what changed, in a few plain words, from the run's stored per-iteration metrics
(its first round against its last). Round 1's answers are sampled before any update, so they
show the model as it started; the last round's show it after all but the last update. Only
changes larger than the noise of the figures are named; the rest is "about the same". No Qt,
no torch."""

from __future__ import annotations

import math
from typing import Optional

LONGER = 0.15  # a change in mean length of more than this share is named
FINISHED = 0.10  # a change in the share of cut-off answers of more than 10 points is named
ALIKE = 0.20  # distinct-2 falling by more than this share: answers became repetitive
FAR = 1.0  # KL in nats per token beyond which the model moved far (the loop's warning too)
MINUTES_CAP = 10_000  # iterations of a run given --minutes and no --iterations: the time decides


def run_verdict(iterations: list[dict], prompts_per_round: Optional[int] = None) -> str:
    """A short verdict on a run from its stored iterations (``core.store.runs.iterations``; the
    optional round 0 holds the evaluation before training). ``prompts_per_round`` makes the
    reward's noise estimate count prompts, not answers (answers to one prompt are alike)."""
    rounds = [it for it in iterations if it.get("iteration", 0) > 0]
    if not rounds:
        return "No round finished yet: nothing to judge."
    first, last = rounds[0], rounds[-1]
    parts = []
    if len(rounds) > 1:
        parts += [p for p in (_length(first, last), _finished(first, last), _variety(first, last)) if p]
        parts.append(_reward(first, last, prompts_per_round))
    evaluated = _evaluation(iterations, last)
    if evaluated:
        parts.append(evaluated)
    if last.get("kl", 0) > FAR:
        parts.append(f"it moved far from the original model (KL {last['kl']:.2f}): its answers may please the "
                     "reward model without being better")
    if not parts:
        return "Only one round finished: too early to tell how training changed the answers. Try Compare to see them."
    text = "; ".join(parts)
    return f"{text[0].upper()}{text[1:]}. Try Compare to check with your own eyes."


def _length(first: dict, last: dict) -> Optional[str]:
    a, b = first.get("mean_length"), last.get("mean_length")
    if not a or b is None or abs(b - a) <= LONGER * a:
        return None
    return f"answers got {'longer' if b > a else 'shorter'} ({a:.0f} → {b:.0f} tokens)"


def _finished(first: dict, last: dict) -> Optional[str]:
    a, b = first.get("cut_off_share"), last.get("cut_off_share")
    if a is None or b is None or abs(b - a) <= FINISHED:
        return None
    return f"{'more' if b < a else 'fewer'} answers ended on their own ({1 - a:.0%} → {1 - b:.0%})"


def _variety(first: dict, last: dict) -> Optional[str]:
    a, b = first.get("distinct_2"), last.get("distinct_2")
    if not a or b is None or b >= (1 - ALIKE) * a:
        return None
    return f"they became more alike, more repetitive (variety {a:.2f} → {b:.2f})"


def _reward(first: dict, last: dict, prompts: Optional[int]) -> str:
    """The change of the reward model's mean score of a round's answers, named only when it is
    more than twice its standard error."""
    a, b = first.get("reward_mean"), last.get("reward_mean")
    if a is None or b is None:
        return "the reward model's score was not recorded"
    change = b - a
    noise = 2 * math.sqrt(sum(_variance_of_mean(it, prompts) for it in (first, last)))
    if abs(change) <= noise:
        return f"the reward model's score stayed about the same ({change:+.2f}, within the noise of ±{noise:.2f})"
    return f"the reward model's score {'rose' if change > 0 else 'fell'} by {abs(change):.2f}"


def _variance_of_mean(it: dict, prompts: Optional[int]) -> float:
    n = prompts or it.get("samples") or 1
    return (it.get("reward_std") or 0.0) ** 2 / max(1, n)


def _evaluation(iterations: list[dict], last: dict) -> Optional[str]:
    """Before against after on the evaluation prompts (the same prompts and seed each time; no
    noise figure is stored for it, so it is reported as measured, not judged)."""
    before = next((it.get("eval_reward") for it in iterations if it.get("iteration") == 0), None)
    after = last.get("eval_reward")
    if before is None or after is None:
        return None
    return f"on the evaluation prompts it went from {before:.2f} to {after:.2f}"


def time_limit_sentence(config: dict, recorded: list[dict]) -> str:
    """What the time limit did, where it ended the run before its rounds were done; else ""."""
    minutes, asked = config.get("minutes"), config.get("iterations")
    done = sum(1 for i in recorded if i.get("iteration", 0) > 0)
    if not minutes or asked is None or done >= asked:
        return ""
    rounds = f"{done} of {asked} rounds" if asked < MINUTES_CAP else f"{done} rounds"
    return (f"Stopped after {rounds}: the next would have ended past the {minutes:g}-minute limit. For more "
            f"rounds, start a new run with more time (Minutes to train on the Train page, --minutes in the "
            f"command; 0: no limit).")
