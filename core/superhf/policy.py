"""The policy being tuned and its frozen reference. With LoRA (the default) the reference is
the policy with its adapters switched off: no second copy of the weights in memory. Full
fine-tuning keeps a frozen copy."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from core.models.loading import LoadedModel, load_model_folder
from core.superhf.config import SuperHFConfig
from core.superhf.loss import Batch, batch_logits

if TYPE_CHECKING:
    from core.superhf.memory import MemoryPlan

ADAPTER_DIR = "adapter"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class Policy:
    lm: LoadedModel  # lm.model is the trainable model (a PeftModel with LoRA)
    reference: Optional[torch.nn.Module]  # None: the policy with adapters disabled
    memory_plan: Optional["MemoryPlan"] = None  # core.superhf.memory: micro-batch, sampling batch, checkpointing

    @property
    def model(self):
        return self.lm.model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    @torch.no_grad()
    def reference_logits(self, batch: Batch) -> torch.Tensor:
        """The frozen reference's logits, without dropout: under LoRA the policy itself (adapters
        off) runs in eval mode for this pass, and every module's mode is restored after."""
        if self.reference is None:
            modes = [(m, m.training) for m in self.model.modules()]
            self.model.eval()
            try:
                with self.model.disable_adapter():
                    return batch_logits(self.model, batch)
            finally:
                for module, training in modes:
                    module.training = training
        return batch_logits(self.reference, batch)

    def save(self, folder: Path) -> None:
        """The trained part: the LoRA adapter, or the whole weights when fully fine-tuned."""
        if self.reference is None:
            self.model.save_pretrained(folder / ADAPTER_DIR)
        else:
            from safetensors.torch import save_file

            state = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
            save_file(_untie(state), str(folder / WEIGHTS_FILE))


def _untie(state: dict) -> dict:
    """safetensors refuses tensors that share memory (tied embeddings): store copies."""
    seen: dict[int, str] = {}
    out = {}
    for k, v in state.items():
        ptr = v.data_ptr()
        out[k] = v.clone() if ptr in seen else v
        seen.setdefault(ptr, k)
    return out


# LoRA targets for the architectures peft has no default for: Phi-3 fuses q, k and v into one
# projection, which stands in for peft's usual q_proj and v_proj.
LORA_TARGETS = {"phi3": ["qkv_proj"]}


def lora_targets(model, config: SuperHFConfig):
    """The modules that get LoRA adapters: the run's choice, else peft's default for the
    architecture, else ours (``LORA_TARGETS``), else every linear layer (an architecture
    neither knows still trains, where peft alone would refuse it)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    if config.lora_targets:
        return list(config.lora_targets)
    kind = model.config.model_type
    return None if kind in DEFAULTS else LORA_TARGETS.get(kind, "all-linear")


def build_policy(base_path: Path, config: SuperHFConfig, *, device: Optional[str] = None,
                 checkpoint: Optional[Path] = None, name: Optional[str] = None,
                 plan: Optional["MemoryPlan"] = None) -> Policy:
    """The policy on its device, from the base model or from a checkpoint's trained part, with
    the memory plan made before loading it applied: activations recomputed in the backward pass
    (gradient checkpointing) where the plan needs it. Its micro-batch and sampling batch ride on
    the policy for the loop. ``plan``: the one the run checked before loading (else made here)."""
    from core.superhf.memory import plan_for, recompute_activations

    if plan is None:  # refusing is the run's (check_memory), not chat's or export's
        plan = plan_for(base_path, config, device, refuse=False)
    lm = load_model_folder(base_path, name=name, device=device)
    if not config.lora:
        reference = copy.deepcopy(lm.model).eval().requires_grad_(False)
        if checkpoint is not None:
            from safetensors.torch import load_file

            lm.model.load_state_dict(load_file(str(checkpoint / WEIGHTS_FILE), device=str(lm.device)))
        if plan is not None and plan.checkpointing:
            recompute_activations(lm.model)
        return Policy(lm, reference, memory_plan=plan)
    from peft import LoraConfig, PeftModel, get_peft_model

    if plan is not None and plan.checkpointing:  # on the base model: peft's wrapper passes it through
        recompute_activations(lm.model)
    if checkpoint is not None:
        lm.model = PeftModel.from_pretrained(lm.model, checkpoint / ADAPTER_DIR, is_trainable=True)
    else:
        torch.manual_seed(config.seed)  # the adapters' random start: the same in every process
        lm.model = get_peft_model(lm.model, LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=lora_targets(lm.model, config), task_type="CAUSAL_LM"))
    lm.model.eval()  # dropout only while updating: the loop switches to train() for that alone
    return Policy(lm, None, memory_plan=plan)
