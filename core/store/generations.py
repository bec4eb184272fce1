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
    """(id, prompt, completion, finished) of the oldest non-empty answer nobody has scored 1-5 yet."""
    return store.one(
        "SELECT g.id, g.prompt, g.completion, g.finished FROM generations g WHERE trim(g.completion) != '' AND NOT EXISTS "
        "(SELECT 1 FROM ratings r WHERE r.kind = 'score' AND r.prompt = g.prompt AND r.completion = g.completion) "
        "ORDER BY g.id LIMIT 1")


def count_generations(store: Store) -> int:
    return store.count("generations")


def answers_for_prompts(store: Store, prompts: list[str], model_id: int) -> list[dict]:
    """(prompt, completion, finished) of every different non-empty answer ``model_id`` gave to
    one of ``prompts``, oldest first."""
    rows: list[dict] = []
    for start in range(0, len(prompts), 500):  # SQLite caps the number of ? in one statement
        part = list(prompts[start:start + 500])
        marks = ",".join("?" for _ in part)
        rows += store.all(
            f"SELECT prompt, completion, max(finished) AS finished, min(id) AS first FROM generations "
            f"WHERE model_id = ? AND prompt IN ({marks}) AND trim(completion) != '' "
            "GROUP BY prompt, completion", [model_id, *part])
    return [{k: r[k] for k in ("prompt", "completion", "finished")} for r in sorted(rows, key=lambda r: r["first"])]
