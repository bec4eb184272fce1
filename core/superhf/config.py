"""The settings of a SuperHF run: the reference implementation's defaults where they fit a
desktop, CPU-friendly ones where they do not (each says why). Stored with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Optional

from core.settings import check_instance, setting


@dataclass(frozen=True)
class SuperHFConfig:
    """Each field declares itself once (core.settings.setting): its default, limits, one-line help,
    CLI flag and place in the app's Train form. The `superhf train` options, the Train page's
    form and the checks below are all built from these declarations."""

    iterations: int = setting(
        10, "how many rounds of answer, pick, learn", flag="--iterations", min=1,
        form="basic", label="Rounds (iterations)", form_max=1000,
        tip="Each takes minutes on a CPU; results show after a few.")
    # the paper iterates for hundreds; a desktop user checks in after a few. With 4 passes over
    # the kept answers, 10 rounds on the starter take about 9 minutes on a 2-core Xeon with AMX
    # and gained more than 5 for both simulated raters (journey-choices.md, session 13); a round
    # took about twice as long on an EPYC with bfloat16 and four times without (float32): there
    # the 15-minute limit below ends the run first, after the rounds that fit
    minutes: Optional[float] = setting(
        15.0, "train for at most about this many minutes: rounds go on until the next would end past it "
        "(--iterations is then the most rounds); 0: no time limit", flag="--minutes", min=0,
        form="basic", label="Minutes to train", form_min=0, form_max=24 * 60, step=5, decimals=0, at_min="no limit",
        tip="0: no time limit, the rounds above decide. The learning rate decays over the time given.")
    # a user knows how long they can wait, not how many iterations that buys on their machine
    prompts_per_iteration: int = setting(
        16, "training prompts per round", flag="--prompts-per-iteration", min=1,
        form="basic", label="Prompts per round", form_max=1024)
    # reference: 64+; 16 keeps one CPU iteration near a minute (bench superhf)
    superbatch_size: int = setting(
        16, "answers per prompt the reward model picks the best from", flag="--superbatch", min=2,
        ablation_min=1, why="SuperHF keeps the best of several completions, and the paper found 1 does not work",
        form="basic", label="Answers per prompt", form_max=64, tip="More: better picks, slower rounds.")
    # completions per prompt: the reference's; its ablation's best range is 8-32
    kl_coefficient: float = setting(
        0.35, "KL coefficient beta: how strongly the model is held near where it started", flag="--kl", min=0,
        form="advanced", label="KL coefficient", form_max=10.0, step=0.05, decimals=2,
        tip="Lower learns faster but risks gaming the reward model and repetitive answers.")
    # reference; near 0 raises reward but collapses diversity
    learning_rate: float = setting(
        1e-3, "learning rate: how big each update step is", flag="--lr", min=0, max=1, above=True, below=True,
        form="advanced", label="Learning rate", form_min=1e-5, form_max=0.1, step=1e-4, decimals=5)
    # reference 2e-5 over hundreds of steps; at 1e-4 three CPU iterations barely moved
    # the starter (KL 0.0001), at 1e-3 held-out reward rose with diversity intact (bench superhf)
    warmup_steps: int = setting(0, "optimiser steps of learning-rate warm-up before the cosine decay", min=0)
    # cosine schedule, as the reference; its warm-up of 1 step made each run's first step a no-op
    minibatch_size: int = setting(4, "kept completions per optimiser step", min=1)
    epochs: int = setting(
        4, "passes over each round's kept answers: learning more from each costly round of sampling",
        flag="--epochs", min=1, form="advanced", label="Passes over the kept answers", form_max=20)
    # the reference: 1. On a CPU sampling a round costs more than 4 passes over its 16 kept
    # answers, and 1 pass left the starter where it was after 3 rounds (gain within noise);
    # 4 passes raised both simulated raters' scores in 2 rounds (bench journey, the README)
    answer_weight: str = setting(
        "tokens", "how the loss weighs the kept answers: 'tokens' (every token the same, so a long answer "
        "weighs more) or 'answers' (every answer the same, whatever its length)",
        flag="--answer-weight", choices=("tokens", "answers"))
    # the reference averages over tokens. 'answers' (every answer the same) over bench journey's 3 seeds
    # x 2 raters: support lead +0.41 +/- 0.09 and concise expert +0.25 +/- 0.19 over the base, against
    # +0.49 and +0.40 with 'tokens' (journey-choices.md, session 11): kept as an option, not the default
    head_start: int = setting(
        0, "passes over the reward model's pick of the answers already stored for each training prompt "
        "(those made for rating), before the first round; 0: none", flag="--head-start", min=0)
    # measured on the starter (the README): no gain over the rounds alone, a loss on one rater;
    # off by default, kept for models and tastes where the stored answers are better
    lora: bool = setting(
        True, "tune all weights instead of LoRA (more memory)", flag="--full", negate=True,
        form="advanced", label="Tune all weights (needs much more memory than the default LoRA)")
    # LoRA (reference) and the reference model is the policy with adapters off
    lora_r: int = setting(4, "LoRA rank", min=1)  # reference
    lora_alpha: int = setting(32, "LoRA alpha: the adapters' scale", min=1)  # reference
    lora_dropout: float = setting(0.05, "dropout on the LoRA adapters", min=0, max=1, below=True)  # reference
    max_new_tokens: int = setting(
        64, "longest answer, in tokens", flag="--max-new-tokens", min=1,
        form="advanced", label="Longest answer (tokens)", form_min=8, form_max=1024)  # reference
    temperature: float = setting(1.0, "sampling temperature: 1 samples the model as it is", min=0)  # reference
    top_p: float = setting(0.95, "nucleus sampling: the smallest set of tokens with this much probability",
                           min=0, max=1, above=True)  # reference
    eval_prompts: int = setting(8, "evaluation prompts whose mean reward is tracked every iteration", min=0)
    seed: int = setting(
        0, "the same seed repeats a run exactly", flag="--seed", min=0,
        form="advanced", label="Seed", form_max=2**31 - 1)
    # fixes prompts, samples and updates of each iteration: a resumed run repeats itself
    keep_checkpoints: int = setting(2, "checkpoints kept; older ones are deleted", min=1)
    # each iteration's metrics stay in the store
    lora_targets: Optional[tuple[str, ...]] = setting(
        None, "modules the LoRA adapters wrap; None: peft's attention projections for the model type")
    ablation: bool = setting(False, "allows what only the paper's ablations run: a superbatch of 1 (no filtering)")

    def __post_init__(self):
        check_instance(self)  # the declared limits, each error naming the field

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SuperHFConfig":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("minutes", None)  # runs stored before the time limit existed keep none
        if values.get("lora_targets") is not None:
            values["lora_targets"] = tuple(values["lora_targets"])
        return cls(**values)


def defaults_for(device: str) -> SuperHFConfig:
    """Settings to offer on this hardware: the desktop defaults on a CPU; on a GPU, the
    reference implementation's batch of 64 prompts per iteration and more iterations."""
    if device.startswith("cuda"):
        return SuperHFConfig(iterations=10, prompts_per_iteration=64)
    return SuperHFConfig()
