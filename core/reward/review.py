"""Where a reward model disagrees with the person: the held-out comparisons it gets wrong,
most confident first. What the reward-model page shows after training."""

from __future__ import annotations

import json
from typing import Optional

from core.progress import CancelToken, ProgressCallback
from core.reward.versions import RewardScorer
from core.store.database import Store
from core.store.ratings import chosen_pairs, chosen_pairs_among


def disagreements(store: Store, row: dict, limit: int = 10, *, device: Optional[str] = None,
                  on_progress: Optional[ProgressCallback] = None,
                  cancel: Optional[CancelToken] = None) -> dict:
    """{"checked", "wrong": [{prompt, chosen, rejected, guess}]}: the held-out pairs (all its
    training pairs when there were too few to hold any out) where the model prefers the
    answer the person rejected; ``guess`` is its P(chosen preferred). A model that stored its
    out-of-fold guesses (each by a head that never saw the pair's prompt) is reviewed on those,
    without loading it."""
    data = json.loads(row["data"])
    if data.get("out_of_fold"):
        return _from_out_of_fold(store, data["out_of_fold"], limit)
    ids = data.get("heldout_ratings") or data.get("ratings") or []
    if not ids:
        return {"checked": 0, "wrong": [], "heldout": False}
    pairs = chosen_pairs_among(store, ids)
    if not pairs:
        return {"checked": 0, "wrong": [], "heldout": bool(data.get("heldout_ratings"))}
    scorer = RewardScorer(row, device)
    cache = scorer.feature_cache(store)
    try:
        guesses, _ = scorer.judge_pairs([p["prompt"] for p in pairs], [p["chosen"] for p in pairs],
                                        [p["rejected"] for p in pairs], cache, on_progress, cancel)
    finally:
        cache.close()
    wrong = sorted(({**p, "guess": g} for p, g in zip(pairs, guesses) if g < 0.5), key=lambda w: w["guess"])
    return {"checked": len(pairs), "wrong": wrong[:limit], "wrong_count": len(wrong),
            "heldout": bool(data.get("heldout_ratings"))}


def _from_out_of_fold(store: Store, out_of_fold: list[dict], limit: int) -> dict:
    """The pairwise ratings among the judged pairs, with their out-of-fold guesses."""
    guesses = {entry["ratings"][0]: entry["guess"] for entry in out_of_fold if len(entry["ratings"]) == 1}
    pairs = [{**{k: r[k] for k in ("prompt", "chosen", "rejected")}, "guess": guesses[r["id"]]}
             for r in chosen_pairs(store) if r["id"] in guesses]
    wrong = sorted((p for p in pairs if p["guess"] < 0.5), key=lambda w: w["guess"])
    return {"checked": len(pairs), "wrong": wrong[:limit], "wrong_count": len(wrong), "heldout": True}
