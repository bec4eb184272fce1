"""The SQLite store: one file in the workspace, WAL mode so the GUI can read while a job
writes, foreign keys on, schema kept by ``core.store.migrations``.

A connection belongs to the thread that opened it: a worker thread opens its own ``Store``.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import sqlite_utils

from core.errors import InputError, NotFoundError
from core.store.migrations import NewerDatabase, migrate, now
from core.store.workspace import Workspace, open_workspace

BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another process's write to end


class Store:
    """The workspace's database, with the few helpers every module needs."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        try:
            conn = sqlite3.connect(str(workspace.db_path), timeout=BUSY_TIMEOUT_MS / 1000)
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: no corruption on crash
            migrate(self.db, backup=self.backup)
        except NewerDatabase as e:
            conn.close()
            raise InputError(str(e)) from None
        except sqlite3.OperationalError as e:  # the disk or the file system, not the file's contents
            raise InputError(
                f"The workspace database {workspace.db_path} cannot be used: {e}. Check that the disk has free "
                "space and the folder is writable, then try again.") from e
        except sqlite3.DatabaseError as e:
            raise InputError(
                f"The workspace database {workspace.db_path} cannot be opened: {e}. If the file is damaged, "
                f"restore the newest copy from {workspace.home / 'backups'} or start a new workspace with --home."
            ) from e

    def backup(self) -> Path:
        """A consistent copy of the database (SQLite's online backup) in the workspace's
        backups/ folder; the newest five are kept."""
        folder = self.workspace.home / "backups"
        folder.mkdir(exist_ok=True)
        target = folder / f"superhf-{now().replace(':', '').replace('-', '')[:15]}.db"
        copy = sqlite3.connect(str(target))
        try:
            self.db.conn.backup(copy)
        finally:
            copy.close()
        for old in sorted(folder.glob("superhf-*.db"))[:-5]:
            old.unlink()
        return target

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """All writes inside commit together or not at all. Nested inside another, it is a
        savepoint of the outer one, which alone commits."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.conn.commit()

    def one(self, sql: str, params: Any = ()) -> Optional[dict]:
        cursor = self.db.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([c[0] for c in cursor.description], row))

    def all(self, sql: str, params: Any = ()) -> list[dict]:
        cursor = self.db.execute(sql, params)
        cols = [c[0] for c in cursor.description]
        return [dict(zip(cols, row)) for row in cursor.fetchall()]

    def count(self, table: str) -> int:
        return self.db[table].count

    def named(self, table: str, name: str, what: str, how_to_add: str) -> dict:
        """The row of ``table`` called ``name``, or an error that lists the names there are."""
        row = self.one(f"SELECT * FROM {table} WHERE name = ?", [name])
        if row is None:
            names = [r["name"] for r in self.all(f"SELECT name FROM {table} ORDER BY id")]
            hint = f" Known: {', '.join(names)}." if names else f" {how_to_add}"
            raise NotFoundError(f"No {what} named '{name}'.{hint}")
        return row

    def model(self, name: str) -> dict:
        return self.named("models", name, "model", "Import one with 'superhf model import'.")


def open_store(home=None) -> Store:
    return Store(open_workspace(home))


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


__all__ = ["Store", "open_store", "to_json", "now"]
