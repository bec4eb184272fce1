"""Importing a GGUF file: dequantised once into a safetensors folder, in the narrowest dtype
that holds what the file's weight matrices hold, after checking that the disk has room.

A quantised file (Q4, Q8, K-quants) becomes bfloat16: its 4- or 8-bit values need no more, and
a 4 GB Q4 7B file becomes about 14 GB instead of 28 GB in float32. A file of float16 or
bfloat16 matrices keeps that dtype exactly; one with float32 matrices stays float32. Norms and
biases (one-dimensional, float32 in every GGUF) do not decide: they are small.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError, ModelError
from core.models.loading import _first_line
from core.progress import CancelToken, report
from core.store.atomic import check_room

GGUF_MAGIC = b"GGUF"
MARGIN = 64 * 2**20  # tokenizer files and config beside the weights


def gguf_plan(path: Path) -> tuple[str, int]:
    """(dtype name, bytes of the safetensors it becomes), read from the file's tensor table
    without dequantising anything."""
    import gguf

    try:
        tensors = gguf.GGUFReader(str(path)).tensors
    except Exception as e:  # a file cut short or damaged: its table does not read
        raise ModelError(f"Cannot read the GGUF file {path}: {_first_line(e)}. The file may be damaged or "
                         "incomplete: copy it again.") from e
    kinds = {t.tensor_type.name for t in tensors if len(t.shape) > 1}
    dtype = weights_dtype(kinds)
    width = {"float32": 4, "float16": 2, "bfloat16": 2}[dtype]
    return dtype, sum(int(t.n_elements) for t in tensors) * width


def weights_dtype(kinds: set[str]) -> str:
    """The dtype for matrices stored as ``kinds`` (GGML type names): float32 where any is F32,
    float16 where all are F16, else bfloat16 (quantised, BF16, or F16 mixed with quantised)."""
    if "F32" in kinds or "F64" in kinds:
        return "float32"
    if kinds == {"F16"}:
        return "float16"
    return "bfloat16"


def dequantise_gguf(path: Path, out: Path, on_progress, cancel: CancelToken) -> str:
    """Write the model of GGUF file ``path`` into folder ``out`` as safetensors with its
    tokenizer; returns the dtype written. Refuses a disk without room before reading weights."""
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise InputError(f"{path} is not a GGUF file (it does not start with the GGUF marker).")
    dtype, size = gguf_plan(path)
    check_room(out, size + MARGIN, f"importing {path.name} (dequantised to {dtype})")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    report(on_progress, "reading GGUF", 0, 2)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        cancel.check()
        # unpacked into plain tensors, whatever GGUF kernels are installed: the folder is for any transformers
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype,
                                                     quantization_config=GgufConfig(dequantize=True),
                                                     local_files_only=True)
    except (InputError, ModelError):
        raise
    except Exception as e:
        raise ModelError(f"Cannot read the GGUF file {path}: {_first_line(e)}. The file may be "
                         "damaged or incomplete (copy it again), or hold an architecture that "
                         "transformers cannot dequantise.") from e
    cancel.check()
    report(on_progress, "writing safetensors", 1, 2)
    # A model loaded from GGUF refuses save_pretrained while it still looks quantised; its
    # weights are plain tensors by now, so clearing the marks is truthful.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    report(on_progress, "writing safetensors", 2, 2)
    return dtype
