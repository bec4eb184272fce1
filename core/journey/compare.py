"""Compare a run's tuned model with the model it started from: one answer of each to the
evaluation prompts, shown blind (sides shuffled), judged by the person. The judgements are
stored as ordinary ratings too, so the next reward model learns from them."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Optional

from core.errors import InputError, NotFoundError
from core.sampling.generation import SamplingSettings, sample
from core.progress import CancelToken, ProgressCallback, report
from core.store.ratings import add_ratings, fingerprint, pair
from core.store.runs import get_run, last_checkpoint
from core.store.database import Store, now

CHOICES = ("left", "right", "tie", "skip")


def prepare_comparison(store: Store, run_name: str, n_prompts: int = 16, *, seed: int = 0,
                       device: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
                       cancel: Optional[CancelToken] = None) -> list[dict]:
    """Answer up to ``n_prompts`` evaluation prompts (training prompts when the set has no
    evaluation ones) with the base and the tuned model; store the blind pairs."""
    from core.superhf.policy import build_policy
    from core.superhf.config import SuperHFConfig

    run = get_run(store, run_name)
    checkpoint = last_checkpoint(store, run["id"])
    if checkpoint is None:
        raise InputError(f"Run '{run_name}' has no finished iteration yet: train it first.")
    prompts = [r["text"] for r in store.all("SELECT text FROM prompts WHERE set_id = ? AND split = 'eval' ORDER BY id",
                                            [run["prompt_set_id"]])]
    prompts = prompts or [r["text"] for r in store.all("SELECT text FROM prompts WHERE set_id = ? ORDER BY id",
                                                       [run["prompt_set_id"]])]
    prompts = prompts[:n_prompts]
    if not prompts:
        raise NotFoundError(f"Run '{run_name}' has no prompts to compare on.")
    config = SuperHFConfig.from_dict(json.loads(run["config"]))
    model = store.one("SELECT * FROM models WHERE id = ?", [run["model_id"]])
    settings = SamplingSettings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                top_p=config.top_p, seed=seed)
    answers = {}
    for side, path in (("base", None), ("tuned", Path(checkpoint["path"]))):
        report(on_progress, f"answering with the {side} model", 0, len(prompts))
        policy = build_policy(Path(model["path"]), config, device=device, checkpoint=path)
        answers[side] = [c.text for c in sample(policy.lm, prompts, 1, settings, on_progress=on_progress,
                                                cancel=cancel)]
        del policy
    rng = random.Random(f"{run_name}:{seed}")
    stamp = now()
    with store.transaction() as db:
        for prompt, base, tuned in zip(prompts, answers["base"], answers["tuned"]):
            db["comparisons"].insert({"run_id": run["id"], "iteration": checkpoint["iteration"], "prompt": prompt,
                                      "base": base, "tuned": tuned, "tuned_on_left": int(rng.random() < 0.5),
                                      "created_at": stamp})
    return open_comparisons(store, run_name)


def open_comparisons(store: Store, run_name: str) -> list[dict]:
    """Unanswered pairs of the run, as the person sees them: left and right, not which is which."""
    run = get_run(store, run_name)
    rows = store.all("SELECT * FROM comparisons WHERE run_id = ? AND choice IS NULL ORDER BY id", [run["id"]])
    return [{"id": r["id"], "prompt": r["prompt"], "left": r["tuned"] if r["tuned_on_left"] else r["base"],
             "right": r["base"] if r["tuned_on_left"] else r["tuned"]} for r in rows]


def answer_comparison(store: Store, comparison_id: int, choice: str) -> dict:
    if choice not in CHOICES:
        raise InputError(f"The answer must be one of {', '.join(CHOICES)}, not '{choice}'.")
    row = store.one("SELECT * FROM comparisons WHERE id = ?", [comparison_id])
    if row is None:
        raise NotFoundError(f"No comparison with id {comparison_id}.")
    if row["choice"] is not None:
        raise InputError(f"Comparison {comparison_id} was answered already.")
    if choice in ("left", "right"):
        winner = "tuned" if (choice == "left") == bool(row["tuned_on_left"]) else "base"
        loser = "base" if winner == "tuned" else "tuned"
        rating = pair(row["prompt"], row[winner], row[loser])
    else:
        winner = choice
        rating = pair(row["prompt"], row["tuned"], row["base"], choice)
    with store.transaction() as db:
        add_ratings(store, [rating], source="compare")
        rating_id = store.one("SELECT id FROM ratings WHERE fingerprint = ?", [fingerprint(rating)])["id"]
        db.execute("UPDATE comparisons SET choice = ?, rating_id = ?, answered_at = ? WHERE id = ?",
                   [winner, rating_id, now(), comparison_id])
    return {"comparison": comparison_id, "choice": winner}


def undo_comparison(store: Store, comparison_id: int) -> None:
    row = store.one("SELECT rating_id FROM comparisons WHERE id = ? AND choice IS NOT NULL", [comparison_id])
    if row is None:
        raise InputError(f"Comparison {comparison_id} has no answer to take back.")
    with store.transaction() as db:
        db.execute("UPDATE comparisons SET choice = NULL, rating_id = NULL, answered_at = NULL WHERE id = ?",
                   [comparison_id])
        if row["rating_id"] is not None:
            db.execute("DELETE FROM ratings WHERE id = ?", [row["rating_id"]])


def win_rate(store: Store, run_name: str) -> dict:
    """How often the tuned answer won; a tie counts half. ``se`` is the standard error of the
    rate, ``low``/``high`` a 95% Wilson interval."""
    run = get_run(store, run_name)
    counts = {r["choice"]: r["n"] for r in store.all(
        "SELECT choice, count(*) AS n FROM comparisons WHERE run_id = ? AND choice IS NOT NULL GROUP BY choice",
        [run["id"]])}
    wins, losses, ties = counts.get("tuned", 0), counts.get("base", 0), counts.get("tie", 0)
    n = wins + losses + ties
    if n == 0:
        return {"judged": 0, "wins": 0, "losses": 0, "ties": 0, "skipped": counts.get("skip", 0), "rate": None}
    rate = (wins + ties / 2) / n
    z = 1.96
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"judged": n, "wins": wins, "losses": losses, "ties": ties, "skipped": counts.get("skip", 0),
            "rate": rate, "se": math.sqrt(rate * (1 - rate) / n), "low": max(0.0, centre - half),
            "high": min(1.0, centre + half)}
