"""Rows of the generations table: answers a model gave to prompts, kept for rating."""

from __future__ import annotations

from typing import Optional

from core.store.database import Store


def add_generations(store: Store, rows: list[dict]) -> None:
    """Store answers together; each row gets its new ``id``."""
    with store.transaction() as db:
        for row in rows:
            row["id"] = db["generations"].insert(row).last_pk


def answers_to(store: Store, prompt: str) -> list[dict]:
    """(id, completion) of every stored answer to ``prompt``, oldest first."""
    return store.all("SELECT id, completion FROM generations WHERE prompt = ? ORDER BY id", [prompt])


def answer_counts(store: Store) -> dict[str, int]:
    """How many different non-empty answers each prompt has."""
    return {r["prompt"]: r["n"] for r in store.all(
        "SELECT prompt, count(DISTINCT completion) AS n FROM generations WHERE trim(completion) != '' "
        "GROUP BY prompt")}


def distinct_answers(store: Store) -> list[dict]:
    """(prompt, completion) of every different non-empty answer."""
    return store.all("SELECT DISTINCT prompt, completion FROM generations WHERE trim(completion) != ''")


def next_unscored(store: Store) -> Optional[dict]:
    """(id, prompt, completion) of the oldest non-empty answer nobody has scored 1-5 yet."""
    return store.one(
        "SELECT g.id, g.prompt, g.completion FROM generations g WHERE trim(g.completion) != '' AND NOT EXISTS "
        "(SELECT 1 FROM ratings r WHERE r.kind = 'score' AND r.prompt = g.prompt AND r.completion = g.completion) "
        "ORDER BY g.id LIMIT 1")


def count_generations(store: Store) -> int:
    return store.count("generations")
