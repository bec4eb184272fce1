"""The workspace: one folder holding the SQLite store plus model, checkpoint and export folders.

Where it is: ``--home`` on the command line, else ``SUPERHF_HOME``, else the platform's user
data folder. The GUI and the CLI use the same layout, so either can open the other's work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.errors import InputError

DB_NAME = "superhf.db"
STALE_SCRATCH_SECONDS = 24 * 3600  # scratch older than this was left by a killed process
STALE_SET_ASIDE_SECONDS = 3600  # set aside for removal this long ago: the removal was killed
FOLDER_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")  # run and reward model names: they name folders


def check_folder_name(name: str, what: str) -> str:
    """``name`` (stripped) if it can name a folder on every system, else a plain refusal."""
    name = (name or "").strip()
    if not FOLDER_NAME.fullmatch(name):
        raise InputError(f"A {what} name may use letters, digits, '.', '_' and '-' (1 to 64), not '{name}'.")
    return name


def default_home() -> Path:
    env = os.environ.get("SUPERHF_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("SuperHF Studio", appauthor=False))


@dataclass(frozen=True)
class Workspace:
    home: Path

    @property
    def db_path(self) -> Path:
        return self.home / DB_NAME

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reward_models_dir(self) -> Path:
        return self.home / "reward_models"

    @property
    def checkpoints_dir(self) -> Path:
        return self.home / "checkpoints"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def tmp_dir(self) -> Path:
        """Scratch space on the same disk as the workspace, so finished work is renamed into
        place (atomic) instead of copied."""
        return self.home / "tmp"

    def ensure(self) -> "Workspace":
        if self.home.exists() and not self.home.is_dir():
            raise InputError(f"The workspace {self.home} is a file, not a folder. Choose another --home.")
        try:
            for d in (self.home, self.models_dir, self.reward_models_dir, self.checkpoints_dir,
                      self.cache_dir, self.tmp_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"Cannot create the workspace {self.home}: {e.strerror}. "
                             "Choose a folder you can write to with --home or SUPERHF_HOME.") from e
        self.sweep_scratch()
        return self

    def sweep_scratch(self, older_than: float = STALE_SCRATCH_SECONDS) -> int:
        """Remove scratch folders a killed import, training or export left behind, and what a
        killed removal had set aside (hidden ".name.deleting-xxxxxx" entries). Only old ones: a
        young one may belong to work still running in another process."""
        import shutil
        import time

        def old(entry: Path) -> bool:
            if entry.parent == self.tmp_dir:
                return time.time() - entry.stat().st_mtime > older_than
            # set aside for removal (core.journey.tidy.set_aside), which stamps its mtime
            return ".deleting-" in entry.name and time.time() - entry.lstat().st_mtime > STALE_SET_ASIDE_SECONDS

        removed = 0
        for folder in (self.tmp_dir, self.models_dir, self.reward_models_dir, self.checkpoints_dir):
            for entry in folder.glob("*" if folder == self.tmp_dir else ".*.deleting-*"):
                try:
                    if old(entry):
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
                        removed += 1
                except OSError:
                    continue  # another process removed or holds it: leave it
        return removed


def home_path(home: Optional[os.PathLike | str] = None) -> Path:
    """The folder ``home`` names (or the default one), whether or not a workspace is there."""
    return Path(home).expanduser() if home else default_home()


def workspace_exists(home: Optional[os.PathLike | str] = None) -> bool:
    return (home_path(home) / DB_NAME).is_file()


def open_workspace(home: Optional[os.PathLike | str] = None) -> Workspace:
    """The workspace at ``home`` (or the default one), created if missing."""
    return Workspace(home_path(home).resolve()).ensure()
