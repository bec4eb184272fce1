"""Schema migrations: an ordered list of small named functions, each recorded in the
``_migrations`` table when it has run. Never edit a released migration; append a new one."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

import sqlite_utils

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]):
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    _run_script(db, """
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('folder', 'gguf', 'starter', 'tuned')),
            source TEXT NOT NULL,          -- what the user pointed at
            path TEXT NOT NULL,            -- the safetensors folder that is loaded
            architecture TEXT,
            parameters INTEGER,
            settings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        CREATE TABLE prompt_sets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES prompt_sets(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            split TEXT NOT NULL CHECK (split IN ('train', 'eval')),
            created_at TEXT NOT NULL,
            UNIQUE (set_id, text)
        );
        CREATE TABLE generations (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models(id),
            prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
            prompt TEXT NOT NULL,
            completion TEXT NOT NULL,
            finished INTEGER NOT NULL,     -- 1: stopped at EOS; 0: cut at max_new_tokens
            new_tokens INTEGER NOT NULL,
            settings TEXT NOT NULL,        -- sampling settings and seed, as JSON
            created_at TEXT NOT NULL
        );
        CREATE INDEX generations_prompt ON generations(prompt);
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('pair', 'score')),
            prompt TEXT NOT NULL,
            -- pair: chosen/rejected with outcome 'chosen' (chosen is preferred), 'tie' or 'skip'
            chosen TEXT,
            rejected TEXT,
            outcome TEXT CHECK (outcome IN ('chosen', 'tie', 'skip')),
            -- score: one completion rated 1..5
            completion TEXT,
            score INTEGER CHECK (score BETWEEN 1 AND 5),
            generation_a INTEGER REFERENCES generations(id) ON DELETE SET NULL,
            generation_b INTEGER REFERENCES generations(id) ON DELETE SET NULL,
            source TEXT NOT NULL,          -- 'app', or the file it was imported from
            fingerprint TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            CHECK ((kind = 'pair' AND chosen IS NOT NULL AND rejected IS NOT NULL AND outcome IS NOT NULL)
                OR (kind = 'score' AND completion IS NOT NULL AND score IS NOT NULL))
        );
        CREATE TABLE reward_models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            base_model_id INTEGER REFERENCES models(id),
            path TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            data TEXT NOT NULL DEFAULT '{}',   -- which ratings it was trained on
            accuracy REAL,
            created_at TEXT NOT NULL,
            UNIQUE (name, version)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            model_id INTEGER NOT NULL REFERENCES models(id),
            reward_model_id INTEGER REFERENCES reward_models(id),
            prompt_set_id INTEGER REFERENCES prompt_sets(id),
            config TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('created', 'running', 'paused', 'cancelled',
                                                   'failed', 'finished')),
            error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE iterations (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            iteration INTEGER NOT NULL,
            metrics TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (run_id, iteration)
        );
        CREATE TABLE checkpoints (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            iteration INTEGER NOT NULL,
            path TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
            path TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL
        );
        """)


@migration
def m002_pair_queue(db: sqlite_utils.Database) -> None:
    """Pairs chosen for a person to rate next, with the reward model's guess at the time, so
    the app can show how often person and model agree as ratings accumulate."""
    _run_script(db, """
        CREATE TABLE pair_queue (
            id INTEGER PRIMARY KEY,
            prompt TEXT NOT NULL,
            generation_a INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
            generation_b INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
            reward_model_id INTEGER REFERENCES reward_models(id) ON DELETE SET NULL,
            guess REAL,                    -- the reward model's P(a is preferred); NULL without one
            reason TEXT NOT NULL,          -- 'uncertain' or 'diverse'
            rating_id INTEGER REFERENCES ratings(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            answered_at TEXT
        );
        CREATE INDEX pair_queue_open ON pair_queue(rating_id);
        """)


@migration
def m003_comparisons(db: sqlite_utils.Database) -> None:
    """Blind comparisons of a run's tuned answers with its base model's, on evaluation
    prompts: which side showed which, and the person's rating (stored with the others)."""
    _run_script(db, """
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            iteration INTEGER NOT NULL,    -- the checkpoint compared
            prompt TEXT NOT NULL,
            base TEXT NOT NULL,
            tuned TEXT NOT NULL,
            tuned_on_left INTEGER NOT NULL,
            choice TEXT CHECK (choice IN ('base', 'tuned', 'tie', 'skip')),
            rating_id INTEGER REFERENCES ratings(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            answered_at TEXT
        );
        CREATE INDEX comparisons_run ON comparisons(run_id);
        """)


@migration
def m004_guided_rating(db: sqlite_utils.Database) -> None:
    """Guided rating: a queued pair can be answered with several ratings ("both bad" scores
    both answers; "write a better answer" prefers the person's text to each), so each rating
    records the pair it answered and undo takes them all back; the pair keeps the person's
    choice for the history. A small table of workspace texts holds the rating guidelines."""
    _run_script(db, """
        ALTER TABLE ratings ADD COLUMN pair_id INTEGER REFERENCES pair_queue(id) ON DELETE SET NULL;
        UPDATE ratings SET pair_id = (SELECT q.id FROM pair_queue q WHERE q.rating_id = ratings.id);
        CREATE INDEX ratings_pair ON ratings(pair_id);
        ALTER TABLE pair_queue ADD COLUMN choice TEXT;
        UPDATE pair_queue SET choice = (
            SELECT CASE WHEN r.outcome != 'chosen' THEN r.outcome WHEN r.chosen = g.completion THEN 'a' ELSE 'b' END
            FROM ratings r JOIN generations g ON g.id = pair_queue.generation_a WHERE r.id = pair_queue.rating_id)
        WHERE rating_id IS NOT NULL;
        CREATE TABLE texts (
            name TEXT PRIMARY KEY,         -- 'guidelines'
            body TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """)


def _run_script(db: sqlite_utils.Database, script: str) -> None:
    # Not executescript(): it commits first, and a migration must be one transaction.
    for statement in script.split(";\n"):
        if statement.strip():
            db.execute(statement)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class NewerDatabase(Exception):
    """The database records migrations this version does not know."""


def migrate(db: sqlite_utils.Database, backup=None) -> list[str]:
    """Run every migration not yet recorded; return the names of those that ran. ``backup()``
    is called first when an existing database is about to change."""
    if "_migrations" not in db.table_names():
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    unknown = sorted(done - {fn.__name__ for fn in MIGRATIONS})
    if unknown:
        raise NewerDatabase(f"This workspace was written by a newer version of SuperHF Studio (it has "
                            f"{', '.join(unknown)}). Update the app to open it; it was left untouched.")
    if done and backup is not None and any(fn.__name__ not in done for fn in MIGRATIONS):
        backup()  # an existing database is copied before its schema changes
    ran = []
    for fn in MIGRATIONS:
        if fn.__name__ in done:  # checked without a write lock: opening a current store never waits
            continue
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening a new store at
        # once cannot both run a migration: the second waits, then sees it recorded.
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [fn.__name__]).fetchone():
                db.conn.rollback()
                continue
            fn(db)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [fn.__name__, now()])
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
        ran.append(fn.__name__)
    return ran
