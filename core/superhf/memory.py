"""The memory plan of a SuperHF run, made before anything is loaded: from the model's
config.json (and its weights' sizes on disk), the run's settings and the memory free on the
device it runs on (CUDA: ``torch.cuda.mem_get_info``; CPU: what psutil calls available). It
picks the sampling batch, the update micro-batch and whether to recompute activations in the
backward pass (gradient checkpointing), and refuses, with its estimate and the way out, a run
that cannot fit even one completion at a time with checkpointing.

A run's memory peaks in one of three phases; the plan counts each (bytes, ``w`` the width of the
dtype the weights are loaded in: float32 on CPU, bfloat16 on CUDA):
  * loading: the weights, and on a CPU their files, mapped while they are converted;
  * sampling: the weights, the trained state (below), and either the deep copy ``model_in``
    makes before casting it to the sampling dtype (the weights again, transiently) or that copy
    and the key/value cache and logits of each sequence sampled at once;
  * updating: the weights, the trained state, the activations of one micro-batch kept for the
    backward pass, and the logits and log-softmax of policy and reference over the vocabulary
    (with a large vocabulary these dominate, and checkpointing does not shrink them).
The trained state: LoRA adapters with their gradients and AdamW moments (float32, small); with
--full, gradients, two AdamW moments and the frozen reference, each as large as the weights.
Not counted: Python and the libraries already imported (the free memory is read after them),
and the reward model, loaded after (the starter by default: a small one).
Checked against measured peaks by ``superhf bench memory``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.errors import InputError
from core.progress import report
from core.superhf.config import SuperHFConfig

GiB = 2**30
PROMPT_TOKENS = 256  # the plan's allowance for a prompt (with its chat template); a longer one may halve the micro-batch
FILL = 0.9  # share of the free memory the plan fills: other programs and the allocator need some slack
COPY_SHARE = 0.6  # model_in (core.sampling.decoder) makes its sampling copy only within this share of what is free
ACTIVATIONS_H, ACTIVATIONS_I = 10, 3  # per layer and token, kept for backward: ~10 hidden-wide and 3 MLP-wide tensors
LOGIT_BYTES = 24  # per token and vocabulary entry on top of the two logit tensors: float32 log-softmaxes, KL terms, gradients
SAMPLE_LOGIT_BYTES = 16  # per sequence and vocabulary entry while sampling: logits in float32, softmax, the draw


@dataclass(frozen=True)
class ModelShape:
    """What the plan needs of a model: its size and the widths of what it computes."""

    parameters: int
    vocab: int
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    model_type: str = "llama"
    stored_bytes: int = 0  # the weights' files on disk; 0: as bfloat16

    @classmethod
    def from_config(cls, cfg: dict, parameters: Optional[int] = None, stored_bytes: int = 0) -> "ModelShape":
        """From a config.json's fields (Llama names, or GPT-2's); ``parameters`` counted from the
        config where not given (tied embeddings counted once)."""
        cfg = {**cfg, **(cfg.get("text_config") or {})}  # multimodal configs keep the language model's apart
        hidden = cfg.get("hidden_size") or cfg.get("n_embd") or 768
        heads = cfg.get("num_attention_heads") or cfg.get("n_head") or 12
        kv_heads = cfg.get("num_key_value_heads") or heads
        head_dim = cfg.get("head_dim") or hidden // heads
        layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or 12
        inter = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden
        vocab = cfg.get("vocab_size") or 50_000
        if parameters is None:
            per_layer = 2 * hidden * head_dim * (heads + kv_heads) + 3 * hidden * inter + 2 * hidden
            heads_out = 0 if cfg.get("tie_word_embeddings", True) else vocab * hidden
            parameters = vocab * hidden + heads_out + layers * per_layer + hidden
        return cls(int(parameters), vocab, hidden, layers, inter, heads, kv_heads, head_dim,
                   cfg.get("model_type") or "llama", stored_bytes)


def model_shape(folder: Path, parameters: Optional[int] = None) -> Optional[ModelShape]:
    """The shape of the model in ``folder`` (None without a readable config.json), with its
    parameters as stored (``parameters``, else counted from the safetensors headers)."""
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not parameters and list(folder.glob("*.safetensors")):
        from core.models.importing import _count_parameters

        parameters = _count_parameters(folder)
    return ModelShape.from_config(cfg, parameters or None, sum(f.stat().st_size for f in folder.glob("*.safetensors")))


@dataclass
class MemoryPlan:
    device: str
    free: int  # bytes free when planned
    lora: bool
    micro_batch: int  # completions per forward pass of the update
    checkpointing: bool  # activations recomputed in the backward pass
    sampling_batch: int  # sequences sampled at once
    parts: dict[str, int]  # what the peak is made of, bytes
    phases: dict[str, int]  # loading / sampling / updating: bytes at the peak of each
    announced: bool = field(default=False, compare=False)  # said to the user in this process

    @property
    def need(self) -> int:
        return max(self.phases.values())

    def describe(self) -> str:
        """One line for the run's log: 'LoRA, micro-batch 2, gradient checkpointing on, ...'."""
        return (f"{'LoRA' if self.lora else 'all weights'}, micro-batch {self.micro_batch}, gradient checkpointing "
                f"{'on' if self.checkpointing else 'off'}, sampling {self.sampling_batch} at a time: about "
                f"{self.need / GiB:.1f} GiB of {self.free / GiB:.1f} GiB free on {self.device}")


