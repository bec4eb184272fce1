"""TRL's ``RLOOTrainer`` as a baseline of ``superhf bench compare``, on the same model, prompts
and reward model as SuperHF, within the same wall-clock budget.

TRL is an optional extra for the benchmark alone (``pip install 'superhf-studio[bench]'``):
the app never imports this module, and the bundle leaves TRL out.

What RLOO gets, and why:
* LoRA with SuperHF's settings (r, alpha, dropout, target modules) and its learning rate:
  the same trainable part, so neither method gets more capacity;
* 4 prompts x 4 samples per step (TRL's ``num_generations`` 4), sampled as SuperHF samples
  (temperature 1, top-p 0.95, 64 new tokens), TRL's own KL coefficient (``beta`` 0.05) and
  its other defaults;
* float32 and no gradient checkpointing: TRL's defaults (bfloat16, checkpointing) are
  meant for GPUs and only slow a CPU down;
* it stops before a step that would end past the budget (the mean step so far predicts
  it), so it never overruns by more than one step's misjudgement.
TRL generates with plain ``transformers.generate``, not our sampler: that is the library's
cost on a CPU and part of what the comparison measures."""

from __future__ import annotations

import logging
import tempfile
import time
import warnings
from pathlib import Path

from core.errors import InputError
from core.superhf.config import SuperHFConfig

PROMPTS_PER_STEP, GENERATIONS = 4, 4


def require_bench_extra() -> None:
    """A clear message, not a traceback, when TRL or matplotlib is missing."""
    import importlib.util

    missing = [m for m in ("trl", "datasets", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"The comparison needs the benchmark extra ({', '.join(missing)} missing). Install it with: "
                         "pip install 'superhf-studio[bench]'  (make test installs it).")


def run_rloo(model_row: dict, scorer, train_prompts: list[str], seed: int, budget: float, device,
             config: SuperHFConfig | None = None):
    """Train with RLOO for ``budget`` seconds (loading included); the tuned policy and what
    happened: steps, seconds and the reward curve of its own samples."""
    from peft import LoraConfig

    from core.sampling.generation import format_prompt
    from core.models.loading import load_model_folder
    from core.superhf.policy import ADAPTER_DIR, build_policy

    warnings.filterwarnings("ignore", module="trl")
    logging.getLogger("trl").setLevel(logging.ERROR)
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    config = config or SuperHFConfig()
    started = time.perf_counter()
    lm = load_model_folder(Path(model_row["path"]), device=device)
    tok = lm.tokenizer
    tok.padding_side = "left"
    formatted = {format_prompt(tok, p): p for p in train_prompts}

    def reward_fn(prompts, completions, **_):
        return scorer.score([formatted.get(p, p) for p in prompts], list(completions))

    curve, steps, begun = [], [], [started]

    class Budget(TrainerCallback):
        def on_train_begin(self, args, state, control, **_):
            begun[0] = time.perf_counter()

        def on_step_end(self, args, state, control, **_):
            now = time.perf_counter()
            steps.append(now)
            if now - started + (now - begun[0]) / len(steps) > budget:  # the next step would overrun
                control.should_training_stop = True

        def on_log(self, args, state, control, logs=None, **_):
            if logs and "reward" in logs:  # drawn at the start of the step just logged
                curve.append([round(time.perf_counter() - started - float(logs.get("step_time", 0)), 2),
                              float(logs["reward"])])

    with tempfile.TemporaryDirectory(prefix="bench-rloo-") as out:
        args = RLOOConfig(
            output_dir=out, learning_rate=config.learning_rate, lr_scheduler_type="constant",
            per_device_train_batch_size=PROMPTS_PER_STEP * GENERATIONS, num_generations=GENERATIONS,
            max_completion_length=config.max_new_tokens, temperature=config.temperature, top_p=config.top_p,
            num_train_epochs=10_000, logging_steps=1, bf16=False, gradient_checkpointing=False, report_to=[],
            save_strategy="no", seed=seed, use_cpu=str(lm.device) == "cpu", disable_tqdm=True, log_level="error")
        trainer = RLOOTrainer(
            model=lm.model, reward_funcs=reward_fn, args=args, processing_class=tok,
            train_dataset=Dataset.from_list([{"prompt": p} for p in formatted]),
            peft_config=LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                   target_modules=list(config.lora_targets) if config.lora_targets else None,
                                   task_type="CAUSAL_LM"),
            callbacks=[Budget()])
        trainer.remove_callback(PrinterCallback)  # its dict per step on stdout would bury our own report
        trainer.train()
        seconds = time.perf_counter() - started
        trainer.model.save_pretrained(str(Path(out) / "tuned" / ADAPTER_DIR))
        del trainer, lm
        policy = build_policy(Path(model_row["path"]), config, device=device, checkpoint=Path(out) / "tuned")
    return policy, {"seconds": seconds, "steps": len(steps), "curve": curve,
                    "samples": len(steps) * PROMPTS_PER_STEP * GENERATIONS}
