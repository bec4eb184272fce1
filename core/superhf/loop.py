"""One SuperHF iteration (Mukobi et al., 2023): objects in, metrics out. Nothing here knows
the database, checkpoints or processes; ``core.superhf.run`` drives it for a stored run.

Each iteration, for a batch of training prompts:
  1. sample a superbatch of completions per prompt from the current policy,
  2. score every completion with the reward model,
  3. keep the best completion of each prompt (ranking never crosses prompts),
  4. fine-tune on the kept completions: cross-entropy plus beta * KL(reference || policy),
  5. record metrics (the driver saves a checkpoint and checks whether the user asked to stop).
"""

from __future__ import annotations

import math
import random
import time
from typing import Callable, Optional, Sequence

import torch

from core.errors import InputError
from core.metrics import distinct_n, mean, self_bleu, std
from core.progress import CancelToken, ProgressCallback, report
from core.sampling.generation import Completion, SamplingSettings, sample
from core.superhf.config import SuperHFConfig
from core.superhf.memory import MemoryPlan, start_micro_batch
from core.superhf.distributed import Processes
from core.superhf.policy import Policy
from core.superhf.step import MicroBatch, optimise_step

RewardFn = Callable[[Sequence[str], Sequence[str]], list[float]]  # (prompts, completions) -> rewards
KL_RUNAWAY = 1.0  # nats per token: far from the reference, rewards are likely being hacked
DIVERSITY_FLOOR = 0.5  # distinct-2 below this share of the first iteration's: outputs collapsing


def iteration_prompts(train_prompts: Sequence[str], config: SuperHFConfig, iteration: int) -> list[str]:
    """This iteration's prompts: a seeded draw, the same whenever the iteration is run."""
    rng = random.Random(f"{config.seed}:{iteration}")
    if len(train_prompts) >= config.prompts_per_iteration:
        return rng.sample(list(train_prompts), config.prompts_per_iteration)
    return [rng.choice(list(train_prompts)) for _ in range(config.prompts_per_iteration)]


def best_of_each_prompt(completions: Sequence[Completion], rewards: Sequence[float]) -> dict[int, int]:
    """{prompt index: position of its highest-rewarded completion} (the first of equals);
    ranking never crosses prompts."""
    best: dict[int, int] = {}
    for i, c in enumerate(completions):
        if c.prompt_index not in best or rewards[i] > rewards[best[c.prompt_index]]:
            best[c.prompt_index] = i
    return best


def sampling(config: SuperHFConfig, seed: int, plan: Optional[MemoryPlan] = None) -> SamplingSettings:
    # vLLM can load the current LoRA adapter; a full fine-tune's weights live only in memory.
    # The memory plan's batch, where there is one: it counted the update's memory too.
    return SamplingSettings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                            top_p=config.top_p, seed=seed, backend="auto" if config.lora else "torch",
                            batch_size=plan.sampling_batch if plan is not None else None)


