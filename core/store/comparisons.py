"""Rows of the comparisons table: a base and a tuned answer to one prompt, shown blind, and
the person's choice between them."""

from __future__ import annotations

from typing import Optional

from core.store.database import Store, now


def add_comparisons(store: Store, rows: list[dict]) -> None:
    with store.transaction() as db:
        for row in rows:
            db["comparisons"].insert(row)


def open_comparison_rows(store: Store, run_id: int) -> list[dict]:
    """The run's comparisons without a choice yet, oldest first."""
    return store.all("SELECT * FROM comparisons WHERE run_id = ? AND choice IS NULL ORDER BY id", [run_id])


def comparison_row(store: Store, comparison_id: int) -> Optional[dict]:
    return store.one("SELECT * FROM comparisons WHERE id = ?", [comparison_id])


def record_choice(store: Store, comparison_id: int, choice: str, rating_id: Optional[int]) -> None:
    with store.transaction() as db:
        db.execute("UPDATE comparisons SET choice = ?, rating_id = ?, answered_at = ? WHERE id = ?",
                   [choice, rating_id, now(), comparison_id])


def answered_comparison(store: Store, comparison_id: int) -> Optional[dict]:
    """(rating_id) of the comparison if it has a choice, else None."""
    return store.one("SELECT rating_id FROM comparisons WHERE id = ? AND choice IS NOT NULL", [comparison_id])


def clear_choice(store: Store, comparison_id: int) -> None:
    with store.transaction() as db:
        db.execute("UPDATE comparisons SET choice = NULL, rating_id = NULL, answered_at = NULL WHERE id = ?",
                   [comparison_id])


def choice_counts(store: Store, run_id: int) -> dict[str, int]:
    """{choice: how often} over the run's answered comparisons."""
    return {r["choice"]: r["n"] for r in store.all(
        "SELECT choice, count(*) AS n FROM comparisons WHERE run_id = ? AND choice IS NOT NULL GROUP BY choice",
        [run_id])}
