"""Rows of the reward_models table: each trained reward model, a numbered version of a name."""

from __future__ import annotations

from typing import Optional

from core.errors import NotFoundError
from core.store.database import Store


def find_reward_model(store: Store, name: str, version: Optional[int] = None) -> dict:
    """The reward model ``name`` (its newest version unless ``version`` is given), or an error
    that lists the names there are."""
    sql = "SELECT * FROM reward_models WHERE name = ?" + (" AND version = ?" if version else "")
    row = store.one(sql + " ORDER BY version DESC LIMIT 1", [name, version] if version else [name])
    if row is None:
        names = sorted({r["name"] for r in store.all("SELECT name FROM reward_models")})
        hint = f" Known: {', '.join(names)}." if names else " Train one: superhf reward train"
        raise NotFoundError(f"No reward model named '{name}'{f' version {version}' if version else ''}.{hint}")
    return row


def reward_model_row(store: Store, reward_model_id: int) -> Optional[dict]:
    return store.one("SELECT * FROM reward_models WHERE id = ?", [reward_model_id])


def latest_reward_model(store: Store) -> Optional[dict]:
    return store.one("SELECT * FROM reward_models ORDER BY created_at DESC, id DESC LIMIT 1")


def list_reward_models(store: Store) -> list[dict]:
    """Every reward model by name and version, with its held-out accuracy and the stored 95%
    interval around it (``low``, ``high``; None for a model trained before intervals were kept)."""
    return store.all("SELECT r.id, r.name, r.version, r.accuracy, r.created_at, m.name AS base_model, "
                     "json_extract(r.settings, '$.mode') AS mode, json_extract(r.data, '$.pairs') AS pairs, "
                     "json_extract(r.data, '$.accuracy_low') AS low, json_extract(r.data, '$.accuracy_high') AS high "
                     "FROM reward_models r LEFT JOIN models m ON m.id = r.base_model_id ORDER BY r.name, r.version")


def reward_model_names(store: Store) -> list[str]:
    """Each name once, the most recently trained first."""
    return [r["name"] for r in store.all("SELECT DISTINCT name FROM reward_models ORDER BY id DESC")]


def next_version(store: Store, name: str) -> int:
    return (store.one("SELECT max(version) AS v FROM reward_models WHERE name = ?", [name])["v"] or 0) + 1


def insert_reward_model(store: Store, row: dict) -> int:
    with store.transaction() as db:
        return db["reward_models"].insert(row).last_pk
