"""SuperHF runs in the store: created with their settings, iterations recorded with their
metrics, checkpoints recorded once safely on disk, status kept current."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Optional

from core.errors import InputError
from core.store.database import Store, now, to_json
from core.store.workspace import check_folder_name

STATUSES = ("created", "running", "paused", "cancelled", "failed", "finished")


def create_run(store: Store, *, name: Optional[str], model_id: int, reward_model_id: int,
               prompt_set_id: Optional[int], config: dict) -> dict:
    if name is None:
        count = store.one("SELECT count(*) AS n FROM runs")["n"]
        name = f"run-{count + 1}"
        while store.one("SELECT id FROM runs WHERE name = ?", [name]):
            count += 1
            name = f"run-{count + 1}"
    check_folder_name(name, "run")
    if store.one("SELECT id FROM runs WHERE name = ?", [name]):
        raise InputError(f"A run named '{name}' exists already. Resume it with 'superhf resume {name}', "
                         "or pick another name with --name.")
    stamp = now()
    with store.transaction() as db:
        db["runs"].insert({"name": name, "model_id": model_id, "reward_model_id": reward_model_id,
                           "prompt_set_id": prompt_set_id, "config": to_json(config), "status": "created",
                           "created_at": stamp, "updated_at": stamp})
    return get_run(store, name)


def get_run(store: Store, name: str) -> dict:
    return store.named("runs", name, "run", "Start one with 'superhf train'.")


def set_status(store: Store, run_id: int, status: str, error: Optional[str] = None) -> None:
    assert status in STATUSES
    with store.transaction() as db:
        db.execute("UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                   [status, error, now(), run_id])


def record_iteration(store: Store, run_id: int, iteration: int, metrics: dict,
                     checkpoint_path: Optional[str]) -> None:
    """The iteration's metrics and its checkpoint, together: a resumed run never sees one
    without the other."""
    stamp = now()
    with store.transaction() as db:
        db.execute("DELETE FROM iterations WHERE run_id = ? AND iteration >= ?", [run_id, iteration])
        db["iterations"].insert({"run_id": run_id, "iteration": iteration, "metrics": to_json(metrics),
                                 "created_at": stamp})
        if checkpoint_path is not None:
            db["checkpoints"].insert({"run_id": run_id, "iteration": iteration, "path": checkpoint_path,
                                      "created_at": stamp})
        db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", [stamp, run_id])


def last_checkpoint(store: Store, run_id: int) -> Optional[dict]:
    return store.one("SELECT * FROM checkpoints WHERE run_id = ? ORDER BY iteration DESC, id DESC LIMIT 1",
                     [run_id])


def iterations(store: Store, run_id: int) -> list[dict]:
    rows = store.all("SELECT iteration, metrics, created_at FROM iterations WHERE run_id = ? ORDER BY iteration",
                     [run_id])
    return [{"iteration": r["iteration"], **json.loads(r["metrics"]), "created_at": r["created_at"]} for r in rows]


def list_runs(store: Store) -> list[dict]:
    return store.all(
        "SELECT r.name, r.status, r.created_at, r.updated_at, m.name AS model, "
        "json_extract(r.config, '$.iterations') AS iterations, "
        "(SELECT max(iteration) FROM iterations i WHERE i.run_id = r.id) AS done, "
        "w.name AS reward, w.version AS reward_version "
        "FROM runs r JOIN models m ON m.id = r.model_id LEFT JOIN reward_models w ON w.id = r.reward_model_id "
        "ORDER BY r.id")


def find_run(store: Store, name: str) -> Optional[dict]:
    """The run called ``name``, or None."""
    return store.one("SELECT * FROM runs WHERE name = ?", [name])


def run_exists(store: Store, name: str) -> bool:
    return store.one("SELECT id FROM runs WHERE name = ?", [name]) is not None


def iteration_metrics(store: Store, run_id: int, iteration: int) -> Optional[dict]:
    """The recorded metrics of one iteration of a run, or None if it was not recorded."""
    row = store.one("SELECT metrics FROM iterations WHERE run_id = ? AND iteration = ?", [run_id, iteration])
    return json.loads(row["metrics"]) if row else None


def measured_rounds(store: Store, model: str, limit: int = 20) -> list[dict]:
    """The newest ``limit`` recorded rounds (iteration > 0) of runs that tuned the model named
    ``model``, newest first: each its run's id and settings (``config``), its iteration and its
    metrics, and the run's elapsed seconds at the round before (None for a run's first): what
    this computer measured, for estimating how long a new run will take."""
    rows = store.all(
        "SELECT i.run_id, i.iteration, i.metrics, r.config, "
        "(SELECT json_extract(p.metrics, '$.elapsed_seconds') FROM iterations p "
        " WHERE p.run_id = i.run_id AND p.iteration = i.iteration - 1 AND p.iteration > 0) AS elapsed_before "
        "FROM iterations i JOIN runs r ON r.id = i.run_id JOIN models m ON m.id = r.model_id "
        "WHERE m.name = ? AND i.iteration > 0 ORDER BY i.id DESC LIMIT ?", [model, limit])
    return [{**json.loads(r["metrics"]), "run_id": r["run_id"], "iteration": r["iteration"],
             "config": json.loads(r["config"]), "elapsed_before": r["elapsed_before"]} for r in rows]


def last_iterations(store: Store) -> dict[int, int]:
    """{run id: its last recorded iteration} of every run with one."""
    return {r["run_id"]: r["n"] for r in store.all("SELECT run_id, max(iteration) AS n FROM iterations GROUP BY run_id")}


def newest_runs(store: Store) -> list[dict]:
    """(id, name, status, config) of every run, the newest first."""
    return store.all("SELECT id, name, status, config FROM runs ORDER BY id DESC")


def checkpointed_runs(store: Store) -> list[str]:
    """Names of the runs with at least one checkpoint, oldest run first."""
    return [r["name"] for r in store.all(
        "SELECT r.name FROM runs r WHERE EXISTS (SELECT 1 FROM checkpoints c WHERE c.run_id = r.id) ORDER BY r.id")]


def drop_old_checkpoints(store: Store, run_id: int, keep: int) -> list[str]:
    """Forget all but the newest ``keep`` checkpoints of a run; returns the forgotten ones'
    paths, for the caller to delete."""
    rows = store.all("SELECT id, path FROM checkpoints WHERE run_id = ? ORDER BY iteration DESC, id DESC", [run_id])
    old = rows[keep:]
    if old:
        with store.transaction() as db:
            for r in old:
                db.execute("DELETE FROM checkpoints WHERE id = ?", [r["id"]])
    return [r["path"] for r in old]


@contextmanager
def run_lock(store: Store, name: str):
    """Held while a process trains run ``name``: a second process (the app and a terminal, say)
    is refused instead of writing the same checkpoints. The operating system releases it when
    the holder exits, even killed."""
    path = store.workspace.checkpoints_dir / f".{name}.lock"
    handle = open(path, "a+")
    try:
        if not _try_lock(handle):
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InputError(f"Run '{name}' is being trained by {holder} right now. Wait for it to finish or stop "
                             "it first; then resume.")
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def _try_lock(handle) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
