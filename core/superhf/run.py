"""A stored SuperHF run: load its model, reward model and prompts, drive the loop of
``core.superhf.loop`` from the last finished iteration, record each iteration, save and prune
checkpoints, and mark the run's status; in one process or several (``accelerate``)."""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import torch

from core.errors import Cancelled, InputError
from core.progress import CancelToken, ProgressCallback, report
from core.store import models as stored_models
from core.store.database import Store
from core.store.prompts import prompt_texts
from core.store.reward_models import reward_model_row
from core.store.runs import (get_run, iteration_metrics, iterations, last_checkpoint, record_iteration, run_lock,
                             set_status)
from core.superhf.checkpoint import load_trainer_state, prune_checkpoints, save_checkpoint
from core.superhf.config import SuperHFConfig
from core.superhf.distributed import Processes, combine_metrics, make_accelerator
from core.superhf.head_start import head_start
from core.superhf.loop import RewardFn, evaluate, iteration_prompts, superhf_iteration, warnings
from core.superhf.memory import check_memory
from core.superhf.policy import Policy, build_policy


def run_superhf(store: Store, run_name: str, *, reward_fn: Optional[RewardFn] = None, device: Optional[str] = None,
                on_progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> dict:
    """Run (or resume) a stored run from its last completed iteration to its last one."""
    run = get_run(store, run_name)
    accelerator = make_accelerator(device)  # None in one process
    main = accelerator is None or accelerator.is_main_process
    with run_lock(store, run["name"]) if main else nullcontext():  # one process trains a run at a time
        return _train(store, run, accelerator, device, reward_fn, on_progress, cancel or CancelToken())


def _train(store: Store, run: dict, accelerator, device: Optional[str], reward_fn: Optional[RewardFn],
           on_progress: Optional[ProgressCallback], cancel: CancelToken) -> dict:
    """Every process runs this; they meet at the points ``Processes`` names (each optimiser
    step, each round's end), where a failure on any one stops them all with its message."""
    config = SuperHFConfig.from_dict(json.loads(run["config"]))
    budget = TimeBudget(config.minutes, iterations(store, run["id"]))  # loading counts: the user waits for it too
    train_prompts, eval_prompts = _prompts(store, run, config)
    processes = Processes.of(accelerator)
    main, rank, world = processes.main, processes.rank, processes.world
    checkpoint = last_checkpoint(store, run["id"])  # read under the lock: no other process is adding to it
    start = checkpoint["iteration"] + 1 if checkpoint else 1
    model_row = stored_models.model_row(store, run["model_id"])
    if config.prompts_per_iteration % world:
        raise InputError(f"{world} processes need prompts per iteration divisible by {world}, "
                         f"not {config.prompts_per_iteration}.")
    device = str(accelerator.device) if accelerator is not None else device
    reward_row = (reward_model_row(store, run["reward_model_id"]) if reward_fn is None and run["reward_model_id"]
                  else None)
    plan = check_memory(model_row, config, device, reward_row)  # refuses before loading anything that cannot fit
    horizon = [config.iterations * steps_per_iteration(config, world)]  # with --minutes, re-planned each round

    def load():
        policy = build_policy(Path(model_row["path"]), config, device=device, name=model_row["name"],
                              checkpoint=Path(checkpoint["path"]) if checkpoint else None, plan=plan)
        optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate, weight_decay=0.0)
        scheduler = schedule(optimizer, config.warmup_steps, horizon)
        if checkpoint:
            load_trainer_state(Path(checkpoint["path"]), optimizer, scheduler)
        return policy, optimizer, scheduler, reward_fn or _stored_reward(store, run, device, cancel)

    (policy, optimizer, scheduler, reward_fn), _ = processes.together(load)  # one failing to load stops all
    processes.same_parameters(policy.trainable_parameters())
    if main:
        set_status(store, run["id"], "running")
    try:
        def evaluate_base() -> None:  # on the main process, once
            if not iterations(store, run["id"]):
                base = {"eval_reward": evaluate(policy, reward_fn, eval_prompts, config, cancel)}
                record_iteration(store, run["id"], 0, base, None)

        if start == 1:
            processes.from_main(evaluate_base)
        if start == 1 and config.head_start:  # every process, on its share of the stored answers
            started, shares = processes.together(lambda: head_start(
                store, policy, reward_fn, train_prompts, run["model_id"], config, optimizer, on_progress=on_progress,
                cancel=cancel, processes=processes), lambda started: started)
            if started:
                started = combine_metrics(shares)
                processes.from_main(lambda: record_iteration(
                    store, run["id"], 0, {**(iteration_metrics(store, run["id"], 0) or {}), **started}, None))
        first_distinct = _first(store, run["id"], "distinct_2")
        for iteration in range(start, config.iterations + 1):
            # each process has its own clock: the main one's decides, so that they stop together
            go, planned = processes.from_main(lambda: (budget.another_fits(),
                                                       budget.planned(iteration - 1, config.iterations)))
            if not go:
                break  # the next round would end past the time given: the run is done
            horizon[0] = planned * steps_per_iteration(config, world)
            round_started = time.monotonic()
            report(on_progress, "iteration", iteration - 1, planned)
            prompts = iteration_prompts(train_prompts, config, iteration)[rank::world]  # each its share
            metrics, shares = processes.together(lambda: superhf_iteration(
                policy, reward_fn, prompts, config, optimizer, scheduler, iteration, on_progress=on_progress,
                cancel=cancel, processes=processes), lambda metrics: metrics)
            if world > 1:
                metrics = {**combine_metrics(shares), "processes": world}

            def finish_round() -> None:  # on the main process: evaluate, save, record
                nonlocal first_distinct
                report(on_progress, "evaluating", iteration, planned)
                metrics["eval_reward"] = evaluate(policy, reward_fn, eval_prompts, config, cancel)
                if first_distinct is None:
                    first_distinct = metrics["distinct_2"]
                metrics["warnings"] = metrics.pop("notes") + warnings(metrics, first_distinct)
                report(on_progress, "saving checkpoint", iteration, planned)
                metrics["elapsed_seconds"] = budget.elapsed()
                path = save_checkpoint(store, run["name"], iteration, policy, optimizer, scheduler,
                                       {"run": run["name"], "metrics": metrics})
                record_iteration(store, run["id"], iteration, metrics, str(path))
                prune_checkpoints(store, run["id"], config.keep_checkpoints)
                budget.round_took(time.monotonic() - round_started)
                report(on_progress, "iteration", iteration, budget.planned(iteration, config.iterations),
                       metrics=metrics)

            processes.from_main(finish_round)  # the others wait here, and learn if it failed
    except (Cancelled, KeyboardInterrupt) as e:  # stopped by the user: resume continues from the last checkpoint
        if main:
            set_status(store, run["id"], "cancelled")
        processes.after_failure(e)
        raise
    except BaseException as e:
        if main:
            set_status(store, run["id"], "failed", str(e) or type(e).__name__)
        processes.after_failure(e)  # the others wait for that record before they exit
        raise
    if main:
        set_status(store, run["id"], "finished")
    return {"run": run["name"], "iterations": iterations(store, run["id"])}


