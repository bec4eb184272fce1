"""Deleting what the workspace holds, with what goes with it said first.

``plan_delete(store, kind, name)`` says, in plain lines, what else goes and what stays, or why
it is refused; ``delete(store, kind, name)`` does it: the rows in one transaction, then the
files (a file that cannot be removed is reported, never fatal). Ratings always stay: they keep
their own texts, and are deleted one by one in the ratings history.

- a model: its runs (their rounds, checkpoints and comparisons), the records of its and their
  exports, the answers it wrote for rating. Its folder goes only when the workspace made it (a
  copy, a dequantised GGUF, the starter); a folder used where it is stays. Refused while one
  of its runs trains, or while reward models are built on it.
- a run: its rounds, checkpoints, comparisons and export records. Refused while it trains.
- a reward model (every version, or one): its folders. Runs that used it stay, without it (they
  can be compared and exported, not resumed). Refused while such a run trains.
- a prompt set: its prompts. Refused while runs use it (they resume and compare on it).
- an export: its record, and its folder unless ``keep_files``.
Exported folders of a deleted model or run stay where they are: they are the user's copies."""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from core.errors import InputError, NotFoundError
from core.store import tidy as rows
from core.store.database import Store
from core.store.models import get_model, list_models
from core.store.reward_models import find_reward_model
from core.store.runs import get_run, run_lock

KINDS = ("model", "run", "reward", "prompts", "export")


@dataclass
class Plan:
    """What deleting one thing takes with it."""
    what: str                                        # "model 'x'"
    goes: list[str] = field(default_factory=list)    # lines: what else is deleted
    stays: list[str] = field(default_factory=list)   # lines: what is kept, said so nobody wonders
    files: list[Path] = field(default_factory=list)  # removed after the database commit
    refused: Optional[str] = None                    # why it cannot be deleted now, with what to do
    run_names: list[str] = field(default_factory=list)  # held locked while the rows go

    def text(self) -> str:
        lines = [f"Delete {self.what}?"]
        lines += [f"Also deleted: {line}" for line in self.goes]
        lines += [f"Kept: {line}" for line in self.stays]
        return "\n".join(lines)


def _names(runs: list[dict]) -> str:
    return ", ".join(f"'{r['name']}'" for r in runs)


def training_now(store: Store, run_names: list[str]) -> list[str]:
    """The runs among ``run_names`` that a process is training right now (holds the run's lock)."""
    busy = []
    for name in run_names:
        try:
            with run_lock(store, name):
                pass
        except InputError:
            busy.append(name)
    return busy


