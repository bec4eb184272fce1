"""``superhf bench compare``: SuperHF against the baselines the paper used, on the starter
model, with one shared reward model and an equal wall-clock budget per method.

* SuperHF: the default settings, iterations until the budget is spent.
* Best-of-N: no training; at inference each answer is the reward model's pick of N samples,
  N being SuperHF's superbatch (the same sampling per answer SuperHF spends in training).
* FeedME: supervised fine-tuning (LoRA, cross-entropy only) on the chosen answers of the
  ratings, epochs until the budget is spent.

The person is ``SimulatedRater`` (core.bench_reward): its ratings train the reward model,
and its own utility judges the held-out answers, which no method ever trained on. Every
method is run for each seed; the table gives the mean and the spread (standard deviation)
over seeds. TRL's RLOO and the sweeps of the paper's ablations are not in it yet.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from core.bench import _model_name, _starter_prompts
from core.bench_reward import SimulatedRater
from core.bench_superhf import _judge, seed_workspace, simulated_ratings
from core.errors import Cancelled
from core.progress import CancelToken
from core.store import Store, open_store
from core.superhf import _mean
from core.superhf import _std as _spread
from core.superhf_config import SuperHFConfig

METHODS = ("superhf", "best_of_n", "feedme")
METRICS = ("utility", "reward", "kl", "distinct_2", "self_bleu", "mean_words")


def _timer(seconds: float) -> CancelToken:
    token = CancelToken()
    timer = threading.Timer(seconds, token.cancel)
    timer.daemon = True  # never keeps the process alive
    timer.start()
    return token


def _superhf(scratch: Store, model_row: dict, reward: dict, set_id: int, seed: int, budget: float, device):
    from core.policy import build_policy
    from core.runs import create_run, last_checkpoint
    from core.superhf import run_superhf

    config = SuperHFConfig(iterations=1000, eval_prompts=0, seed=seed)
    run = create_run(scratch, name=f"superhf-{seed}", model_id=model_row["id"], reward_model_id=reward["id"],
                     prompt_set_id=set_id, config=config.to_dict())
    try:
        run_superhf(scratch, run["name"], device=device, cancel=_timer(budget))
    except Cancelled:
        pass  # the budget is spent: the last finished iteration is the result
    checkpoint = last_checkpoint(scratch, run["id"])
    done = checkpoint["iteration"] if checkpoint else 0
    return build_policy(Path(model_row["path"]), config, device=device,
                        checkpoint=Path(checkpoint["path"]) if checkpoint else None), {"iterations": done}


def _feedme(scratch: Store, model_row: dict, seed: int, budget: float, device):
    """LoRA on the chosen answers: SuperHF's update with the KL term off and human picks in
    place of the reward model's."""
    import random

    import torch
    from transformers import get_constant_schedule

    from core.generation import Completion
    from core.policy import build_policy
    from core.superhf_step import MicroBatch, optimise_step

    deadline = time.perf_counter() + budget  # loading counts, as it does for SuperHF
    config = SuperHFConfig(kl_coefficient=0.0, seed=seed)
    policy = build_policy(Path(model_row["path"]), config, device=device)
    chosen = [Completion(0, r["prompt"], r["chosen"], True, 0) for r in scratch.all(
        "SELECT prompt, chosen FROM ratings WHERE kind = 'pair' AND outcome = 'chosen'")]
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate, weight_decay=0.0)
    scheduler, micro, rng = get_constant_schedule(optimizer), MicroBatch(config.minibatch_size), random.Random(seed)
    torch.manual_seed(seed)
    steps, epochs = 0, 0
    policy.model.train()
    while time.perf_counter() < deadline:
        rng.shuffle(chosen)
        for start in range(0, len(chosen), config.minibatch_size):
            if time.perf_counter() >= deadline:
                break
            optimise_step(policy, chosen[start:start + config.minibatch_size], config, optimizer, scheduler, micro)
            steps += 1
        epochs += 1
    policy.model.eval()
    return policy, {"steps": steps, "epochs": epochs}


def _best_of_n(policy_lm, scorer, rater, prompts: list[str], n: int, per_prompt: int, seed: int) -> dict:
    """Each of ``per_prompt`` answers is the reward model's best of ``n`` fresh samples."""
    from core.generation import SamplingSettings, sample
    from core.metrics import distinct_n, self_bleu

    picks: dict[int, list[tuple[str, float]]] = {}
    answers = sample(policy_lm, prompts, n * per_prompt, SamplingSettings(max_new_tokens=64, seed=seed))
    rewards = scorer.score([a.prompt for a in answers], [a.text for a in answers])
    for k in range(0, len(answers), n):
        group = list(zip(answers[k:k + n], rewards[k:k + n]))
        best, reward = max(group, key=lambda g: g[1])
        picks.setdefault(best.prompt_index, []).append((best.text, reward))
    texts = [t for v in picks.values() for t, _ in v]
    return {"utility": _mean([rater.utility(t) for t in texts]), "reward": _mean([r for v in picks.values() for _, r in v]),
            "kl": math.log(n) - (n - 1) / n,  # the known bound on best-of-n's KL to the base model
            "distinct_2": _mean([distinct_n([t for t, _ in v]) for v in picks.values()]),
            "self_bleu": _mean([self_bleu([t for t, _ in v]) for v in picks.values()]),
            "mean_words": _mean([len(t.split()) for t in texts])}


