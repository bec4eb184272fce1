"""Loading a local model folder for generation or training, and refusing one that cannot be
loaded safely and offline. Nothing here knows the workspace: ``core.models.importing`` puts
models into it and loads them by name.

Safe loading only: safetensors (GGUF files are dequantised into safetensors on import), never
pickle weights, never ``trust_remote_code``, never a hub.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.errors import InputError, ModelError
from core.progress import ProgressCallback, report

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


@dataclass
class LoadedModel:
    """A model ready to use: weights on their device, tokenizer set for left padding."""

    name: str
    path: Path
    model: Any
    tokenizer: Any
    device: str
    dtype: Any


# ---------------------------------------------------------------- checking a folder

def check_model_folder(folder: Path) -> None:
    """Refuse, with the reason, a folder we cannot load safely and offline."""
    if not (folder / "config.json").is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            raise InputError(f"{folder} holds a GGUF file but no config.json. Import the file "
                             f"itself: superhf model import {ggufs[0]}")
        raise InputError(f"{folder} is not a Hugging Face model folder: it has no config.json.")
    if not list(folder.glob("*.safetensors")):
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise InputError(
                f"{folder} holds only PyTorch pickle weights ({', '.join(sorted(pickles)[:3])}). "
                "Pickle files can run arbitrary code when loaded, so SuperHF Studio refuses them. "
                "Convert them to safetensors on a machine you trust, e.g. "
                "AutoModelForCausalLM.from_pretrained(folder).save_pretrained(new_folder), "
                "then import the new folder.")
        raise InputError(f"{folder} has no model weights (*.safetensors).")
    for weights in sorted(folder.glob("*.safetensors")):
        check_safetensors(weights)
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as e:  # unknown model_type, custom code, broken JSON: all end here
        raise InputError(f"The model in {folder} cannot be read: {_first_line(e)}. SuperHF Studio "
                         "only runs architectures built into transformers, never custom code.") from e
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise InputError(f"The model in {folder} is a '{config.model_type}', which is not a "
                         "text-generation (causal LM) model.")


def check_safetensors(path: Path) -> None:
    """Refuse a safetensors file whose header is broken or whose tensors run past its end (a
    copy cut short): checked from the header alone, without reading the weights."""
    import json
    import struct

    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len > min(size - 8, 100 * 2**20):
                raise ValueError("header length past the end of the file")
            header = json.loads(f.read(header_len))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as e:
        raise InputError(f"{path.name} in {path.parent} is not a valid safetensors file ({e}). Copy it again "
                         "from its source.") from e
    if 8 + header_len + end > size:
        raise InputError(f"{path.name} in {path.parent} is cut short: it holds {size:,} bytes of "
                         f"{8 + header_len + end:,}. Copy it again from its source.")


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0].rstrip(".")


def copy_model_files(source: Path, tmp: Path) -> None:
    """Every file of a model folder but pickle weights (never needed: safetensors are there)."""
    for item in source.iterdir():
        if item.is_file() and item.suffix not in PICKLE_SUFFIXES:
            shutil.copy2(item, tmp / item.name)


def load_model_folder(path: Path, *, name: Optional[str] = None, device: Optional[str] = None,
                      dtype: Optional[str] = None, on_progress: Optional[ProgressCallback] = None) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.models.devices import choose_device, choose_dtype

    name = name or path.name
    if not path.is_dir():
        raise ModelError(f"The files of model '{name}' are gone from {path}. Put them back, or "
                         "import the model again under a new name.")
    check_model_folder(path)
    device = choose_device(device)
    torch_dtype = choose_dtype(device, dtype, folder=path)  # measured for this model where auto
    report(on_progress, "loading model", 0, 1, model=name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, local_files_only=True,
                                                     use_safetensors=True, trust_remote_code=False)
        model.to(device)
    except torch.OutOfMemoryError as e:
        raise ModelError(f"Model '{name}' does not fit in the memory of {device}. Choose a smaller "
                         "model, or another device with --device.") from e
    except Exception as e:
        raise ModelError(f"Cannot load model '{name}' from {path}: {_first_line(e)}.") from e
    model.eval()
    tokenizer.padding_side = "left"  # generation appends on the right
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    report(on_progress, "loading model", 1, 1, model=name)
    return LoadedModel(name, path, model, tokenizer, device, torch_dtype)
