"""Where a reward model disagrees with the person: the held-out comparisons it gets wrong,
most confident first. What the reward-model page shows after training."""

from __future__ import annotations

import json
from typing import Optional

from core.progress import CancelToken, ProgressCallback
from core.reward.versions import RewardScorer
from core.store.database import Store


def disagreements(store: Store, row: dict, limit: int = 10, *, device: Optional[str] = None,
                  on_progress: Optional[ProgressCallback] = None,
                  cancel: Optional[CancelToken] = None) -> dict:
    """{"checked", "wrong": [{prompt, chosen, rejected, guess}]}: the held-out pairs (all its
    training pairs when there were too few to hold any out) where the model prefers the
    answer the person rejected; ``guess`` is its P(chosen preferred)."""
    data = json.loads(row["data"])
    ids = data.get("heldout_ratings") or data.get("ratings") or []
    if not ids:
        return {"checked": 0, "wrong": [], "heldout": False}
    marks = ",".join("?" for _ in ids)
    pairs = store.all(f"SELECT prompt, chosen, rejected FROM ratings WHERE id IN ({marks}) AND kind = 'pair' "
                      "AND outcome = 'chosen' ORDER BY id", ids)
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