def plan_memory(shape: ModelShape, config: SuperHFConfig, device: str, *, free: int, weight_bytes: int,
                sample_bytes: Optional[int] = None, prompt_tokens: int = PROMPT_TOKENS,
                reward_bytes: int = 0, refuse: bool = True) -> MemoryPlan:
    """The plan for ``shape`` trained with ``config`` on ``device`` with ``free`` bytes free,
    weights loaded ``weight_bytes`` wide and sampled from a copy ``sample_bytes`` wide (None:
    from the weights themselves), beside a reward model of ``reward_bytes`` loaded with it.
    ``refuse``: raise InputError when it cannot fit; else the smallest plan, for a caller that
    only applies it."""
    from core.sampling.decoder import CPU_BATCH_CAP, GPU_BATCH_CAP

    p, w = shape.parameters, weight_bytes
    budget = int(FILL * free)
    weights = p * w
    state = 16 * lora_parameters(shape, config) if config.lora else 4 * weights  # LoRA: float32 weight, grad, 2 moments
    resident = weights + state + reward_bytes
    rows = min(config.minibatch_size, config.prompts_per_iteration)

    def updating(m: int, checkpointing: bool) -> int:
        return resident + update_bytes(shape, config, w, m, checkpointing, prompt_tokens)

    micro, checkpointing = 1, True
    for checkpointing in (False, True):  # recomputing costs a third more compute: only when needed
        micro = next((m for m in range(rows, 0, -1) if updating(m, checkpointing) <= budget), 0)
        if micro:
            break
    copy = sample_bytes is not None and weights + p * sample_bytes < COPY_SHARE * (free - resident)
    sample_weights = p * sample_bytes if copy else 0
    context = prompt_tokens + config.max_new_tokens
    per_sequence = (2 * shape.layers * shape.kv_heads * shape.head_dim * (sample_bytes if copy else w) * context
                    + SAMPLE_LOGIT_BYTES * shape.vocab)
    cap = min(GPU_BATCH_CAP if device.startswith("cuda") else CPU_BATCH_CAP,
              config.prompts_per_iteration * config.superbatch_size)
    batch = max(1, min(cap, (budget - resident - sample_weights) // per_sequence))
    sampling = resident + max(weights if copy else 0, sample_weights + batch * per_sequence)
    parts = {"weights": weights, "reward model": reward_bytes, "sampling copy": sample_weights, "trained state": state,
             "activations": updating(max(micro, 1), checkpointing) - resident, "sampling cache": batch * per_sequence}
    # Loading into CPU memory in another dtype than the files' maps them and converts: both are resident
    # for a moment (in the files' own dtype the weights are the mapped pages themselves).
    stored = shape.stored_bytes or 2 * p
    converted = device.startswith("cpu") and abs(stored - weights) > 0.05 * weights
    loading = (weights + stored if converted else weights) + reward_bytes
    plan = MemoryPlan(device, free, config.lora, max(micro, 1), checkpointing, int(batch), parts,
                      {"loading": loading, "sampling": sampling, "updating": updating(max(micro, 1), checkpointing)})
    if refuse and (not micro or max(sampling, loading) > budget):
        raise InputError(_too_big(plan, config))
    return plan


def update_bytes(shape: ModelShape, config: SuperHFConfig, w: int, micro: int, checkpointing: bool,
                 prompt_tokens: int = PROMPT_TOKENS) -> int:
    """Bytes a micro-batch of ``micro`` completions takes while updating, on top of the weights
    and trained state: its activations and the logits of policy and reference."""
    tokens = micro * (prompt_tokens + config.max_new_tokens + 1)  # each: prompt, answer, end of turn
    return activations(shape, w, tokens, checkpointing) + tokens * shape.vocab * (2 * w + LOGIT_BYTES)


def activations(shape: ModelShape, w: int, tokens: int, checkpointing: bool) -> int:
    """Bytes the forward pass of ``tokens`` tokens keeps for the backward pass, the logits aside:
    every layer's tensors; with checkpointing, only every layer's input and one layer's tensors
    while it is recomputed."""
    one_layer = (ACTIVATIONS_H * shape.hidden + ACTIVATIONS_I * shape.intermediate) * w * tokens
    if checkpointing:
        return shape.layers * shape.hidden * w * tokens + one_layer
    return shape.layers * one_layer


def lora_parameters(shape: ModelShape, config: SuperHFConfig) -> int:
    """Parameters of the LoRA adapters: rank x (in + out) per wrapped module and layer (peft's
    default modules for the model type where the run names none)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    h, i, q, kv = shape.hidden, shape.intermediate, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    widths = {"q_proj": h + q, "k_proj": h + kv, "v_proj": h + kv, "o_proj": q + h, "gate_proj": h + i,
              "up_proj": h + i, "down_proj": i + h, "c_attn": 4 * h, "qkv_proj": 2 * h + q + kv}
    every = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # "all-linear"
    targets = config.lora_targets or DEFAULTS.get(shape.model_type) or \
        (["qkv_proj"] if shape.model_type == "phi3" else every)  # as core.superhf.policy.lora_targets
    return shape.layers * config.lora_r * sum(widths.get(t, 2 * h) for t in targets)


def _too_big(plan: MemoryPlan, config: SuperHFConfig) -> str:
    where = "memory" if plan.device.startswith("cpu") else f"memory on {plan.device}"
    ways = ("Drop --full to train LoRA adapters instead, lower" if not config.lora else "Lower") + \
        f" --max-new-tokens (now {config.max_new_tokens}), use a smaller model, or close other programs."
    parts = ", ".join(f"{k} {v / GiB:.1f} GiB" for k, v in plan.parts.items() if v >= 0.05 * GiB)
    return (f"This run needs about {plan.need / GiB:.1f} GiB of {where} and {plan.free / GiB:.1f} GiB is free. "
            f"{ways} (Estimate with one completion at a time and gradient checkpointing: {parts}.)")


def plan_for(folder: Path, config: SuperHFConfig, device: Optional[str], *, parameters: Optional[int] = None,
             reward_bytes: int = 0, refuse: bool = True) -> Optional[MemoryPlan]:
    """The plan for the model in ``folder`` on ``device`` now; None where it cannot be made
    (no config.json; Apple MPS, whose free memory cannot be read)."""
    import core.sampling.decoder as decoder
    from core.models.devices import choose_device, choose_dtype

    device = choose_device(device)
    shape = model_shape(folder, parameters)
    if shape is None or device.startswith("mps"):
        return None
    dtype = choose_dtype(device, folder=folder)  # as load_model_folder chooses (measured, cached in the workspace)
    sampled = decoder.sampling_dtype(device, dtype, folder=folder)  # as sample() chooses
    width = lambda d: d.itemsize  # noqa: E731
    return plan_memory(shape, config, device, free=decoder.available_memory(device), weight_bytes=width(dtype),
                       sample_bytes=width(sampled) if sampled != dtype else None, reward_bytes=reward_bytes,
                       refuse=refuse)


def check_memory(model_row: dict, config: SuperHFConfig, device: Optional[str],
                 reward_row: Optional[dict] = None) -> Optional[MemoryPlan]:
    """Refuse, with an estimate and the way out, a run that cannot fit in the memory of its
    device, before loading anything; else its plan. ``reward_row``: the stored reward model
    the run loads beside the policy."""
    return plan_for(Path(model_row["path"]), config, device, parameters=model_row.get("parameters"),
                    reward_bytes=reward_model_bytes(reward_row, device) if reward_row else 0)


def reward_model_bytes(reward_row: dict, device: Optional[str]) -> int:
    """The bytes a stored reward model's backbone takes while it loads (the whole base model
    without its output layer, in the dtype it loads in here, before its top blocks are dropped);
    0 where its files cannot tell."""
    import json

    from core.models.devices import choose_device, choose_dtype
    from core.reward.versions import CONFIG_FILE

    try:
        base = Path(json.loads((Path(reward_row["path"]) / CONFIG_FILE).read_text())["base_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # loading it will say what is wrong
    shape = model_shape(base)
    if shape is None:
        return 0
    device = choose_device(device)
    return shape.parameters * choose_dtype(device, folder=base).itemsize


def recompute_activations(model) -> None:
    """Gradient checkpointing on ``model``'s layers: each keeps only its input for the backward
    pass and runs again there. Non-reentrant, so the frozen embeddings' output needs no
    gradient (as LoRA leaves it) and dropout replays the same masks."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def start_micro_batch(policy, config: SuperHFConfig, on_progress=None) -> int:
    """The micro-batch an iteration's update starts at: the policy's plan's (said once in the
    run's log), else the whole minibatch."""
    plan = getattr(policy, "memory_plan", None)
    if plan is None:
        return config.minibatch_size
    if not plan.announced:
        report(on_progress, "updating", 0, 1, notice=f"Memory plan: {plan.describe()}.")
        plan.announced = True
    return plan.micro_batch
