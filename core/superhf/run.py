"""SuperHF (Mukobi et al., 2023): supervised iterative learning from human feedback.

Each iteration, for a batch of training prompts:
  1. sample a superbatch of completions per prompt from the current policy,
  2. score every completion with the reward model,
  3. keep the best completion of each prompt (ranking never crosses prompts),
  4. fine-tune on the kept completions: cross-entropy plus beta * KL(reference || policy),
  5. record metrics, save a checkpoint, and check whether the user asked to stop.
"""

from __future__ import annotations

import json
import math
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from core.superhf.checkpoint import load_trainer_state, prune_checkpoints, save_checkpoint
from core.superhf.distributed import average_metrics, make_accelerator
from core.errors import Cancelled, InputError
from core.sampling.generation import SamplingSettings, sample
from core.metrics import distinct_n, self_bleu
from core.superhf.policy import Policy, build_policy
from core.progress import CancelToken, ProgressCallback, report
from core.store.runs import get_run, iterations, last_checkpoint, record_iteration, run_lock, set_status
from core.store.database import Store
from core.superhf.config import SuperHFConfig
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


def sampling(config: SuperHFConfig, seed: int) -> SamplingSettings:
    # vLLM can load the current LoRA adapter; a full fine-tune's weights live only in memory.
    return SamplingSettings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                            top_p=config.top_p, seed=seed, backend="auto" if config.lora else "torch")


