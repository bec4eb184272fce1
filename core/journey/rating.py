"""The rating loop's engine: make sure the prompts have answers, choose the pairs to show
next (``core.journey.pair_queue``), and score files of answers with a reward model."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.journey.pair_queue import RATING_TEMPERATURE, candidate_pairs, open_pairs, queue_pairs, rank_pairs
from core.journey.answers import generate_answers
from core.errors import InputError
from core.sampling.generation import SamplingSettings
from core.progress import CancelToken, ProgressCallback
from core.records import read_records, require_text, write_records
from core.reward.versions import RewardScorer, default_base
from core.store.reward_models import find_reward_model, latest_reward_model
from core.store.database import Store
from core.store.generations import answer_counts


def next_pairs(store: Store, prompts: list[tuple[Optional[int], str]], n: int = 10, *,
               reward: Optional[str] = None, model: Optional[str] = None, candidates: int = 4,
               settings: SamplingSettings = SamplingSettings(temperature=RATING_TEMPERATURE),
               device: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None) -> list[dict]:
    """The next ``n`` pairs for a person to rate: pairs shown before and not yet answered
    first, then new ones. Prompts with fewer than two answers get ``candidates`` new ones."""
    if n < 1:
        raise InputError(f"Ask for at least 1 pair, not {n}.")
    if candidates < 2:
        raise InputError(f"Each prompt needs at least 2 candidate answers to compare, not {candidates}.")
    waiting = open_pairs(store)
    if len(waiting) >= n:
        return waiting[:n]
    texts = [t for _, t in prompts]
    counts = answer_counts(store)
    need = [(pid, t) for pid, t in prompts if counts.get(t, 0) < 2]
    if need:
        generate_answers(store, model or default_base(store)["name"], need, candidates, settings,
                         device=device, on_progress=on_progress, cancel=cancel)
    pool = candidate_pairs(store, texts)
    row = find_reward_model(store, reward) if reward else latest_reward_model(store)
    keys = guesses = None
    if row is not None and pool:
        scorer = RewardScorer(row, device)
        cache = scorer.feature_cache(store)
        try:
            guesses, information = scorer.judge_pairs([c.prompt for c in pool], [c.a for c in pool],
                                                      [c.b for c in pool], cache, on_progress, cancel)
        finally:
            cache.close()
        keys = [-i for i in information]  # most to learn first
    chosen = rank_pairs(pool, n - len(waiting), keys, guesses)
    return queue_pairs(store, chosen, row["id"] if row is not None else None)[:n]


def score_file(store: Store, reward: str, source: Path, out: Path, *, device: Optional[str] = None,
               on_progress: Optional[ProgressCallback] = None) -> dict:
    """Add a "reward" field to every {"prompt", "completion", ...} line of a JSONL file."""
    source, out = Path(source).expanduser(), Path(out).expanduser()
    records = read_records(source)
    for n, r in records:
        require_text(source.name, n, r, "prompt")
        if not isinstance(r.get("completion"), str):
            raise InputError(f"{source.name} line {n}: the field 'completion' is missing or not text.")
    scorer = RewardScorer(find_reward_model(store, reward), device)
    scores = scorer.score([r["prompt"] for _, r in records], [r["completion"] for _, r in records],
                          on_progress=on_progress)
    rows = [{**r, "reward": s} for (_, r), s in zip(records, scores)]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    write_records(out, rows, fields)
    return {"in": str(source), "out": str(out), "scored": len(rows), "reward_model": scorer.row["name"],
            "version": scorer.row["version"]}
