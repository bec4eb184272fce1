"""``superhf bench compare``: SuperHF against the baselines the paper used, on the starter
model, with one shared reward model and an equal wall-clock budget per method, then the
paper's ablations of SuperHF's own knobs on a reduced budget. The methods are in
core.bench.methods and core.bench.rloo; the report and its charts in core.bench.report.

The person is ``SimulatedRater`` (core.bench.rater): its ratings train the reward model,
and its own utility judges the held-out answers, which no method ever trained on. Every
method runs for every seed; the tables give the mean and the spread (standard deviation)
over seeds. The sweeps run once (seed 0) for a fixed number of iterations each: the paper
ablated at equal training steps, and equal steps keep a cheap superbatch of 1 from winning
on iterations alone."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from core.bench.common import _model_name, _starter_prompts
from core.bench.methods import best_of_n, kl_to_base, run_feedme, run_superhf_method
from core.bench.rater import SimulatedRater
from core.bench.rloo import require_bench_extra, run_rloo
from core.bench.superhf import _judge, seed_workspace, simulated_ratings
from core.store.database import Store, open_store
from core.store.reward_models import reward_model_row
from core.metrics import mean as _mean
from core.metrics import std as _spread
from core.superhf.config import SuperHFConfig

METHODS = ("superhf", "best_of_n", "feedme", "rloo")
METRICS = ("utility", "reward", "kl", "distinct_2", "self_bleu", "mean_words", "seconds")
SUPERBATCHES, KL_COEFFICIENTS = (1, 4, 8, 16), (0.0, 0.1, 0.35)


def _summary(runs: list[dict]) -> dict:
    return {k: {"mean": _mean(r[k] for r in runs), "spread": _spread(r[k] for r in runs)} for k in METRICS}


def _strip(judged: dict) -> dict:
    return {k: v for k, v in judged.items() if k != "per_prompt"}


def bench_compare(store: Store, *, model: Optional[str] = None, seeds: int = 3, budget: float = 120.0,
                  ratings: int = 200, per_prompt: int = 4, sweep_iterations: int = 2, out: Optional[Path] = None,
                  device: Optional[str] = None, on_progress=None, say: Callable[[str], None] = print) -> dict:
    from core.superhf.policy import build_policy
    from core.reward.versions import RewardScorer

    require_bench_extra()
    started = time.perf_counter()
    name = _model_name(store, model, say)
    prompts = list(dict.fromkeys(_starter_prompts(40)))
    train_prompts, held_out = prompts[1::2], prompts[::2]
    rows = simulated_ratings(store, name, train_prompts, ratings, on_progress)
    rater, n = SimulatedRater(), SuperHFConfig().superbatch_size
    results: dict[str, list[dict]] = {m: [] for m in ("base", *METHODS)}
    sweeps: dict[str, list[dict]] = {"superbatch": [], "kl": []}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as home:
        with open_store(home) as scratch:
            model_row, reward, set_id = seed_workspace(scratch, store.model(name)["path"], name, rows, train_prompts)
            say(f"Shared reward model from {len(rows)} simulated ratings: held-out accuracy {reward['accuracy']:.1%}. "
                f"Budget {budget:.0f} s per method and seed; {len(held_out)} held-out prompts x {per_prompt}.")
            scorer = RewardScorer(reward_model_row(scratch, reward["id"]), device)
            base = build_policy(Path(model_row["path"]), SuperHFConfig(), device=device)

            def judged(policy, seed: int, info: dict) -> dict:
                kl = kl_to_base(policy, held_out, seed)
                return {**_strip(_judge(policy.lm, scorer, rater, held_out, per_prompt, seed=100 + seed)),
                        "kl": kl, **info}

            for seed in range(seeds):
                results["base"].append({**_strip(_judge(base.lm, scorer, rater, held_out, per_prompt, 100 + seed)),
                                        "kl": 0.0, "seconds": 0.0})
                results["best_of_n"].append(best_of_n(base.lm, scorer, rater, held_out, n, per_prompt, 100 + seed))
                trainers = {
                    "superhf": lambda seed: run_superhf_method(scratch, model_row, reward, set_id,
                                                               SuperHFConfig(iterations=1000, minutes=None, eval_prompts=0, seed=seed),
                                                               f"superhf-{seed}", budget, device),
                    "feedme": lambda seed: run_feedme(scratch, model_row, scorer, train_prompts, seed, budget, device),
                    "rloo": lambda seed: run_rloo(model_row, scorer, train_prompts, seed, budget, device)}
                for method, train in trainers.items():
                    say(f"seed {seed + 1} of {seeds}: training {method} for {budget:.0f} s...")
                    policy, info = train(seed)
                    results[method].append(judged(policy, seed, info))
                    del policy
                say(f"seed {seed + 1} of {seeds} done: " + ", ".join(f"{m} utility {results[m][-1]['utility']:.3f}"
                                                  for m in ("base", *METHODS)))
            if sweep_iterations:
                for knob, values in (("superbatch", SUPERBATCHES), ("kl", KL_COEFFICIENTS)):
                    for value in values:
                        settings = {"superbatch_size": value} if knob == "superbatch" else {"kl_coefficient": value}
                        config = SuperHFConfig(iterations=sweep_iterations, minutes=None, eval_prompts=0, ablation=True, **settings)
                        shared = [s for s in sweeps["superbatch"] if knob == "kl" and s["value"] == n
                                  and value == SuperHFConfig().kl_coefficient]
                        if shared:  # the default settings: already run in the superbatch sweep
                            sweeps["kl"].append({**shared[0], "value": value})
                            continue
                        say(f"sweep: SuperHF with {knob} {value}, {sweep_iterations} iterations...")
                        policy, info = run_superhf_method(scratch, model_row, reward, set_id, config,
                                                          f"sweep-{knob}-{value}", None, device)
                        sweeps[knob].append({"value": value, **judged(policy, 0, info)})
                        del policy
                        say(f"sweep {knob} {value}: utility {sweeps[knob][-1]['utility']:.3f}, "
                            f"reward {sweeps[knob][-1]['reward']:.3f}, KL {sweeps[knob][-1]['kl']:.4f}")
    table = {m: _summary(runs) for m, runs in results.items()}
    facts = {"model": name, "budget_seconds": budget, "seeds": seeds, "ratings": len(rows), "n": n,
             "reward_accuracy": reward["accuracy"], "held_out_prompts": len(held_out), "answers": per_prompt,
             "sweep_iterations": sweep_iterations, "total_seconds": round(time.perf_counter() - started, 1)}
    from core.bench.report import report

    say(report(out, facts, table, results, sweeps))
    if out is not None:
        say(f"Report written to {out / 'compare.md'}, its charts and figures beside it.")
    return {**facts, "table": table, "sweeps": {k: [_plain(s) for s in v] for k, v in sweeps.items()}}


def _plain(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("curve", "curve_n")}
