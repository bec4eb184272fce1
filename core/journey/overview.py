"""Where a workspace stands on the journey and the next sensible step: what the desktop's
home page shows (and ``superhf status`` prints), from a handful of small store reads."""

from __future__ import annotations

import json

from core.reward.pairs import MIN_PAIRS_FOR_ACCURACY
from core.reward.verdict import verdict
from core.store.database import Store
from core.store.exports import count_exports
from core.store.generations import count_generations
from core.store.models import base_models
from core.store.prompts import split_counts
from core.store.ratings import count_chosen_pairs, count_ratings
from core.store.reward_models import latest_reward_model
from core.store.runs import last_iterations, newest_runs

ENOUGH_PAIRS = MIN_PAIRS_FOR_ACCURACY  # pairs rated before a reward model is worth training
STALE_AFTER = 20  # new pair ratings after which the reward model should learn them


def overview(store: Store) -> dict:
    models = base_models(store)
    splits = split_counts(store)
    pairs = count_chosen_pairs(store)
    reward = latest_reward_model(store)
    trained_on = json.loads(reward["data"]).get("pairs", 0) if reward else 0
    done = last_iterations(store)
    run_rows = []
    for r in newest_runs(store):
        run_rows.append({"name": r["name"], "status": r["status"], "done": done.get(r["id"], 0),
                         "iterations": json.loads(r["config"]).get("iterations")})
    state = {
        "models": models, "train_prompts": splits.get("train", 0), "eval_prompts": splits.get("eval", 0),
        "answers": count_generations(store), "ratings": count_ratings(store), "pairs": pairs,
        "reward_model": ({"name": reward["name"], "version": reward["version"], "accuracy": reward["accuracy"],
                          "pairs": trained_on, "verdict": verdict(reward)["message"]} if reward else None),
        "runs": run_rows, "exports": count_exports(store),
    }
    state["next"] = next_step(state)
    return state


def next_step(s: dict) -> dict:
    """{"page", "text"}: the one thing to do next, in plain words."""
    if not s["models"]:
        return {"page": "model", "text": "Choose a model to start from: the built-in starter model works offline."}
    if not s["train_prompts"]:
        return {"page": "prompts", "text": "Add the prompts your model should answer well (or use the starter prompts)."}
    if s["pairs"] < ENOUGH_PAIRS and s["reward_model"] is None:
        return {"page": "rate", "text": f"Rate answers: {ENOUGH_PAIRS - s['pairs']} more comparisons before a "
                                        "reward model can learn your taste."}
    reward = s["reward_model"]
    if reward is None:
        return {"page": "reward", "text": "Train a reward model from your ratings (about a minute)."}
    if s["pairs"] - reward["pairs"] >= STALE_AFTER:
        return {"page": "reward", "text": f"{s['pairs'] - reward['pairs']} ratings are new since the reward model "
                                          "was trained: train it again so it learns them."}
    interrupted = [r for r in s["runs"] if r["status"] in ("running", "cancelled", "failed", "paused", "created")]
    if interrupted:
        return {"page": "train", "text": f"Run “{interrupted[0]['name']}” stopped after iteration "
                                         f"{interrupted[0]['done']}: resume it on the Train page."}
    if not any(r["status"] == "finished" for r in s["runs"]):
        return {"page": "train", "text": "Tune the model with SuperHF against your reward model."}
    if not s["exports"]:
        return {"page": "compare", "text": "Compare the tuned model's answers with the original's, then export it."}
    return {"page": "export", "text": "Your tuned model is exported. Rate more answers to tune it further."}
