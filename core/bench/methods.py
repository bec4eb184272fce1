"""The methods ``superhf bench compare`` puts side by side, each given a wall-clock budget and
each recording a reward curve: the mean reward-model score of the policy's fresh samples on
training prompts, at the moment they were drawn, against seconds since the method started.

* SuperHF: our loop at its default settings, iterations until the budget is spent (its
  curve: each iteration's superbatch, drawn before that iteration's update).

* FeedME: supervised fine-tuning (LoRA, cross-entropy only) on the chosen answers of the
  ratings, epochs until the budget is spent (its curve: probes of 16 prompts x 2 answers, the
  probes' own time not charged to the budget).
* Best-of-N: no training; each held-out answer is the reward model's pick of N samples.
TRL's RLOO lives in core.bench.rloo.

Every method finishes its first update (SuperHF its first iteration, FeedME its first step,
RLOO its first step) even when loading alone spends the budget, as on a slow or busy machine:
a method that never updates would leave nothing to compare. The time it took is reported."""

from __future__ import annotations

import math
import random
import threading
import time
from pathlib import Path
from typing import Optional

from core.bench.rater import SimulatedRater
from core.errors import Cancelled, InputError
from core.progress import CancelToken, Progress
from core.store.database import Store
from core.store.ratings import chosen_pairs
from core.metrics import mean as _mean
from core.superhf.config import SuperHFConfig

PROBE_PROMPTS, PROBE_ANSWERS, PROBES = 16, 2, 4


def timer(seconds: float) -> CancelToken:
    token = CancelToken()
    clock = threading.Timer(seconds, token.cancel)
    clock.daemon = True  # never keeps the process alive
    clock.start()
    return token


class FirstThenBudget(CancelToken):
    """Cancels when ``seconds`` have passed, but never before ``first_done`` was called: the
    budget's end waits for the first iteration."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._lock, self._expired, self._first = threading.Lock(), False, False
        clock = threading.Timer(seconds, self._expire)
        clock.daemon = True  # never keeps the process alive
        clock.start()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            if self._first:
                self.cancel()

    def first_done(self) -> None:
        with self._lock:
            self._first = True
            if self._expired:
                self.cancel()


def run_superhf_method(scratch: Store, model_row: dict, reward: dict, set_id: int, config: SuperHFConfig,
                       name: str, budget: Optional[float], device):
    """SuperHF with ``config``: for ``budget`` seconds (loading included), or, with no budget,
    for ``config.iterations`` iterations. The last finished iteration is the result."""
    from core.store.runs import create_run, iterations
    from core.superhf.run import run_policy, run_superhf

    run = create_run(scratch, name=name, model_id=model_row["id"], reward_model_id=reward["id"],
                     prompt_set_id=set_id, config=config.to_dict())
    started, starts = time.perf_counter(), {}
    cancel = FirstThenBudget(budget) if budget else None

    def on_progress(event: Progress) -> None:
        if event.stage == "iteration":  # iteration done + 1 begins: its samples are drawn now
            starts.setdefault(event.done + 1, time.perf_counter() - started)
            if cancel is not None and event.done >= 1:
                cancel.first_done()

    try:
        run_superhf(scratch, run["name"], device=device, on_progress=on_progress, cancel=cancel)
    except Cancelled:
        pass  # the budget is spent
    seconds = time.perf_counter() - started
    its = [i for i in iterations(scratch, run["id"]) if i["iteration"] > 0]
    curve = [[round(starts[i["iteration"]], 2), i["reward_mean"]] for i in its if i["iteration"] in starts]
    policy, _, _ = run_policy(scratch, run, device=device)
    return policy, {"seconds": seconds, "iterations": len(its), "curve": curve,
                    "samples": sum(i.get("samples", 0) for i in its)}


def _probe(policy, scorer, prompts: list[str], seed: int) -> float:
    from core.sampling.generation import SamplingSettings, sample

    policy.model.eval()
    answers = sample(policy.lm, prompts, PROBE_ANSWERS, SamplingSettings(max_new_tokens=64, seed=seed))
    return _mean(scorer.score([a.prompt for a in answers], [a.text for a in answers]))


def run_feedme(scratch: Store, model_row: dict, scorer, train_prompts: list[str], seed: int, budget: float, device):
    """LoRA on the chosen answers: SuperHF's update with the KL term off and a person's picks
    in place of the reward model's."""
    import torch
    from transformers import get_constant_schedule

    from core.sampling.generation import Completion
    from core.superhf.policy import build_policy
    from core.superhf.step import MicroBatch, optimise_step

    started = time.perf_counter()
    deadline = started + budget  # loading counts, as it does for SuperHF
    config = SuperHFConfig(kl_coefficient=0.0, seed=seed)
    policy = build_policy(Path(model_row["path"]), config, device=device)
    chosen = [Completion(0, r["prompt"], r["chosen"], True, 0) for r in chosen_pairs(scratch)]
    if not chosen:
        raise InputError("FeedME has no chosen answers to learn from: rate some pairs first.")
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate, weight_decay=0.0)
    scheduler, micro, rng = get_constant_schedule(optimizer), MicroBatch(config.minibatch_size), random.Random(seed)
    probe_prompts = random.Random(seed).sample(train_prompts, min(PROBE_PROMPTS, len(train_prompts)))
    torch.manual_seed(seed)
    steps, epochs, curve, next_probe = 0, 0, [], started
    while steps == 0 or time.perf_counter() < deadline:  # the first step even past the budget
        rng.shuffle(chosen)
        for start in range(0, len(chosen), config.minibatch_size):
            now = time.perf_counter()
            if now >= deadline and steps:
                break
            if now >= next_probe:  # the probe's time is not charged to the budget
                curve.append([round(now - started, 2), _probe(policy, scorer, probe_prompts, seed)])
                spent = time.perf_counter() - now
                deadline, started, next_probe = deadline + spent, started + spent, now + spent + budget / PROBES
            policy.model.train()
            optimise_step(policy, chosen[start:start + config.minibatch_size], config, optimizer, scheduler, micro,
                          with_kl=False)  # no reference pass: its KL term is off
            steps += 1
        epochs += 1
    policy.model.eval()
    return policy, {"seconds": time.perf_counter() - started, "steps": steps, "epochs": epochs, "curve": curve}


