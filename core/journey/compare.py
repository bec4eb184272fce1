"""Compare a run's tuned model with the model it started from: one answer of each to the
evaluation prompts, shown blind (sides shuffled), judged by the person. The judgements are
stored as ordinary ratings too, so the next reward model learns from them."""

from __future__ import annotations

import math
import random
from typing import Optional

from core.errors import InputError, NotFoundError
from core.sampling.generation import SamplingSettings, sample
from core.progress import CancelToken, ProgressCallback, report
from core.store.comparisons import (
    add_comparisons,
    answered_comparison,
    choice_counts,
    clear_choice,
    comparison_row,
    open_comparison_rows,
    record_choice,
)
from core.reward.pairs import COMPARE_SOURCE
from core.reward.verdict import wilson
from core.store.database import Store, now
from core.store.prompts import prompt_texts
from core.store.ratings import add_ratings, delete_rating, pair, rating_id
from core.store.runs import get_run, last_checkpoint

CHOICES = ("left", "right", "tie", "skip")


def prepare_comparison(store: Store, run_name: str, n_prompts: int = 16, *, seed: int = 0,
                       device: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
                       cancel: Optional[CancelToken] = None) -> list[dict]:
    """Answer up to ``n_prompts`` evaluation prompts (training prompts when the set has no
    evaluation ones) with the base and the tuned model; store the blind pairs."""
    from core.superhf.run import run_policy

    run = get_run(store, run_name)
    checkpoint = last_checkpoint(store, run["id"])
    if checkpoint is None:
        raise InputError(f"Run '{run_name}' has no finished iteration yet: train it first.")
    prompts = [r["text"] for r in prompt_texts(store, run["prompt_set_id"], "eval")]
    prompts = prompts or [r["text"] for r in prompt_texts(store, run["prompt_set_id"])]
    prompts = prompts[:n_prompts]
    if not prompts:
        raise NotFoundError(f"Run '{run_name}' has no prompts to compare on.")
    answers = {}
    for side in ("base", "tuned"):
        report(on_progress, f"answering with the {side} model", 0, len(prompts))
        policy, config, _ = run_policy(store, run, device=device, base=side == "base")
        settings = SamplingSettings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                    top_p=config.top_p, seed=seed)
        answers[side] = [c.text for c in sample(policy.lm, prompts, 1, settings, on_progress=on_progress,
                                                cancel=cancel)]
        del policy
    rng = random.Random(f"{run_name}:{seed}")
    stamp = now()
    add_comparisons(store, [{"run_id": run["id"], "iteration": checkpoint["iteration"], "prompt": prompt,
                             "base": base, "tuned": tuned, "tuned_on_left": int(rng.random() < 0.5),
                             "created_at": stamp}
                            for prompt, base, tuned in zip(prompts, answers["base"], answers["tuned"])])
    return open_comparisons(store, run_name)


def open_comparisons(store: Store, run_name: str) -> list[dict]:
    """Unanswered pairs of the run, as the person sees them: left and right, not which is which."""
    run = get_run(store, run_name)
    rows = open_comparison_rows(store, run["id"])
    return [{"id": r["id"], "prompt": r["prompt"], "left": r["tuned"] if r["tuned_on_left"] else r["base"],
             "right": r["base"] if r["tuned_on_left"] else r["tuned"]} for r in rows]


def answer_comparison(store: Store, comparison_id: int, choice: str) -> dict:
    if choice not in CHOICES:
        raise InputError(f"The answer must be one of {', '.join(CHOICES)}, not '{choice}'.")
    row = comparison_row(store, comparison_id)
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
    with store.transaction():  # the rating and the answered comparison, together
        add_ratings(store, [rating], source=COMPARE_SOURCE)  # never trains a reward model
        record_choice(store, comparison_id, winner, rating_id(store, rating))
    return {"comparison": comparison_id, "choice": winner}


def undo_comparison(store: Store, comparison_id: int) -> None:
    row = answered_comparison(store, comparison_id)
    if row is None:
        raise InputError(f"Comparison {comparison_id} has no answer to take back.")
    with store.transaction():
        clear_choice(store, comparison_id)
        if row["rating_id"] is not None:
            delete_rating(store, row["rating_id"])


def win_verdict(rate: dict) -> str:
    """What a blind comparison's win rate says, in plain words, with what to do next."""
    from core.reward.verdict import pairs_needed

    if not rate["judged"]:
        return "No comparisons judged yet: pick the better answer of each pair, without knowing which model wrote it."
    said = (f"The tuned model won {rate['wins']} and lost {rate['losses']} of {rate['judged']} comparisons"
            + (f" ({rate['ties']} ties)" if rate["ties"] else "") + f": about {rate['low']:.0%}–{rate['high']:.0%} "
            "of answers would go its way.")
    if rate["low"] > 0.5:
        return said + " You prefer it on prompts it never trained on: export it (page 7)."
    if rate["high"] < 0.5:
        return said + (" You prefer the original: the tuning moved away from your taste. Rate more answers (the "
                       "reward model's disagreements first), train the reward model again, and run again.")
    needed = pairs_needed(max(rate["rate"], 1 - rate["rate"]))
    more = f" About {needed - rate['judged']} more judgements would tell a difference this size." \
        if needed and needed - rate["judged"] <= 200 else ""
    return said + " No clear difference yet." + more


def win_rate(store: Store, run_name: str) -> dict:
    """How often the tuned answer won; a tie counts half. ``se`` is the standard error of the
    rate, ``low``/``high`` a 95% Wilson interval."""
    run = get_run(store, run_name)
    counts = choice_counts(store, run["id"])
    wins, losses, ties = counts.get("tuned", 0), counts.get("base", 0), counts.get("tie", 0)
    n = wins + losses + ties
    if n == 0:
        return {"judged": 0, "wins": 0, "losses": 0, "ties": 0, "skipped": counts.get("skip", 0), "rate": None}
    rate = (wins + ties / 2) / n
    low, high = wilson(wins + ties / 2, n)
    return {"judged": n, "wins": wins, "losses": losses, "ties": ties, "skipped": counts.get("skip", 0),
            "rate": rate, "se": math.sqrt(rate * (1 - rate) / n), "low": low, "high": high}
