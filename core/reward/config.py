"""How a reward model is trained: ``RewardSettings``, each setting declared once (default,
limits, help, CLI flag, form) as ``SuperHFConfig``'s are. No torch: the window reads it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.settings import check_instance, setting

MODES = ("fast", "lora")


@dataclass(frozen=True)
class RewardSettings:
    """How a reward model is trained. The defaults suit the few dozen to few hundred ratings
    one person gives in an afternoon."""

    mode: str = setting(
        "fast", "fast: a head on the frozen model's features (seconds); lora: also adapt the model itself",
        flag="--mode", choices=MODES, form="basic", label="Mode",
        choice_labels=("Fast (a minute or less)", "Thorough (fine-tunes part of the model; much slower)"),
        tip="Thorough (LoRA) is more accurate with many ratings, minutes to hours on a CPU.")
    # fast: frozen backbone, cached features, head only; lora: adapt the backbone too
    steps: int = setting(400, "fast: at most this many Newton steps fitting the head (a dozen are usual)", min=1)
    head_lr: float = setting(1e-2, "fast: the head's learning rate", min=0, above=True)
    l2: float = setting(0.0, "ridge penalty on the head; 0 chooses it by cross-validation over prompts", min=0)
    # few ratings, hundreds of features: the penalty that predicts unseen prompts best (bench reward)
    epochs: int = setting(4, "lora: passes over the training pairs", min=1)
    lora_lr: float = setting(2e-4, "lora: the adapters' learning rate", min=0, above=True)
    lora_r: int = setting(8, "lora: LoRA rank", min=1)
    lora_alpha: int = setting(16, "lora: LoRA alpha, the adapters' scale", min=1)
    lora_dropout: float = setting(0.05, "lora: dropout on the adapters", min=0, max=1, below=True)
    batch_size: int = setting(8, "texts per backbone forward pass", min=1)
    max_length: int = setting(512, "tokens of prompt and answer seen; longer ones keep their end", min=1)
    seed: int = setting(0, "fixes the cross-validation folds and the training", flag="--seed", min=0)

    def __post_init__(self):
        check_instance(self)  # the declared limits, each error naming the setting

    def to_dict(self) -> dict:
        return asdict(self)
