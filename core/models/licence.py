"""The licence a model came with, for the model card of what is exported from it: from the
model folder's README front matter (``license: apache-2.0``, as Hugging Face writes it), or
from the GGUF file it was imported from (``general.license``). None when neither says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)
LICENSE_LINE = re.compile(r"^license:\s*['\"]?([^'\"\n#]+?)['\"]?\s*$", re.M)


def _from_readme(folder: Path) -> Optional[str]:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    match = FRONT_MATTER.match(readme.read_text(encoding="utf-8", errors="replace")[:20_000])
    found = LICENSE_LINE.search(match.group(1)) if match else None
    return found.group(1).strip() if found else None


def _from_gguf(path: Path) -> Optional[str]:
    if path.suffix.lower() != ".gguf" or not path.is_file():
        return None
    try:
        from gguf import GGUFReader

        field = GGUFReader(str(path)).fields.get("general.license")
        return str(field.contents()).strip() if field is not None else None
    except Exception:  # noqa: BLE001 - an unreadable header only means "not stated"
        return None


def licence_of(model: dict) -> Optional[str]:
    """The licence stated for a workspace model (its row), or None."""
    found = _from_readme(Path(model["path"]))
    if found is None and model.get("kind") == "starter":
        from core.models.importing import starter_gguf

        try:
            return _from_gguf(starter_gguf())
        except Exception:  # noqa: BLE001 - the starter's package gone: not stated
            return None
    return found or _from_gguf(Path(model.get("source") or ""))