def best_of_n(policy_lm, scorer, rater: SimulatedRater, prompts: list[str], n: int, per_prompt: int, seed: int) -> dict:
    """Each of ``per_prompt`` answers is the reward model's best of ``n`` fresh samples; the
    curve gives best-of-k for k = 1, 2, 4 ... n from the same samples, against the sampling
    time that k costs."""
    from core.sampling.generation import SamplingSettings, sample
    from core.metrics import distinct_n, self_bleu

    started = time.perf_counter()
    answers = sample(policy_lm, prompts, n * per_prompt, SamplingSettings(max_new_tokens=64, seed=seed))
    rewards = scorer.score([a.prompt for a in answers], [a.text for a in answers])
    seconds = time.perf_counter() - started
    groups = [list(zip(answers[k:k + n], rewards[k:k + n])) for k in range(0, len(answers), n)]

    def picks(k: int):
        return [max(g[:k], key=lambda x: x[1]) for g in groups]

    curve = []
    k = 1
    while k <= n:
        chosen = picks(k)
        curve.append({"n": k, "seconds": round(seconds * k / n, 2), "reward": _mean(r for _, r in chosen),
                      "utility": _mean(rater.utility(a.text) for a, _ in chosen)})
        k *= 2
    by_prompt: dict[int, list[str]] = {}
    for a, _ in picks(n):
        by_prompt.setdefault(a.prompt_index, []).append(a.text)
    texts = [t for v in by_prompt.values() for t in v]
    return {"utility": curve[-1]["utility"], "reward": curve[-1]["reward"],
            "kl": math.log(n) - (n - 1) / n,  # the known bound on best-of-n's KL to the base model
            "distinct_2": _mean(distinct_n(v) for v in by_prompt.values()),
            "self_bleu": _mean(self_bleu(v) for v in by_prompt.values()),
            "mean_words": _mean(len(t.split()) for t in texts), "seconds": seconds, "n": n, "curve_n": curve}


def kl_to_base(policy, prompts: list[str], seed: int) -> float:
    """Mean per-token KL(policy || base) on the policy's own answers to ``prompts``."""
    import torch

    from core.sampling.generation import SamplingSettings, sample
    from core.superhf.loss import batch_logits, targets_and_mask
    from core.superhf.step import completion_batch

    if not hasattr(policy.model, "disable_adapter"):
        return 0.0
    tok = policy.lm.tokenizer
    answers = sample(policy.lm, prompts, 1, SamplingSettings(max_new_tokens=64, seed=seed))
    batch = completion_batch(tok, answers).to(policy.lm.device)  # the sampled tokens, as training sees them
    with torch.no_grad():
        logits = batch_logits(policy.model, batch)
        log_p = torch.log_softmax(logits[:, :-1].float(), -1)
        log_q = torch.log_softmax(policy.reference_logits(batch)[:, :-1].float(), -1)
    mask = targets_and_mask(batch, logits)[1].float()
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return float((kl * mask).sum() / mask.sum().clamp(min=1))
