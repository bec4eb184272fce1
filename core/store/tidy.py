"""Renaming and deleting what the workspace holds: the rows that go with a model, a run, a
reward model, a prompt set or an export, and the statements that remove them together.

Deciding what may go, and removing files, is ``core.journey.tidy``; here is only SQL. Ratings
are never deleted here: they keep their own texts, and a deleted answer or queued pair leaves
them whole (the schema sets their links to NULL)."""

from __future__ import annotations

import sqlite3
from typing import Iterable

from core.errors import InputError
from core.store.database import Store

RENAMABLE = {"models": "model", "prompt_sets": "prompt set", "runs": "run"}


def _marks(ids: Iterable) -> str:
    return ",".join("?" for _ in ids)


def rename_row(store: Store, table: str, row_id: int, new: str) -> None:
    """Give row ``row_id`` of ``table`` (models, prompt_sets or runs) the name ``new``; a name
    taken already is refused in plain words."""
    what = RENAMABLE[table]
    if store.one(f"SELECT id FROM {table} WHERE name = ? AND id != ?", [new, row_id]):
        raise InputError(f"A {what} named '{new}' exists already. Choose another name.")
    try:
        with store.transaction() as db:
            db.execute(f"UPDATE {table} SET name = ? WHERE id = ?", [new, row_id])
    except sqlite3.IntegrityError:  # another process took the name in between
        raise InputError(f"A {what} named '{new}' exists already. Choose another name.") from None


def runs_of_model(store: Store, model_id: int) -> list[dict]:
    return store.all("SELECT id, name, status FROM runs WHERE model_id = ? ORDER BY id", [model_id])


def reward_models_on(store: Store, model_id: int) -> list[dict]:
    """(name, version) of the reward models built on model ``model_id``."""
    return store.all("SELECT name, version FROM reward_models WHERE base_model_id = ? ORDER BY name, version",
                     [model_id])


def runs_using_reward(store: Store, reward_ids: list[int]) -> list[dict]:
    return store.all(f"SELECT id, name, status FROM runs WHERE reward_model_id IN ({_marks(reward_ids)}) "
                     "ORDER BY id", reward_ids)


def runs_using_set(store: Store, set_id: int) -> list[dict]:
    return store.all("SELECT id, name, status FROM runs WHERE prompt_set_id = ? ORDER BY id", [set_id])


def checkpoint_paths(store: Store, run_ids: list[int]) -> list[str]:
    return [r["path"] for r in store.all(
        f"SELECT path FROM checkpoints WHERE run_id IN ({_marks(run_ids)}) ORDER BY id", run_ids)]


def count_comparisons(store: Store, run_ids: list[int]) -> int:
    return store.one(f"SELECT count(*) AS n FROM comparisons WHERE run_id IN ({_marks(run_ids)})", run_ids)["n"]


def count_generations(store: Store, model_id: int) -> int:
    return store.one("SELECT count(*) AS n FROM generations WHERE model_id = ?", [model_id])["n"]


def list_exports(store: Store) -> list[dict]:
    """Every export, oldest first, with the run or model it came from."""
    return store.all("SELECT e.id, e.path, e.created_at, json_extract(e.settings, '$.format') AS format, "
                     "json_extract(e.settings, '$.quant') AS quant, "
                     "json_extract(e.settings, '$.adapter_only') AS adapter_only, "
                     "r.name AS run, m.name AS model FROM exports e LEFT JOIN runs r ON r.id = e.run_id "
                     "LEFT JOIN models m ON m.id = e.model_id ORDER BY e.id")


def exports_of(store: Store, run_ids: list[int], model_id: int | None = None) -> list[dict]:
    """(id, path) of the exports of the runs ``run_ids`` or of the model ``model_id``."""
    return store.all(f"SELECT id, path FROM exports WHERE run_id IN ({_marks(run_ids)}) OR model_id = ? "
                     "ORDER BY id", [*run_ids, model_id])


def export_row(store: Store, export_id: int) -> dict | None:
    return store.one("SELECT * FROM exports WHERE id = ?", [export_id])


def delete_export_row(store: Store, export_id: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM exports WHERE id = ?", [export_id])


def delete_runs(store: Store, run_ids: list[int]) -> None:
    """The runs with their iterations, checkpoints and comparisons (by cascade) and the
    records of their exports; ratings given in comparisons stay."""
    with store.transaction() as db:
        db.execute(f"DELETE FROM exports WHERE run_id IN ({_marks(run_ids)})", run_ids)
        db.execute(f"DELETE FROM runs WHERE id IN ({_marks(run_ids)})", run_ids)


def delete_model(store: Store, model_id: int) -> None:
    """A model with its runs, the records of its and their exports, and the answers it wrote
    (their queued pairs by cascade; ratings of them keep their texts), in one transaction."""
    with store.transaction() as db:
        delete_runs(store, [r["id"] for r in runs_of_model(store, model_id)])
        db.execute("DELETE FROM exports WHERE model_id = ?", [model_id])
        db.execute("DELETE FROM generations WHERE model_id = ?", [model_id])
        db.execute("DELETE FROM models WHERE id = ?", [model_id])


def reward_versions(store: Store, name: str) -> list[dict]:
    return store.all("SELECT id, name, version, path FROM reward_models WHERE name = ? ORDER BY version", [name])


def rename_reward(store: Store, old: str, new: str, paths: dict[int, str]) -> None:
    """Every version of reward model ``old`` becomes ``new``, each with its new folder path."""
    if store.one("SELECT id FROM reward_models WHERE name = ?", [new]):
        raise InputError(f"A reward model named '{new}' exists already. Choose another name.")
    with store.transaction() as db:
        for rid, path in paths.items():
            db.execute("UPDATE reward_models SET name = ?, path = ? WHERE id = ?", [new, path, rid])


def delete_reward_models(store: Store, ids: list[int]) -> None:
    """The reward models ``ids``; runs that used them are kept, without a reward model."""
    with store.transaction() as db:
        db.execute(f"UPDATE runs SET reward_model_id = NULL WHERE reward_model_id IN ({_marks(ids)})", ids)
        db.execute(f"DELETE FROM reward_models WHERE id IN ({_marks(ids)})", ids)


def rename_run(store: Store, run_id: int, new: str, checkpoint_moves: dict[str, str]) -> None:
    """The run's new name and its checkpoints' new paths, together."""
    with store.transaction() as db:
        rename_row(store, "runs", run_id, new)
        for old, path in checkpoint_moves.items():
            db.execute("UPDATE checkpoints SET path = ? WHERE run_id = ? AND path = ?", [path, run_id, old])


def delete_prompt_set(store: Store, set_id: int) -> None:
    """The set and its prompts (answers written to them keep their prompt text)."""
    with store.transaction() as db:
        db.execute("DELETE FROM prompt_sets WHERE id = ?", [set_id])