def superhf_iteration(policy: Policy, reward_fn: RewardFn, prompts: Sequence[str], config: SuperHFConfig,
                      optimizer, scheduler, iteration: int, *, on_progress: Optional[ProgressCallback] = None,
                      cancel: Optional[CancelToken] = None, rank: int = 0) -> dict:
    cancel = cancel or CancelToken()
    lm = policy.lm
    started = time.perf_counter()

    # 1. Sample a superbatch of completions per prompt from the current policy.
    policy.model.eval()
    seed = config.seed * 100_003 + iteration + 7919 * rank  # each process its own samples
    completions = sample(lm, prompts, config.superbatch_size, sampling(config, seed),
                         on_progress=on_progress, cancel=cancel)
    sample_seconds = time.perf_counter() - started
    completions = [c for c in completions if c.text.strip()]  # empty answers teach nothing
    if not completions:
        raise InputError("Every sampled completion was empty: the model ends its turn at once. "
                         "Check the model's chat template, or use another model.")

    # 2. Score every completion with the reward model.
    cancel.check()
    report(on_progress, "scoring", 0, 1)
    rewards = reward_fn([c.prompt for c in completions], [c.text for c in completions])
    report(on_progress, "scoring", 1, 1)

    # 3. Keep the best completion of each prompt.
    best: dict[int, int] = {}
    for i, c in enumerate(completions):
        if c.prompt_index not in best or rewards[i] > rewards[best[c.prompt_index]]:
            best[c.prompt_index] = i
    kept = [completions[i] for i in sorted(best.values())]
    kept_rewards = [rewards[i] for i in sorted(best.values())]

    # 4. Fine-tune on the kept completions: CE + beta * KL(reference || policy).
    torch.manual_seed(seed)  # dropout and order: the same on resume
    order = torch.randperm(len(kept)).tolist()
    policy.model.train()
    micro = MicroBatch(config.minibatch_size)
    ce_sum = kl_sum = 0.0
    steps = 0
    for start in range(0, len(order), config.minibatch_size):
        cancel.check()
        chunk = [kept[i] for i in order[start:start + config.minibatch_size]]
        ce, kl = optimise_step(policy, chunk, config, optimizer, scheduler, micro)
        ce_sum, kl_sum, steps = ce_sum + ce, kl_sum + kl, steps + 1
        report(on_progress, "updating", steps, math.ceil(len(order) / config.minibatch_size))
    policy.model.eval()

    # 5. Metrics of this iteration.
    by_prompt: dict[int, list[str]] = {}
    for c in completions:
        by_prompt.setdefault(c.prompt_index, []).append(c.text)
    tokens = sum(c.new_tokens for c in completions)
    return {
        "reward_mean": _mean(rewards), "reward_std": _std(rewards),
        "kept_reward_mean": _mean(kept_rewards), "kept_reward_std": _std(kept_rewards),
        "ce": ce_sum / steps, "kl": kl_sum / steps, "loss": (ce_sum + config.kl_coefficient * kl_sum) / steps,
        "distinct_2": _mean([distinct_n(t, 2) for t in by_prompt.values()]),
        "self_bleu": _mean([self_bleu(t) for t in by_prompt.values()]),
        "mean_length": tokens / len(completions),
        "cut_off_share": sum(not c.finished for c in completions) / len(completions),
        "samples": len(completions), "sample_tokens_per_second": tokens / max(sample_seconds, 1e-9),
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
    return _mean(reward_fn([a.prompt for a in answers], [a.text for a in answers]))


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
    from transformers import get_cosine_schedule_with_warmup

    config = SuperHFConfig.from_dict(json.loads(run["config"]))
    train_prompts, eval_prompts = _prompts(store, run, config)
    main, rank, world = (True, 0, 1) if accelerator is None else \
        (accelerator.is_main_process, accelerator.process_index, accelerator.num_processes)
    checkpoint = last_checkpoint(store, run["id"])  # read under the lock: no other process is adding to it
    start = checkpoint["iteration"] + 1 if checkpoint else 1
    model_row = store.one("SELECT * FROM models WHERE id = ?", [run["model_id"]])
    if config.prompts_per_iteration % world:
        raise InputError(f"{world} processes need prompts per iteration divisible by {world}, "
                         f"not {config.prompts_per_iteration}.")
    device = str(accelerator.device) if accelerator is not None else device
    check_memory(model_row, config, device)
    policy = build_policy(Path(model_row["path"]), config, device=device, name=model_row["name"],
                          checkpoint=Path(checkpoint["path"]) if checkpoint else None)
    if accelerator is not None:  # gradients averaged across processes on every backward pass
        policy.wrapped = accelerator.prepare_model(policy.model)
    if reward_fn is None:
        from core.reward.versions import RewardScorer

        if run["reward_model_id"] is None:
            raise InputError(f"Run '{run['name']}' has no reward model. Start a new run with --reward.")
        scorer = RewardScorer(store.one("SELECT * FROM reward_models WHERE id = ?", [run["reward_model_id"]]), device)
        def reward_fn(prompts, completions):  # a stop asked for while scoring ends the scoring too
            return scorer.score(prompts, completions, cancel=cancel)
    optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=config.learning_rate, weight_decay=0.0)
    steps_per_iteration = math.ceil(config.prompts_per_iteration / config.minibatch_size)
    scheduler = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.iterations * steps_per_iteration)
    if checkpoint:
        load_trainer_state(Path(checkpoint["path"]), optimizer, scheduler)
    if main:
        set_status(store, run["id"], "running")
    try:
        if main and start == 1 and not iterations(store, run["id"]):
            base = {"eval_reward": evaluate(policy, reward_fn, eval_prompts, config, cancel)}
            record_iteration(store, run["id"], 0, base, None)
        first_distinct = _first(store, run["id"], "distinct_2")
        for iteration in range(start, config.iterations + 1):
            report(on_progress, "iteration", iteration - 1, config.iterations)
            prompts = iteration_prompts(train_prompts, config, iteration)[rank::world]
            metrics = superhf_iteration(policy, reward_fn, prompts, config, optimizer, scheduler, iteration,
                                        on_progress=on_progress, cancel=cancel, rank=rank)
            if accelerator is not None:
                from accelerate.utils import gather_object

                metrics = average_metrics(gather_object([metrics]))
                accelerator.wait_for_everyone()
                if not main:
                    continue  # the main process evaluates, saves and records
            report(on_progress, "evaluating", iteration, config.iterations)
            metrics["eval_reward"] = evaluate(policy, reward_fn, eval_prompts, config, cancel)
            if first_distinct is None:
                first_distinct = metrics["distinct_2"]
            metrics["warnings"] = metrics.pop("notes") + _warnings(metrics, first_distinct)
            report(on_progress, "saving checkpoint", iteration, config.iterations)
            path = save_checkpoint(store, run["name"], iteration, policy, optimizer, scheduler,
                                   {"run": run["name"], "metrics": metrics})
            record_iteration(store, run["id"], iteration, metrics, str(path))
            prune_checkpoints(store, run["id"], config.keep_checkpoints)
            report(on_progress, "iteration", iteration, config.iterations, metrics=metrics)
    except (Cancelled, KeyboardInterrupt):  # stopped by the user: resume continues from the last checkpoint
        if main:
            set_status(store, run["id"], "cancelled")
        raise
    except BaseException as e:
        if main:
            set_status(store, run["id"], "failed", str(e) or type(e).__name__)
        raise
    if accelerator is not None:
        accelerator.wait_for_everyone()
    if main:
        set_status(store, run["id"], "finished")
    return {"run": run["name"], "iterations": iterations(store, run["id"])}


