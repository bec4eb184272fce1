"""Data shipped with the app (``resources/`` at the top of the repository, or beside the
frozen executable in the desktop bundle)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)  # set inside a PyInstaller bundle
    base = Path(frozen) if frozen else Path(__file__).resolve().parent.parent
    return base / "resources"


def starter_prompts_file() -> Path:
    return resources_dir() / "starter_prompts.jsonl"
