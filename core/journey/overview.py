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
from core.store.ratings import count_judgements, count_ratings
from core.store.reward_models import latest_reward_model
from core.store.runs import last_iterations, newest_runs

ENOUGH_PAIRS = MIN_PAIRS_FOR_ACCURACY  # ratings with a winner before a reward model is worth training
STALE_AFTER = 20  # new ratings after which the reward model should learn them


def overview(store: Store) -> dict:
    models = base_models(store)
    splits = split_counts(store)
    judgements = count_judgements(store)  # pairs with a winner and 1-5 scores
    reward = latest_reward_model(store)
    judged = verdict(reward) if reward else None
    data = json.loads(reward["data"]) if reward else {}
    done = last_iterations(store)
    run_rows = []
    for r in newest_runs(store):
        run_rows.append({"name": r["name"], "status": r["status"], "done": done.get(r["id"], 0),
                         "iterations": json.loads(r["config"]).get("iterations")})
    state = {
        "models": models, "train_prompts": splits.get("train", 0), "eval_prompts": splits.get("eval", 0),
        "answers": count_generations(store), "ratings": count_ratings(store), "judgements": judgements,
        "reward_model": ({"name": reward["name"], "version": reward["version"], "accuracy": reward["accuracy"],
                          "pairs": data.get("pairs", 0),
                          "new_ratings": _new_ratings(store, data, judgements), "verdict": judged["message"], "advice": judged["advice"],
                          "better_than_chance": judged["better_than_chance"],
                          "more_ratings": judged["more_ratings"]} if reward else None),
        "runs": run_rows, "exports": count_exports(store),
    }
    state["next"] = next_step(state)
    state["goal"] = rating_goal(state)
    return state


def _new_ratings(store: Store, data: dict, judgements: int) -> int:
    """Ratings with a winner or a score given since a reward model was trained (those after
    the newest it learnt from; for one that did not record them, by the count of its pairs)."""
    learnt = data.get("ratings")
    if isinstance(learnt, list) and learnt:
        return count_judgements(store, after_id=max(learnt))
    return max(0, judgements - data.get("pairs", 0))


def rating_goal(s: dict) -> dict:
    """{"done", "target", "text"}: progress towards the next reward model worth training, as
    the Rate page shows it ("12 of about 40 ...")."""
    reward = s["reward_model"]
    if reward is None:
        done, target = s["judgements"], ENOUGH_PAIRS
        text = f"{min(done, target)} of {target} ratings before a first reward model can learn your taste"
    else:
        done = reward["new_ratings"]
        if not reward["better_than_chance"] and reward["more_ratings"]:
            target = reward["more_ratings"]
            text = (f"{min(done, target)} of about {target} more ratings the reward model needs "
                    "to tell your taste from chance")
        else:
            target = STALE_AFTER
            text = f"{min(done, target)} of {target} new ratings before training the reward model again is worth it"
    if done >= target:
        text += ": enough, train it on the Reward page (you can keep rating)"
    return {"done": done, "target": target, "text": text + "."}


def next_step(s: dict) -> dict:
    """{"page", "text"}: the one thing to do next, in plain words."""
    if not s["models"]:
        return {"page": "model", "text": "Choose a model to start from: the built-in starter model works offline."}
    if not s["train_prompts"]:
        return {"page": "prompts", "text": "Add the prompts your model should answer well (or use the starter prompts)."}
    if s["judgements"] < ENOUGH_PAIRS and s["reward_model"] is None:
        return {"page": "rate", "text": f"Rate answers: {ENOUGH_PAIRS - s['judgements']} more ratings before a "
                                        "reward model can learn your taste."}
    reward = s["reward_model"]
    if reward is None:
        return {"page": "reward", "text": "Train a reward model from your ratings (about a minute)."}
    if reward["new_ratings"] >= STALE_AFTER:
        return {"page": "reward", "text": f"{reward['new_ratings']} ratings are new since the reward model "
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
