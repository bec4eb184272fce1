"""Editing a prompt set: change a prompt's text, delete prompts, move prompts between the
training and evaluation splits. Answers already written to a prompt keep their own copy of
its text, and ratings are never touched."""

from __future__ import annotations

from core.errors import InputError, NotFoundError
from core.store.database import Store
from core.store.prompts import SPLITS


def _set_id(store: Store, set_name: str) -> int:
    return store.named("prompt_sets", set_name, "prompt set", "Import some with 'superhf prompts import'.")["id"]


def _check_ids(store: Store, set_id: int, set_name: str, ids: list[int]) -> list[int]:
    if not ids:
        raise InputError("Name at least one prompt by its id ('superhf prompts show SET' lists them).")
    ids = sorted(set(int(i) for i in ids))
    found = {r["id"] for r in store.all(
        f"SELECT id FROM prompts WHERE set_id = ? AND id IN ({','.join('?' for _ in ids)})", [set_id, *ids])}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"Set '{set_name}' has no prompt with id {', '.join(map(str, missing))}. "
                            f"'superhf prompts show {set_name}' lists its prompts with their ids.")
    return ids


def edit_prompt(store: Store, set_name: str, prompt_id: int, text: str) -> dict:
    """Give prompt ``prompt_id`` of the set a new text (stripped, not empty, not already in the set)."""
    set_id = _set_id(store, set_name)
    _check_ids(store, set_id, set_name, [prompt_id])
    text = (text or "").strip()
    if not text:
        raise InputError("A prompt cannot be empty. Type its new text, or delete the prompt instead.")
    if store.one("SELECT id FROM prompts WHERE set_id = ? AND text = ? AND id != ?", [set_id, text, prompt_id]):
        raise InputError(f"Set '{set_name}' has this prompt already. Change the text, or delete this one instead.")
    with store.transaction() as db:
        db.execute("UPDATE prompts SET text = ? WHERE id = ?", [text, prompt_id])
    return store.one("SELECT id, text, split FROM prompts WHERE id = ?", [prompt_id])


def chosen_prompts(store: Store, set_name: str, ids: list[int]) -> list[dict]:
    """(id, text) of prompts ``ids`` of the set, in id order, or a plain refusal naming those
    it does not have: what a delete shows before it asks."""
    set_id = _set_id(store, set_name)
    ids = _check_ids(store, set_id, set_name, ids)
    return store.all(f"SELECT id, text FROM prompts WHERE id IN ({','.join('?' for _ in ids)}) ORDER BY id", ids)


def delete_prompts(store: Store, set_name: str, ids: list[int]) -> int:
    """Delete prompts of the set; returns how many went."""
    set_id = _set_id(store, set_name)
    ids = _check_ids(store, set_id, set_name, ids)
    with store.transaction() as db:
        db.execute(f"DELETE FROM prompts WHERE set_id = ? AND id IN ({','.join('?' for _ in ids)})", [set_id, *ids])
    return len(ids)


def move_prompts(store: Store, set_name: str, ids: list[int], split: str) -> int:
    """Put prompts of the set into ``split`` ('train' or 'eval'); returns how many changed side."""
    if split not in SPLITS:
        raise InputError(f"Prompts move to 'train' or 'eval', not '{split}'.")
    set_id = _set_id(store, set_name)
    ids = _check_ids(store, set_id, set_name, ids)
    with store.transaction() as db:
        cursor = db.execute(f"UPDATE prompts SET split = ? WHERE set_id = ? AND split != ? AND id IN "
                            f"({','.join('?' for _ in ids)})", [split, set_id, split, *ids])
    return cursor.rowcount
