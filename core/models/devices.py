"""Device and dtype choice: CUDA (bf16 where the card supports it), Apple MPS, else CPU.
Chosen automatically, overridable by argument or by SUPERHF_DEVICE / SUPERHF_DTYPE."""

from __future__ import annotations

import os
from typing import Optional

from core.errors import InputError

DTYPES = ("float32", "bfloat16", "float16")


def choose_device(requested: Optional[str] = None) -> str:
    import torch

    requested = requested or os.environ.get("SUPERHF_DEVICE") or "auto"
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"Device '{requested}' was asked for, but no CUDA GPU is usable here. "
                         "Use --device auto or --device cpu.")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"Device '{requested}' was asked for, but Apple MPS is not available here. "
                         "Use --device auto or --device cpu.")
    if kind not in ("cpu", "cuda", "mps"):
        raise InputError(f"Unknown device '{requested}'. Use auto, cpu, cuda, cuda:N or mps.")
    return requested


def choose_dtype(device: str, requested: Optional[str] = None, *, folder=None, purpose: str = "training"):
    """The dtype to load a model in. ``requested`` (or SUPERHF_DTYPE) float32, bfloat16 or
    float16 is taken as asked; "auto" (the default) is measured on this machine for
    ``purpose`` with the model in ``folder`` (``core.models.precision``); "sampling" is auto for
    a model loaded only to sample from. Without a folder: bfloat16 on CUDA cards that support
    it, float32 elsewhere (MPS float16 training is unstable)."""
    import torch

    requested = requested or os.environ.get("SUPERHF_DTYPE") or "auto"
    if requested == "sampling":
        requested, purpose = "auto", "sampling"
    if requested == "auto":
        from core.models.precision import choose_precision

        return choose_precision(purpose, device, folder=folder).torch_dtype
    if requested not in DTYPES:
        raise InputError(f"Unknown dtype '{requested}'. Use auto, {', '.join(DTYPES)}.")
    return getattr(torch, requested)