def _inside(path: Path, folder: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(folder.resolve()) and Path(path).resolve() != folder.resolve()
    except OSError:
        return False


def _runs_part(store: Store, plan: Plan, runs: list[dict]) -> None:
    """What goes with runs: rounds, checkpoints (files), comparisons, export records."""
    if not runs:
        return
    ids = [r["id"] for r in runs]
    plan.run_names += [r["name"] for r in runs]
    checkpoints = rows.checkpoint_paths(store, ids)
    compared = rows.count_comparisons(store, ids)
    exports = rows.exports_of(store, ids)
    plan.goes.append(f"{len(checkpoints)} checkpoint(s) and the recorded rounds of run(s) {_names(runs)}")
    if compared:
        plan.goes.append(f"{compared} blind comparison(s) of their answers")
        plan.stays.append("the ratings you gave in those comparisons")
    if exports:
        plan.goes.append(f"the record(s) of {len(exports)} export(s)")
        plan.stays.append("the exported folders: " + ", ".join(e["path"] for e in exports))
    folder = store.workspace.checkpoints_dir
    plan.files += [folder / r["name"] for r in runs]  # each run's checkpoints, and any stray one beside:
    plan.files += [Path(p) for p in checkpoints if _inside(Path(p), folder)
                   and not any(_inside(Path(p), folder / r["name"]) for r in runs)]


def _refuse_if_training(store: Store, plan: Plan, runs: list[dict]) -> None:
    busy = training_now(store, [r["name"] for r in runs])
    if busy and plan.refused is None:
        plan.refused = (f"Run(s) {', '.join(repr(b) for b in busy)} are training right now, so {plan.what} cannot "
                        "be deleted. Stop the run (or wait for it to finish), then try again.")


def plan_delete_model(store: Store, name: str) -> Plan:
    model = get_model(store, name)
    plan = Plan(f"model '{name}'")
    runs = rows.runs_of_model(store, model["id"])
    _runs_part(store, plan, runs)
    exports = rows.exports_of(store, [], model["id"])
    if exports:
        plan.goes.append(f"the record(s) of {len(exports)} export(s) of the model itself")
    answers = rows.count_generations(store, model["id"])
    if answers:
        plan.goes.append(f"{answers} answer(s) it wrote for rating, and the pairs queued from them")
        plan.stays.append("every rating you gave (each keeps its prompt and answers)")
    folder = Path(model["path"])
    shared = [m["name"] for m in list_models(store) if m["id"] != model["id"] and Path(m["path"]) == folder]
    owned = (_inside(folder, store.workspace.models_dir) and folder.resolve() != Path(model["source"]).resolve()
             and not shared)
    if owned:
        plan.goes.append(f"its folder in the workspace, {folder}")
        plan.files.append(folder)
    else:
        plan.stays.append(f"the folder {folder}: it is yours, used where it is")
    _refuse_if_training(store, plan, runs)
    backbones = rows.reward_models_on(store, model["id"])
    if backbones and plan.refused is None:
        names = sorted({r["name"] for r in backbones})
        plan.refused = (f"Reward model(s) {', '.join(repr(n) for n in names)} are built on model '{name}' and "
                        f"cannot work without it. Delete them first ('superhf reward delete {names[0]}'), "
                        "or keep the model.")
    return plan


def plan_delete_run(store: Store, name: str) -> Plan:
    run = get_run(store, name)
    plan = Plan(f"run '{name}'")
    _runs_part(store, plan, [run])
    _refuse_if_training(store, plan, [run])
    return plan


def _reward_rows(store: Store, name: str, version: Optional[int]) -> list[dict]:
    find_reward_model(store, name, version)  # a plain error listing the names there are
    return [r for r in rows.reward_versions(store, name) if version is None or r["version"] == version]


def plan_delete_reward(store: Store, name: str, version: Optional[int] = None) -> Plan:
    versions = _reward_rows(store, name, version)
    plan = Plan(f"reward model '{name}'" + (f" version {version}" if version else
                                             f" ({len(versions)} version(s))"))
    plan.files += [Path(r["path"]) for r in versions if _inside(Path(r["path"]), store.workspace.reward_models_dir)]
    runs = rows.runs_using_reward(store, [r["id"] for r in versions])
    if runs:
        plan.stays.append(f"run(s) {_names(runs)} that used it: they can still be compared and exported, "
                          "but not resumed")
    plan.stays.append("every rating it was trained on")
    _refuse_if_training(store, plan, runs)
    plan.run_names += [r["name"] for r in runs]
    return plan


def plan_delete_prompts(store: Store, name: str) -> Plan:
    row = store.named("prompt_sets", name, "prompt set", "Import some with 'superhf prompts import'.")
    plan = Plan(f"prompt set '{name}'")
    runs = rows.runs_using_set(store, row["id"])
    if runs:
        plan.refused = (f"Run(s) {_names(runs)} trained on prompt set '{name}' and resume and compare on it. "
                        f"Delete those runs first ('superhf runs delete {runs[0]['name']}'), or keep the set.")
    plan.goes.append("its prompts")
    plan.stays.append("every rating of answers to them, and the answers already written")
    return plan


def plan_delete_export(store: Store, export_id: int, keep_files: bool = False) -> Plan:
    row = rows.export_row(store, export_id)
    if row is None:
        raise NotFoundError(f"No export with id {export_id}. 'superhf exports list' shows them.")
    plan = Plan(f"the record of export {export_id} ({row['path']})")
    if keep_files:
        plan.stays.append(f"the exported folder {row['path']}")
    else:
        plan.goes.append(f"the exported folder {row['path']}")
        plan.files.append(Path(row["path"]))
    return plan


def plan_delete(store: Store, kind: str, name, *, version: Optional[int] = None, keep_files: bool = False) -> Plan:
    if kind == "model":
        return plan_delete_model(store, name)
    if kind == "run":
        return plan_delete_run(store, name)
    if kind == "reward":
        return plan_delete_reward(store, name, version)
    if kind == "prompts":
        return plan_delete_prompts(store, name)
    if kind == "export":
        return plan_delete_export(store, int(name), keep_files)
    raise ValueError(kind)


def delete(store: Store, kind: str, name, *, version: Optional[int] = None, keep_files: bool = False,
           remove: bool = True) -> dict:
    """Delete it and what goes with it (``plan_delete`` says what); the rows in one transaction,
    then the files. Returns the plan's lines, the files removed and those that could not be.
    ``remove=False`` (the app): the folders are only set aside under hidden names, at once, so
    their names are free; "set_aside" lists what the caller removes with ``remove_files`` off
    its window thread (a model of many GiB takes seconds to remove on some disks)."""
    plan = plan_delete(store, kind, name, version=version, keep_files=keep_files)
    if plan.refused:
        raise InputError(plan.refused)
    with ExitStack() as locks:  # no run starts or resumes on what is going
        try:
            for run_name in plan.run_names:
                locks.enter_context(run_lock(store, run_name))
        except InputError:
            raise InputError(f"A run that goes with {plan.what} started training just now. Stop it, then try "
                             "again.") from None
        if kind == "model":
            rows.delete_model(store, get_model(store, name)["id"])
        elif kind == "run":
            rows.delete_runs(store, [get_run(store, name)["id"]])
        elif kind == "reward":
            rows.delete_reward_models(store, [r["id"] for r in _reward_rows(store, name, version)])
        elif kind == "prompts":
            rows.delete_prompt_set(store, store.named("prompt_sets", name, "prompt set", "")["id"])
        else:
            rows.delete_export_row(store, int(name))
    if kind in ("model", "run"):
        plan.files += [store.workspace.checkpoints_dir / f".{n}.lock" for n in plan.run_names]
    result = {"deleted": plan.what, "also": plan.goes, "kept": plan.stays}
    if not remove:
        return {**result, "removed": [], "not_removed": [], "set_aside": set_aside(plan.files)}
    removed, failed = remove_files(plan.files)
    return {**result, "removed": removed, "not_removed": failed}


def set_aside(paths: list[Path]) -> list[Path]:
    """Each file or folder there is renamed to a hidden sibling (".name.deleting-xxxxxx", the
    same folder, so a quick rename), freeing its name for what is imported, exported or run
    next (a run's lock file too: a new run of the same name must not lose its lock to the later
    removal); returns what is left to remove, under its own name where it could not be renamed."""
    left = []
    for path in dict.fromkeys(Path(p) for p in paths):
        if not path.exists() and not path.is_symlink():
            continue
        aside = path.with_name(f".{path.name}.deleting-{secrets.token_hex(3)}")
        try:
            path.rename(aside)
            path = aside
            if not aside.is_symlink():  # when it was set aside: the workspace sweeps it an hour on
                os.utime(aside)
        except OSError:
            pass  # removed under its own name, later
        left.append(path)
    return left


def remove_files(paths: list[Path]) -> tuple[list[str], list[str]]:
    """Remove each file or folder there is; returns (removed, "path: why" of those that stayed)."""
    removed, failed = [], []
    for path in dict.fromkeys(Path(p) for p in paths):
        if not path.exists() and not path.is_symlink():
            continue
        try:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed.append(str(path))
        except OSError as e:
            failed.append(f"{path}: {e.strerror or e}")
    return removed, failed
