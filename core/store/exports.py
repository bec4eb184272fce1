"""Rows of the exports table: where a model was exported to, and how."""

from __future__ import annotations

from core.store.database import Store


def record_export(store: Store, row: dict) -> None:
    with store.transaction() as db:
        db["exports"].insert(row)


def count_exports(store: Store) -> int:
    return store.count("exports")
