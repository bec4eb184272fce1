"""Rows of the models table: the models of the workspace (imported, starter, tuned)."""

from __future__ import annotations

from typing import Optional

from core.store.database import Store


def get_model(store: Store, name: str) -> dict:
    """The model called ``name``, or an error that lists the models there are."""
    return store.model(name)


def find_model(store: Store, name: str) -> Optional[dict]:
    return store.one("SELECT * FROM models WHERE name = ?", [name])


def model_row(store: Store, model_id: int) -> Optional[dict]:
    return store.one("SELECT * FROM models WHERE id = ?", [model_id])


def model_exists(store: Store, name: str) -> bool:
    return store.one("SELECT id FROM models WHERE name = ?", [name]) is not None


def insert_model(store: Store, row: dict) -> int:
    with store.transaction() as db:
        return db["models"].insert(row).last_pk


def list_models(store: Store) -> list[dict]:
    """Every model, oldest first."""
    return store.all("SELECT * FROM models ORDER BY created_at, id")


def base_models(store: Store) -> list[dict]:
    """Models to start from (name, kind, parameters): every one but tuned ones, in import order."""
    return store.all("SELECT name, kind, parameters FROM models WHERE kind != 'tuned' ORDER BY id")


def newest_base_model(store: Store) -> Optional[dict]:
    """The most recently imported model that is not a tuned one."""
    return store.one("SELECT * FROM models WHERE kind != 'tuned' ORDER BY created_at DESC, id DESC LIMIT 1")


def count_models(store: Store) -> int:
    return store.count("models")
