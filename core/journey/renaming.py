"""Renaming a model, a prompt set, a run or a reward model. Names stay unique and non-empty;
a name taken already is refused in plain words. A run's checkpoint folder and a reward model's
version folders are named after it, so they move with the name (moved back if the database
refuses), and a new run or reward model under the old name never meets the old files."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.journey.tidy import training_now
from core.store import tidy as rows
from core.store.database import Store
from core.store.models import get_model
from core.store.reward_models import find_reward_model
from core.store.runs import get_run, run_exists, run_lock
from core.store.workspace import check_folder_name


def _plain_name(new: str, what: str) -> str:
    new = (new or "").strip()
    if not new or len(new) > 100 or "\n" in new:
        raise InputError(f"A {what} name must be 1 to 100 characters on one line.")
    return new


def rename(store: Store, kind: str, old: str, new: str) -> dict:
    """``kind``: model, prompts, run or reward. Returns {"kind", "old", "new"}."""
    if kind == "model":
        rows.rename_row(store, "models", get_model(store, old)["id"], _plain_name(new, "model"))
    elif kind == "prompts":
        row = store.named("prompt_sets", old, "prompt set", "Import some with 'superhf prompts import'.")
        rows.rename_row(store, "prompt_sets", row["id"], _plain_name(new, "prompt set"))
    elif kind == "run":
        _rename_run(store, old, check_folder_name(new, "run"))
    elif kind == "reward":
        _rename_reward(store, old, check_folder_name(new, "reward model"))
    else:
        raise ValueError(kind)
    return {"kind": kind, "old": old, "new": new.strip()}


def _move(moves: list[tuple[Path, Path]]) -> None:
    """Rename folders; if one fails, those already moved go back, and the failure is said plainly."""
    done = []
    for src, dst in moves:
        if dst.exists():
            _undo(done)
            raise InputError(f"A folder {dst} is in the way (left from something deleted earlier). Remove it "
                             "or choose another name.")
        try:
            src.rename(dst)
        except OSError as e:
            _undo(done)
            raise InputError(f"Could not rename {src} to {dst}: {e.strerror or e}. Nothing was changed; close "
                             "any program using it and try again.") from e
        done.append((src, dst))


def _undo(done: list[tuple[Path, Path]]) -> None:
    for src, dst in reversed(done):
        dst.rename(src)


def _rename_run(store: Store, old: str, new: str) -> None:
    run = get_run(store, old)
    if old == new:
        return
    if run_exists(store, new):
        raise InputError(f"A run named '{new}' exists already. Choose another name.")
    if training_now(store, [old]):
        raise InputError(f"Run '{old}' is training right now. Stop it (or wait for it to finish), then rename it.")
    with run_lock(store, old):  # and no run starts on it while it moves
        folder = store.workspace.checkpoints_dir
        moves = [(folder / old, folder / new)] if (folder / old).is_dir() else []
        paths = {p: str(folder / new / Path(p).relative_to(folder / old))
                 for p in rows.checkpoint_paths(store, [run["id"]]) if Path(p).is_relative_to(folder / old)}
        _move(moves)
        try:
            rows.rename_run(store, run["id"], new, paths)
        except BaseException:
            _undo(moves)
            raise


def _rename_reward(store: Store, old: str, new: str) -> None:
    versions = rows.reward_versions(store, old)
    if not versions:
        find_reward_model(store, old)  # the plain error, listing the names there are
    if old == new:
        return
    if rows.reward_versions(store, new):
        raise InputError(f"A reward model named '{new}' exists already. Choose another name.")
    busy = training_now(store, [r["name"] for r in rows.runs_using_reward(store, [v["id"] for v in versions])])
    if busy:
        raise InputError(f"Run '{busy[0]}' is training with reward model '{old}' right now. Stop it (or wait for "
                         "it to finish), then rename.")
    folder = store.workspace.reward_models_dir
    moves, paths = [], {}
    for v in versions:
        path = Path(v["path"])
        if path.parent.resolve() == folder.resolve() and path.is_dir():
            target = folder / f"{new}-v{v['version']}"
            moves.append((path, target))
            paths[v["id"]] = str(target)
        else:
            paths[v["id"]] = v["path"]
    _move(moves)
    try:
        rows.rename_reward(store, old, new, paths)
    except BaseException:
        _undo(moves)
        raise
