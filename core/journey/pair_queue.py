"""Choosing what a person rates next. With a reward model: the pairs whose outcome the
model cannot call, where its guess is a coin flip for want of knowledge rather than because
the answers are alike (``core.reward.trainer.pair_uncertainty``), spread across prompts, so
each rating teaches it most. Without one: the most different answers to the same prompt.
Every shown pair keeps the model's guess, so the app can show how often person and model
agree."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import combinations
from typing import Optional, Sequence

from core.store.database import Store, now
from core.store.generations import answers_to
from core.store.queued_pairs import add_to_queue, open_queue, queued_generation_pairs
from core.store.ratings import fingerprint, pair, pair_fingerprints

# Candidates to rate are sampled a little cooler than training samples: on the starter, 16
# prompts x 4 answers at 64 tokens, temperature 0.7 kept most of the variety of 1.0 (distinct-2
# 0.78 against 0.85) with fewer stray words; the share cut off at the limit was the same (88-92%).
RATING_TEMPERATURE = 0.7
# Pairs are not moved ahead for answers that ended: tried (a quarter of the candidates ahead per
# answer that ended), it skewed what the reward model learnt from. In bench journey (seed 0, the
# support lead) best-of-4 fell from 1.02 to 0.72 and the tuned model from 1.36 to 0.71. The Rate
# page marks the answers cut off instead.


@dataclass(frozen=True)
class Candidate:
    """Two answers to one prompt that could be shown side by side."""

    prompt: str
    a: str
    b: str
    generation_a: Optional[int] = None
    generation_b: Optional[int] = None


def word_distance(a: str, b: str) -> float:
    """1 - Jaccard similarity of the two answers' word sets: 0 same words, 1 none shared."""
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    if not wa and not wb:
        return 0.0
    return 1.0 - len(wa & wb) / len(wa | wb)


def rank_pairs(candidates: Sequence[Candidate], n: int, keys: Optional[Sequence[float]] = None,
               guesses: Optional[Sequence[float]] = None,
               per_prompt: Optional[int] = None) -> list[tuple[Candidate, Optional[float]]]:
    """Choose ``n`` pairs, lowest ``keys`` first (default: the most different answers
    first), at most ``per_prompt`` from one prompt (default: an even share) so that a batch
    of ratings covers many prompts. Returns (pair, the model's guess or None)."""
    if keys is None:
        keys = [-word_distance(c.a, c.b) for c in candidates]
    order = sorted(range(len(candidates)), key=lambda i: keys[i])
    prompts = {c.prompt for c in candidates}
    cap = per_prompt or max(1, math.ceil(n / max(1, len(prompts))))
    taken: dict[str, int] = {}
    chosen: list[tuple[Candidate, Optional[float]]] = []
    for i in order:
        c = candidates[i]
        if len(chosen) == n:
            break
        if taken.get(c.prompt, 0) >= cap:
            continue
        taken[c.prompt] = taken.get(c.prompt, 0) + 1
        chosen.append((c, guesses[i] if guesses is not None else None))
    return chosen


def candidate_pairs(store: Store, prompts: Sequence[str]) -> list[Candidate]:
    """Every not-yet-rated, not-yet-queued pair of distinct stored answers to each prompt."""
    seen = pair_fingerprints(store)
    queued = queued_generation_pairs(store)
    out = []
    for prompt in prompts:
        answers: dict[str, int] = {}
        for g in answers_to(store, prompt):
            if g["completion"].strip():
                answers.setdefault(g["completion"], g["id"])
        for (ta, ia), (tb, ib) in combinations(answers.items(), 2):
            if (ia, ib) in queued or (ib, ia) in queued:
                continue
            if any(fingerprint(pair(prompt, x, y, o)) in seen for x, y in ((ta, tb), (tb, ta))
                   for o in ("chosen", "tie", "skip")):
                continue
            out.append(Candidate(prompt, ta, tb, ia, ib))
    return out


def open_pairs(store: Store) -> list[dict]:
    return open_queue(store)


def queue_pairs(store: Store, chosen: list[tuple[Candidate, Optional[float]]],
                reward_model_id: Optional[int]) -> list[dict]:
    reason = "uncertain" if reward_model_id is not None else "diverse"
    stamp = now()
    add_to_queue(store, [{"prompt": c.prompt, "generation_a": c.generation_a, "generation_b": c.generation_b,
                          "reward_model_id": reward_model_id, "guess": guess, "reason": reason, "created_at": stamp}
                         for c, guess in chosen])
    return open_pairs(store)
