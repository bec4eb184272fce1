"""Texts the person keeps in the workspace, by name: the team's rating guidelines."""

from __future__ import annotations

from core.errors import InputError
from core.store.database import Store, now

GUIDELINES = "guidelines"
MAX_CHARS = 20_000  # a page or two of guidance; more is not read beside a pair


def get_text(store: Store, name: str) -> str:
    row = store.one("SELECT body FROM texts WHERE name = ?", [name])
    return row["body"] if row else ""


def set_text(store: Store, name: str, body: str) -> None:
    with store.transaction() as db:
        db.execute("INSERT INTO texts (name, body, updated_at) VALUES (?, ?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                   [name, body, now()])


def save_guidelines(store: Store, body: str) -> str:
    """Store the rating guidelines (an empty text removes them); returns what was stored."""
    body = body.strip()
    if len(body) > MAX_CHARS:
        raise InputError(f"The guidelines are {len(body):,} characters long; keep them under {MAX_CHARS:,} "
                         "(a page or two) so they can be read beside each pair. Nothing was changed.")
    set_text(store, GUIDELINES, body)
    return body
