"""A Hugging Face model folder (safetensors) written as one GGUF file, for llama.cpp and the
tools built on it (Ollama, LM Studio, GPT4All). Llama-family architectures only: Llama and
Mistral (both ``llama`` in GGUF) and Qwen2. Weights in f16, or q8_0 (8-bit blocks of 32, about
half the size); norms and biases stay f32, as llama.cpp writes them.

The weights are streamed: the header is written first, then one tensor at a time, so the
file never has to fit in memory."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import gguf
import numpy as np

from core.errors import InputError
from core.models.gguf_vocab import read_vocab

# Hugging Face model_type -> GGUF architecture. Mistral is a Llama to llama.cpp.
ARCHITECTURES = {"llama": gguf.MODEL_ARCH.LLAMA, "mistral": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}
SUPPORTED_NAMES = "Llama, Mistral and Qwen2"
QUANTS = {"f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
          "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0)}
F32 = gguf.GGMLQuantizationType.F32


@dataclass
class Planned:
    name: str  # in the GGUF file
    source: Optional[tuple[Path, str]]  # safetensors file and tensor name; None for computed tensors
    shape: tuple[int, ...]  # numpy order (rows, columns)
    qtype: gguf.GGMLQuantizationType

    @property
    def nbytes(self) -> int:
        block, size = gguf.GGML_QUANT_SIZES[self.qtype]
        return math.prod(self.shape) // block * size


def read_config(folder: Path) -> dict:
    return json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))


def check_architecture(config: dict) -> None:
    """Refuse, in plain words, a model llama.cpp would not read the way we write it."""
    kind = config.get("model_type", "unknown")
    if kind not in ARCHITECTURES:
        raise InputError(f"GGUF export supports {SUPPORTED_NAMES} models; this one is a '{kind}'. "
                         "Export it with --format safetensors (a folder any transformers program loads).")
    scaling = _rope(config)[1]
    if scaling.get("rope_type", "default") not in ("default", "linear", "llama3"):
        raise InputError(f"This model stretches its context with '{scaling['rope_type']}' rope scaling, which the "
                         "GGUF export does not write yet. Export it with --format safetensors.")


def gguf_bytes(folder: Path, quant: str) -> int:
    """About how large the GGUF file of ``folder`` will be (its weights, plus the tokenizer)."""
    return sum(t.nbytes for t in plan_tensors(folder, read_config(folder), quant)) + 32 * 2**20


def write_gguf(folder: Path, out: Path, quant: str, name: str) -> dict:
    """Write the model in ``folder`` to ``out``; returns what was written."""
    if quant not in QUANTS:
        raise InputError(f"Unknown GGUF quantisation '{quant}'. Use {' or '.join(QUANTS)}.")
    config = read_config(folder)
    check_architecture(config)
    arch = ARCHITECTURES[config["model_type"]]
    planned = plan_tensors(folder, config, quant)
    vocab = read_vocab(folder, config["vocab_size"])
    writer = gguf.GGUFWriter(out, gguf.MODEL_ARCH_NAMES[arch])
    _write_settings(writer, config, arch, name, quant)
    vocab.write(writer)
    for t in planned:
        writer.add_tensor_info(t.name, t.shape, np.float32, t.nbytes, raw_dtype=t.qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    try:
        for t in planned:
            writer.write_tensor_data(_tensor_data(t, config, arch))
    finally:
        writer.close()
    return {"gguf": out.name, "quant": quant, "architecture": gguf.MODEL_ARCH_NAMES[arch], "tensors": len(planned),
            "chat_template": vocab.chat_template, "eos_token": vocab.tokens[vocab.special.special_token_ids["eos"]]
            if "eos" in vocab.special.special_token_ids else None}


def plan_tensors(folder: Path, config: dict, quant: str) -> list[Planned]:
    from safetensors import safe_open

    arch = ARCHITECTURES[config["model_type"]]
    names = gguf.get_tensor_name_map(arch, config["num_hidden_layers"])
    tied = config.get("tie_word_embeddings", False)
    planned = []
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():
                if key == "lm_head.weight" and tied:
                    continue  # the same matrix as the embeddings: llama.cpp reuses token_embd
                target = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if target is None:
                    raise InputError(f"The tensor '{key}' has no place in a GGUF '{gguf.MODEL_ARCH_NAMES[arch]}' "
                                     "model. Export with --format safetensors instead.")
                shape = tuple(f.get_slice(key).get_shape())
                planned.append(Planned(target, (file, key), shape, _qtype(shape, quant)))
    if _rope(config)[1].get("rope_type") == "llama3":
        planned.append(Planned("rope_freqs.weight", None, (_head_dim(config) // 2,), F32))
    return planned


def _qtype(shape: tuple[int, ...], quant: str) -> gguf.GGMLQuantizationType:
    if len(shape) < 2:
        return F32  # norms and biases: small, and precision matters there
    qtype = QUANTS[quant][0]
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    return qtype if shape[-1] % block == 0 else gguf.GGMLQuantizationType.F16


def _tensor_data(t: Planned, config: dict, arch) -> np.ndarray:
    import torch
    from safetensors import safe_open

    if t.source is None:
        return _llama3_rope_factors(config)
    file, key = t.source
    with safe_open(str(file), framework="pt") as f:
        data = f.get_tensor(key).to(torch.float32).numpy()
    if arch == gguf.MODEL_ARCH.LLAMA and t.name.endswith(("attn_q.weight", "attn_k.weight")):
        heads = config["num_attention_heads"]
        if t.name.endswith("attn_k.weight"):
            heads = config.get("num_key_value_heads") or heads
        data = _permute(data, heads)
    if t.qtype == F32:
        return data
    if t.qtype == gguf.GGMLQuantizationType.F16:
        return data.astype(np.float16)
    return gguf.quants.quantize(data, t.qtype)


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's Llama rotates pairs of adjacent dimensions; Hugging Face's rotates the two
    halves of each head. Reorder each head's rows to match (the transformers GGUF loader
    undoes exactly this)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _rope(config: dict) -> tuple[float, dict]:
    """(rope theta, scaling settings) from either config layout (transformers 4 or 5)."""
    params = dict(config.get("rope_parameters") or {})
    params.update(config.get("rope_scaling") or {})
    if "type" in params and "rope_type" not in params:
        params["rope_type"] = params["type"]
    return float(config.get("rope_theta") or params.get("rope_theta") or 10000.0), params


def _head_dim(config: dict) -> int:
    return config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]


def _write_settings(w: gguf.GGUFWriter, config: dict, arch, name: str, quant: str) -> None:
    w.add_name(name)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_file_type(QUANTS[quant][1])
    if quant != "f16":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(config.get("max_position_embeddings", 2048))
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(config["num_attention_heads"])
    w.add_head_count_kv(config.get("num_key_value_heads") or config["num_attention_heads"])
    w.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    w.add_vocab_size(config["vocab_size"])
    head_dim = _head_dim(config)
    if head_dim != config["hidden_size"] // config["num_attention_heads"]:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == gguf.MODEL_ARCH.LLAMA:
        w.add_rope_dimension_count(head_dim)
    theta, scaling = _rope(config)
    w.add_rope_freq_base(theta)
    if scaling.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(scaling["factor"]))


def _llama3_rope_factors(config: dict) -> np.ndarray:
    """Llama 3.1's stretched rotary frequencies, as a per-frequency divisor (``rope_freqs``):
    low frequencies slowed by ``factor``, high ones kept, a smooth blend between."""
    theta, s = _rope(config)
    dim = _head_dim(config)
    freqs = 1.0 / theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    factor, low, high = s.get("factor", 8.0), s.get("low_freq_factor", 1.0), s.get("high_freq_factor", 4.0)
    old = s.get("original_max_position_embeddings", 8192)
    wavelen = 2 * math.pi / freqs
    smooth = np.clip((old / wavelen - low) / (high - low), 0.0, 1.0)
    blended = 1.0 / ((1 - smooth) / factor + smooth)
    scaled = np.where(wavelen < old / high, 1.0, np.where(wavelen > old / low, factor, blended))
    return scaled.astype(np.float32)