def _kl_to_base(policy, prompts: list[str], seed: int) -> float:
    """Mean per-token KL(policy || base) on the policy's own answers to ``prompts``."""
    import torch

    from core.generation import SamplingSettings, format_prompt, sample
    from core.superhf_loss import build_batch

    if not hasattr(policy.model, "disable_adapter"):
        return 0.0
    tok = policy.lm.tokenizer
    answers = sample(policy.lm, prompts, 1, SamplingSettings(max_new_tokens=64, seed=seed))
    batch = build_batch(tok([format_prompt(tok, a.prompt) for a in answers], add_special_tokens=False)["input_ids"],
                        tok([a.text for a in answers], add_special_tokens=False)["input_ids"],
                        tok.eos_token_id, tok.pad_token_id).to(policy.lm.device)
    with torch.no_grad():
        log_p = torch.log_softmax(policy.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
                                  .logits[:, :-1].float(), -1)
        log_q = torch.log_softmax(policy.reference_logits(batch)[:, :-1].float(), -1)
    mask = batch.completion_mask[:, 1:].float()
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return float((kl * mask).sum() / mask.sum().clamp(min=1))


def bench_compare(store: Store, *, model: Optional[str] = None, seeds: int = 3, budget: float = 150.0,
                  ratings: int = 200, per_prompt: int = 4, out: Optional[Path] = None, device: Optional[str] = None,
                  on_progress=None, say: Callable[[str], None] = print) -> dict:
    from core.policy import build_policy
    from core.reward import RewardScorer

    name = _model_name(store, model, say)
    prompts = list(dict.fromkeys(_starter_prompts(40)))
    train_prompts, held_out = prompts[1::2], prompts[::2]
    rows = simulated_ratings(store, name, train_prompts, ratings, on_progress)
    rater, n = SimulatedRater(), SuperHFConfig().superbatch_size
    results: dict[str, list[dict]] = {m: [] for m in (*METHODS, "base")}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as home:
        with open_store(home) as scratch:
            model_row, reward, set_id = seed_workspace(scratch, store.model(name)["path"], name, rows, train_prompts)
            say(f"Shared reward model from {len(rows)} simulated ratings: held-out accuracy {reward['accuracy']:.1%}. "
                f"Budget {budget:.0f} s per method and seed; {len(held_out)} held-out prompts x {per_prompt}.")
            scorer = RewardScorer(scratch.one("SELECT * FROM reward_models WHERE id = ?", [reward["id"]]), device)
            base = build_policy(Path(model_row["path"]), SuperHFConfig(), device=device)
            for seed in range(seeds):
                judged = _judge(base.lm, scorer, rater, held_out, per_prompt, seed=100 + seed)
                results["base"].append({**judged, "kl": 0.0, "seconds": 0.0})
                started = time.perf_counter()
                bon = _best_of_n(base.lm, scorer, rater, held_out, n, per_prompt, seed=100 + seed)
                results["best_of_n"].append({**bon, "seconds": time.perf_counter() - started, "n": n})
                for method, train in (("superhf", lambda: _superhf(scratch, model_row, reward, set_id, seed, budget,
                                                                   device)),
                                      ("feedme", lambda: _feedme(scratch, model_row, seed, budget, device))):
                    started = time.perf_counter()
                    policy, info = train()
                    seconds = time.perf_counter() - started
                    judged = _judge(policy.lm, scorer, rater, held_out, per_prompt, seed=100 + seed)
                    results[method].append({**judged, "kl": _kl_to_base(policy, held_out, seed), "seconds": seconds,
                                            **info})
                    del policy
                say(f"seed {seed}: " + ", ".join(f"{m} utility {results[m][-1]['utility']:.3f}"
                                                  for m in ("base", *METHODS)))
    table = {m: {k: {"mean": _mean(r[k] for r in runs), "spread": _spread(r[k] for r in runs)}
                 for k in (*METRICS, "seconds")} for m, runs in results.items()}
    report = _markdown(name, table, results, budget, seeds, len(rows), reward["accuracy"], n)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(report)
        (out / "compare.json").write_text(json.dumps({"table": table, "runs": _plain(results)}, indent=2))
        say(f"Report written to {out / 'compare.md'}.")
    say(report)
    return {"model": name, "budget_seconds": budget, "seeds": seeds, "ratings": len(rows),
            "reward_accuracy": reward["accuracy"], "table": table}


def _plain(results: dict) -> dict:
    return {m: [{k: v for k, v in r.items() if k != "per_prompt"} for r in runs] for m, runs in results.items()}


def _markdown(model: str, table: dict, results: dict, budget: float, seeds: int, ratings: int, accuracy: float, n: int) -> str:
    head = ("| method | rater utility | reward-model reward | KL to base | distinct-2 | self-BLEU | words | seconds |\n"
            "|---|---|---|---|---|---|---|---|\n")
    names = {"base": "base model", "superhf": "SuperHF", "best_of_n": f"best-of-{n} (inference)",
             "feedme": "FeedME (SFT on chosen)"}
    lines = []
    for m in ("base", *METHODS):
        t = table[m]
        lines.append(f"| {names[m]} | " + " | ".join(f"{t[k]['mean']:.3f} ± {t[k]['spread']:.3f}"
                                                      for k in (*METRICS, "seconds")) + " |")
    extra = [f"SuperHF iterations per seed: {[r.get('iterations') for r in results['superhf']]}",
             f"FeedME optimiser steps per seed: {[r.get('steps') for r in results['feedme']]}"]
    return (f"# SuperHF against its baselines\n\nModel {model}; a shared reward model from {ratings} simulated ratings "
            f"(held-out accuracy {accuracy:.1%}); training budget {budget:.0f} s of wall-clock per method and seed; "
            f"{seeds} seeds (mean ± standard deviation over seeds). Best-of-N trains nothing and spends its budget at "
            f"inference (its KL is the bound log N - (N-1)/N).\n\n" + head + "\n".join(lines) + "\n\n"
            + "\n".join(f"- {e}" for e in extra) + "\n")
