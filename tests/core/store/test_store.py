"""The SQLite store on real files: migrations, WAL, foreign keys, transactions, a second
process reading while one writes, and a damaged file."""

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from core.errors import InputError
from core.store.migrations import MIGRATIONS, migrate
from core.store.database import open_store

TABLES = {"models", "prompt_sets", "prompts", "generations", "ratings", "reward_models", "runs",
          "iterations", "checkpoints", "exports", "_migrations"}


def test_new_store_has_every_table_and_records_its_migrations(store):
    assert TABLES <= set(store.db.table_names())
    names = [r["name"] for r in store.all("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(fn.__name__ for fn in MIGRATIONS)


def test_reopening_runs_no_migration_twice(home):
    with open_store(home) as first:
        applied = first.all("SELECT * FROM _migrations")
    with open_store(home) as second:
        assert migrate(second.db) == []
        assert second.all("SELECT * FROM _migrations") == applied


def test_wal_mode_and_foreign_keys_are_on(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        with store.transaction() as db:
            db.execute("INSERT INTO prompts (set_id, text, split, created_at) VALUES (999, 'x', 'train', 'now')")
    assert store.count("prompts") == 0


def test_a_failed_transaction_stores_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db["prompt_sets"].insert({"name": "a", "created_at": "now"})
            raise RuntimeError("boom")
    assert store.count("prompt_sets") == 0


def test_a_second_process_reads_while_another_holds_the_write_lock(home, store):
    with store.transaction() as db:
        db["prompt_sets"].insert({"name": "committed", "created_at": "now"})
    reader = textwrap.dedent(f"""
        from core.store.database import open_store
        with open_store({str(home)!r}) as s:
            print(s.count("prompt_sets"))
    """)
    # A long job mid-write, not yet committed. EXCLUSIVE would lock readers out in SQLite's
    # rollback-journal mode; in WAL mode they go on reading the last committed state.
    store.db.execute("BEGIN EXCLUSIVE")
    store.db.execute("INSERT INTO prompt_sets (name, created_at) VALUES ('uncommitted', 'now')")
    try:
        seen = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=20)
    finally:
        store.db.conn.commit()
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == "1"  # the committed row, without waiting for the writer
    seen = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=20)
    assert seen.stdout.strip() == "2"


def test_a_damaged_database_file_is_refused_and_left_as_it_was(home):
    home.mkdir(parents=True)
    damaged = home / "superhf.db"
    damaged.write_bytes(b"this is not a database" * 100)
    before = damaged.read_bytes()
    with pytest.raises(InputError, match="cannot be opened"):
        open_store(home)
    assert damaged.read_bytes() == before


def test_a_workspace_that_is_a_file_is_refused(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        open_store(not_a_folder)


def test_the_workspace_follows_superhf_home(home):
    with open_store() as s:
        assert s.workspace.home == home.resolve()
        assert (home / "superhf.db").is_file()
        assert s.workspace.models_dir.is_dir() and s.workspace.checkpoints_dir.is_dir()


def test_scratch_left_by_a_killed_process_is_swept_when_old(home):
    import os
    import time

    with open_store(home) as s:
        old, young = s.workspace.tmp_dir / "import-old", s.workspace.tmp_dir / "import-young"
        old.mkdir()
        (old / "model.safetensors").write_bytes(b"half")
        young.mkdir()
        day_ago = time.time() - 2 * 24 * 3600
        os.utime(old, (day_ago, day_ago))
    with open_store(home):
        assert not old.exists()  # a killed import's leftovers
        assert young.exists()  # may be another process's work in progress


def test_what_a_killed_removal_set_aside_is_swept_when_old(home):
    import os
    import time

    from core.journey.tidy import set_aside

    with open_store(home) as s:
        model = s.workspace.models_dir / "starter"  # imported long ago, then removed
        model.mkdir()
        (model / "model.safetensors").write_bytes(b"weights")
        checkpoint = s.workspace.checkpoints_dir / "first"
        checkpoint.mkdir()
        lock = s.workspace.checkpoints_dir / ".first.lock"  # a run's lock: not set aside, never swept
        lock.write_text("")
        long_ago = time.time() - 30 * 24 * 3600
        for path in (model, checkpoint, lock):
            os.utime(path, (long_ago, long_ago))
        aside = set_aside([model, checkpoint])  # the removal is killed before it removes them
    assert [p.name.startswith((".starter.deleting-", ".first.deleting-")) for p in aside] == [True, True]
    with open_store(home):
        assert all(p.exists() for p in aside)  # set aside just now: another process may be removing it
    two_hours_ago = time.time() - 2 * 3600
    for path in aside:
        os.utime(path, (two_hours_ago, two_hours_ago))
    with open_store(home):
        assert not any(p.exists() for p in aside)
        assert lock.exists()


def test_a_nested_transaction_commits_or_fails_with_the_outer_one(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db["prompt_sets"].insert({"name": "outer", "created_at": "now"})
            with store.transaction() as inner:
                inner["prompt_sets"].insert({"name": "inner", "created_at": "now"})
            raise RuntimeError("boom")
    assert store.count("prompt_sets") == 0
    with store.transaction() as db:
        with store.transaction() as inner:
            inner["prompt_sets"].insert({"name": "inner", "created_at": "now"})
        db["prompt_sets"].insert({"name": "outer", "created_at": "now"})
    assert store.count("prompt_sets") == 2
