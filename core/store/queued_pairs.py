"""Rows of the pair_queue table: pairs of stored answers chosen to be rated next, with the
reward model's guess, closed by the rating the person gives."""

from __future__ import annotations

from typing import Optional

from core.store.database import Store, now

_WITH_ANSWERS = ("SELECT q.*, ga.completion AS a, gb.completion AS b, ga.finished AS a_finished, "
                 "gb.finished AS b_finished FROM pair_queue q "
                 "JOIN generations ga ON ga.id = q.generation_a JOIN generations gb ON gb.id = q.generation_b ")


def queued_generation_pairs(store: Store) -> set[tuple[int, int]]:
    """(generation_a, generation_b) of every pair ever queued, answered or not."""
    return {(r["generation_a"], r["generation_b"]) for r in store.all(
        "SELECT generation_a, generation_b FROM pair_queue")}


def open_queue(store: Store) -> list[dict]:
    """The unanswered queued pairs with their answers as ``a`` and ``b``, oldest first."""
    return store.all(_WITH_ANSWERS + "WHERE q.answered_at IS NULL ORDER BY q.id")


def queued_pair(store: Store, pair_id: int) -> Optional[dict]:
    return store.one(_WITH_ANSWERS + "WHERE q.id = ?", [pair_id])


def add_to_queue(store: Store, rows: list[dict]) -> None:
    with store.transaction() as db:
        for row in rows:
            db["pair_queue"].insert(row)


def close_pair(store: Store, pair_id: int, rating_id: Optional[int], choice: str) -> None:
    with store.transaction() as db:
        db.execute("UPDATE pair_queue SET rating_id = ?, choice = ?, answered_at = ? WHERE id = ?",
                   [rating_id, choice, now(), pair_id])


def reopen_pair(store: Store, pair_id: int) -> None:
    with store.transaction() as db:
        db.execute("UPDATE pair_queue SET rating_id = NULL, choice = NULL, answered_at = NULL WHERE id = ?", [pair_id])


def guessed_and_chosen(store: Store) -> list[dict]:
    """(guess, chosen, a) of every answered queued pair the model made a guess on and the
    person chose a winner in, in the order they were answered."""
    return store.all("SELECT q.guess, r.chosen, ga.completion AS a FROM pair_queue q "
                     "JOIN ratings r ON r.id = q.rating_id JOIN generations ga ON ga.id = q.generation_a "
                     "WHERE q.guess IS NOT NULL AND r.outcome = 'chosen' ORDER BY q.answered_at, q.id")