def steps_per_iteration(config: SuperHFConfig, world: int = 1) -> int:
    """Optimiser steps one process plans for a round: its share of the prompts, one kept answer
    each at most, ``minibatch_size`` per step, ``epochs`` passes. Every process takes the same
    number of steps (the most any needs), so this is each one's schedule horizon per round."""
    return config.epochs * math.ceil(config.prompts_per_iteration // world / config.minibatch_size)


def _stored_reward(store: Store, run: dict, device: Optional[str], cancel: CancelToken) -> RewardFn:
    """The run's reward model as a scoring function."""
    from core.reward.versions import RewardScorer

    if run["reward_model_id"] is None:
        raise InputError(f"Run '{run['name']}' has no reward model. Start a new run with --reward.")
    scorer = RewardScorer(reward_model_row(store, run["reward_model_id"]), device)

    def score(prompts, completions):  # a stop asked for while scoring ends the scoring too
        return scorer.score(prompts, completions, cancel=cancel)
    return score


def schedule(optimizer, warmup: int, horizon: list[int]) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to zero at step ``horizon[0]``, read at every step (a
    run with a time budget re-plans it as it learns how long a round takes). Unlike the usual
    warm-up, the first step already learns (1 / (warmup + 1) of the rate, not 0): runs here
    are short, and a step at rate 0 is a sampling round thrown away."""
    def factor(step: int) -> float:
        total = max(1, horizon[0])
        warm = min(1.0, (step + 1) / (warmup + 1))
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class TimeBudget:
    """``--minutes``: rounds go on while the next is expected to end within the time given. The
    clock counts loading, evaluation and checkpoints, and earlier sessions of a resumed run (each
    recorded iteration carries the run's elapsed seconds). Without minutes, it never stops a run."""

    def __init__(self, minutes: Optional[float], recorded: list[dict]):
        self.seconds = minutes * 60 if minutes else None
        done = [r for r in recorded if r.get("iteration", 0) > 0 and r.get("elapsed_seconds") is not None]
        self.used = max((r["elapsed_seconds"] for r in done), default=0.0)
        self.earlier = self.used / len(done) if done else None  # a round's seconds in earlier sessions
        self.started = time.monotonic()
        self.rounds: list[float] = []

    def elapsed(self) -> float:
        return self.used + time.monotonic() - self.started

    def round_took(self, seconds: float) -> None:
        self.rounds.append(seconds)

    def per_round(self) -> Optional[float]:
        return sum(self.rounds) / len(self.rounds) if self.rounds else self.earlier

    def another_fits(self) -> bool:
        if self.seconds is None:
            return True
        per = self.per_round()
        return self.elapsed() + (per or 0.0) <= self.seconds  # the first round runs if any time is left

    def planned(self, done: int, cap: int) -> int:
        """The rounds the run will have made when the time is up (at most ``cap``)."""
        per = self.per_round()
        if self.seconds is None or per is None:
            return cap
        return max(done, min(cap, done + int(max(0.0, self.seconds - self.elapsed()) // per)))


def run_policy(store: Store, run: dict, *, device: Optional[str] = None, base: bool = False,
               required: str = "") -> tuple[Policy, SuperHFConfig, Optional[dict]]:
    """A stored run's policy as its last checkpoint left it (``base``: as it started), with the
    run's settings and that checkpoint. ``required``: the error's text when there is none yet
    (without it, a run with no checkpoint gives the base model)."""
    config = SuperHFConfig.from_dict(json.loads(run["config"]))
    checkpoint = last_checkpoint(store, run["id"])
    if checkpoint is None and required:
        raise InputError(required)
    model = stored_models.model_row(store, run["model_id"])
    path = None if base or checkpoint is None else Path(checkpoint["path"])
    policy = build_policy(Path(model["path"]), config, device=device, checkpoint=path, name=model["name"])
    return policy, config, checkpoint


def _prompts(store: Store, run: dict, config: SuperHFConfig) -> tuple[list[str], list[str]]:
    rows = prompt_texts(store, run["prompt_set_id"])
    train = [r["text"] for r in rows if r["split"] == "train"]
    if not train:
        raise InputError("The run's prompt set has no training prompts. Import some with --split train.")
    evals = [r["text"] for r in rows if r["split"] == "eval"][:config.eval_prompts]
    return train, evals


def _first(store: Store, run_id: int, key: str):
    return (iteration_metrics(store, run_id, 1) or {}).get(key)