def memory_needed(parameters: int, vocab: int, config: SuperHFConfig) -> int:
    """Bytes a run needs at its peak on a CPU (float32): the policy; with full fine-tuning a
    frozen copy, gradients and two AdamW moments; a bfloat16 copy for sampling; and the logits
    of a micro-batch (policy, reference, their gradient and softmax)."""
    weights = 4 * parameters
    training = weights * 4 if not config.lora else weights // 50  # LoRA: adapters and their state are small
    sampling = 2 * parameters
    tokens = config.minibatch_size * (config.max_new_tokens + 256)  # completion plus a long prompt
    logits = 4 * 4 * tokens * vocab
    return weights + training + sampling + logits


def check_memory(model_row: dict, config: SuperHFConfig, device: Optional[str]) -> None:
    """Refuse, with an estimate, a run that cannot fit in this computer's memory, before
    loading anything (on a GPU, running out of memory halves the micro-batch instead)."""
    from core.models.devices import choose_device
    from core.sampling.decoder import available_memory

    if not model_row.get("parameters") or not choose_device(device).startswith("cpu"):
        return
    config_file = Path(model_row["path"]) / "config.json"
    vocab = json.loads(config_file.read_text()).get("vocab_size", 50_000) if config_file.is_file() else 50_000
    need, free = memory_needed(model_row["parameters"], vocab, config), available_memory("cpu")
    if need > free:
        raise InputError(f"This run needs about {need / 2**30:.1f} GiB of memory and {free / 2**30:.1f} GiB is free. "
                         + ("Drop --full to train LoRA adapters instead, " if not config.lora else "")
                         + "use a smaller model, or close other programs.")


def _prompts(store: Store, run: dict, config: SuperHFConfig) -> tuple[list[str], list[str]]:
    rows = store.all("SELECT text, split FROM prompts WHERE set_id = ? ORDER BY id", [run["prompt_set_id"]])
    train = [r["text"] for r in rows if r["split"] == "train"]
    if not train:
        raise InputError("The run's prompt set has no training prompts. Import some with --split train.")
    evals = [r["text"] for r in rows if r["split"] == "eval"][:config.eval_prompts]
    return train, evals


def _first(store: Store, run_id: int, key: str):
    row = store.one("SELECT metrics FROM iterations WHERE run_id = ? AND iteration = 1", [run_id])
    return json.loads(row["metrics"]).get(key) if row else None


def _warnings(metrics: dict, first_distinct: float) -> list[str]:
    out = []
    if metrics["kl"] > KL_RUNAWAY:
        out.append(f"KL to the reference is {metrics['kl']:.2f} nats per token: the model is drifting far from "
                   "where it started, a sign of reward hacking. Raise --kl or lower --lr.")
    if first_distinct and metrics["distinct_2"] < DIVERSITY_FLOOR * first_distinct:
        out.append(f"Diversity fell to {metrics['distinct_2']:.2f} distinct-2 from {first_distinct:.2f}: the "
                   "answers are collapsing onto one pattern. Raise --kl.")
    return out


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def _std(xs) -> float:
    xs = list(xs)
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