def superhf_iteration(policy: Policy, reward_fn: RewardFn, prompts: Sequence[str], config: SuperHFConfig,
                      optimizer, scheduler, iteration: int, *, on_progress: Optional[ProgressCallback] = None,
                      cancel: Optional[CancelToken] = None, processes: Optional[Processes] = None) -> dict:
    """One iteration on ``prompts`` (this process's share of the iteration's prompts, when there
    are several processes): returns this process's metrics (``combine_metrics`` joins them).

    Several processes take the same number of optimiser steps, the most any of them needs: a
    process that kept fewer answers (some of its prompts got only empty answers) takes part in
    the remaining steps with no answers and no gradient, and the step's gradient is the mean
    of the processes that had answers. Its answers are not reused to fill the steps: repeating
    them would weigh those prompts more than the others' in the same round."""
    cancel = cancel or CancelToken()
    processes = processes or Processes()
    lm = policy.lm
    started = time.perf_counter()
    seed = config.seed * 100_003 + iteration + 7919 * processes.rank  # each process its own samples

    def answer_score_pick():
        # 1. Sample a superbatch of completions per prompt from the current policy.
        policy.model.eval()
        completions = sample(lm, prompts, config.superbatch_size, sampling(config, seed, policy.memory_plan),
                             on_progress=on_progress, cancel=cancel)
        sample_seconds = time.perf_counter() - started
        completions = [c for c in completions if c.text.strip()]  # empty answers teach nothing

        # 2. Score every completion with the reward model.
        cancel.check()
        report(on_progress, "scoring", 0, 1)
        rewards = reward_fn([c.prompt for c in completions], [c.text for c in completions]) if completions else []
        report(on_progress, "scoring", 1, 1)

        # 3. Keep the best completion of each prompt.
        best = best_of_each_prompt(completions, rewards)
        return completions, rewards, sorted(best.values()), sample_seconds

    # Every process learns how many answers each kept (and whether one failed).
    (completions, rewards, best, sample_seconds), counts = processes.together(
        answer_score_pick, lambda picked: len(picked[2]))
    if not sum(counts):
        raise InputError("Every sampled completion was empty: the model ends its turn at once. "
                         "Check the model's chat template, or use another model.")
    kept = [completions[i] for i in best]
    kept_rewards = [rewards[i] for i in best]

    # 4. Fine-tune on the kept completions: CE + beta * KL(reference || policy), `epochs` passes.
    torch.manual_seed(seed)  # dropout and order: the same on resume
    order = [i for _ in range(config.epochs) for i in torch.randperm(len(kept)).tolist()]  # each pass shuffled
    chunks = [[kept[i] for i in order[epoch * len(kept) + start:epoch * len(kept) + start + config.minibatch_size]]
              for epoch in range(config.epochs) for start in range(0, len(kept), config.minibatch_size)]
    steps = max(config.epochs * math.ceil(n / config.minibatch_size) for n in counts)  # the same everywhere
    policy.model.train()
    micro = MicroBatch(start_micro_batch(policy, config, on_progress), processes=processes)  # the memory plan's
    ce_sum = kl_sum = 0.0
    for step in range(steps):
        cancel.check()
        ce, kl = optimise_step(policy, chunks[step] if step < len(chunks) else [], config, optimizer, scheduler, micro)
        ce_sum, kl_sum = ce_sum + ce, kl_sum + kl
        report(on_progress, "updating", step + 1, steps)
    policy.model.eval()
    trained = max(1, len(chunks))  # the steps this process had answers for

    # 5. Metrics of this iteration.
    by_prompt: dict[int, list[str]] = {}
    for c in completions:
        by_prompt.setdefault(c.prompt_index, []).append(c.text)
    tokens = sum(c.new_tokens for c in completions)
    return {
        "reward_mean": mean(rewards), "reward_std": std(rewards),
        "kept_reward_mean": mean(kept_rewards), "kept_reward_std": std(kept_rewards),
        "ce": ce_sum / trained, "kl": kl_sum / trained, "loss": (ce_sum + config.kl_coefficient * kl_sum) / trained,
        "distinct_2": mean([distinct_n(t, 2) for t in by_prompt.values()]),
        "self_bleu": mean([self_bleu(t) for t in by_prompt.values()]),
        "mean_length": tokens / max(1, len(completions)),
        "cut_off_share": sum(not c.finished for c in completions) / max(1, len(completions)),
        "kept_cut_off_share": sum(not c.finished for c in kept) / max(1, len(kept)),
        "samples": len(completions), "kept": len(kept), "sample_tokens_per_second": tokens / max(sample_seconds, 1e-9),
        "seconds": time.perf_counter() - started, "learning_rate": scheduler.get_last_lr()[0],
        "example": {"prompt": kept[0].prompt, "completion": kept[0].text} if kept else None,
        "micro_batch": micro.size, "notes": micro.notes,
    }


def evaluate(policy: Policy, reward_fn: RewardFn, eval_prompts: Sequence[str], config: SuperHFConfig,
             cancel: Optional[CancelToken] = None) -> Optional[float]:
    """Mean reward of one answer per evaluation prompt, always with the same seed."""
    if not eval_prompts:
        return None
    policy.model.eval()
    answers = sample(policy.lm, eval_prompts, 1, sampling(config, config.seed + 7), cancel=cancel)
    return mean(reward_fn([a.prompt for a in answers], [a.text for a in answers]))


def warnings(metrics: dict, first_distinct: float) -> list[str]:
    out = []
    if metrics["kl"] > KL_RUNAWAY:
        out.append(f"KL to the reference is {metrics['kl']:.2f} nats per token: the model is drifting far from "
                   "where it started, a sign of reward hacking. Raise --kl or lower --lr.")
    if first_distinct and metrics["distinct_2"] < DIVERSITY_FLOOR * first_distinct:
        out.append(f"Diversity fell to {metrics['distinct_2']:.2f} distinct-2 from {first_distinct:.2f}: the "
                   "answers are collapsing onto one pattern. Raise --kl.")
    return out
