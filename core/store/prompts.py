"""Prompt sets: import prompts from JSONL, CSV or plain text, split into training and
evaluation prompts, and read them back."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

from core.errors import InputError
from core.records import read_records, require_text
from core.store.database import Store, now

SPLITS = ("train", "eval")
EVAL_SHARE = 10  # without a split given, about 1 prompt in this many goes to evaluation...
MIN_SET_FOR_EVAL = 10  # ...once the set holds this many: 2 typed prompts are both for training


def auto_split(text: str) -> str:
    """A fixed split by the prompt's own hash: the same prompt always lands on the same side,
    whatever file or order it comes in, so re-imports never move prompts across."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:4], "big") % EVAL_SHARE == 0 else "train"


def parse_prompts(path: Path, split: Optional[str] = None) -> list[tuple[str, Optional[str]]]:
    """(text, split) of every prompt in a file, or an error naming the first bad line; the
    split is None where the file and ``split`` leave it to ``add_prompts``."""
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise InputError(f"The split must be 'train' or 'eval', not '{split}'.")
    parsed = []
    for n, record in read_records(path, text_field="prompt"):
        text = require_text(path.name, n, record, "prompt").strip()
        row_split = split or record.get("split") or None
        row_split = (row_split.strip() or None) if isinstance(row_split, str) else row_split
        if row_split is not None and row_split not in SPLITS:
            raise InputError(f"{path.name} line {n}: split must be 'train' or 'eval', not {row_split!r}.")
        parsed.append((text, row_split))
    return parsed


def import_prompts(store: Store, path: Path, *, set_name: Optional[str] = None,
                   split: Optional[str] = None) -> dict:
    """Add a file's prompts to a set (named after the file unless given). Prompts already in
    the set are left as they are, so importing the same file twice adds nothing."""
    path = Path(path).expanduser()
    parsed = parse_prompts(path, split)  # all checked before anything is written
    return add_prompts(store, parsed, set_name or path.stem)


def parse_typed(text: str) -> list[tuple[str, None]]:
    """Prompts typed or pasted one per line (blank lines ignored), split as on import."""
    lines = [line.strip() for line in text.splitlines()]
    return [(line, None) for line in lines if line]


def _resolve_splits(store: Store, parsed: list[tuple[str, Optional[str]]], set_id: Optional[int]) -> list:
    """Splits for the prompts given none: the side the same text has in another set (a prompt
    is never trained on in one set and evaluated in another); else by its hash
    (``auto_split``), evaluation only once the set will hold ``MIN_SET_FOR_EVAL`` prompts."""
    known = {}
    for start in range(0, len(parsed), 500):  # SQLite caps the number of ? in one statement
        texts = [t for t, _ in parsed[start:start + 500]]
        known.update((r["text"], r["split"]) for r in store.all(
            f"SELECT text, min(split) AS split FROM prompts WHERE text IN ({','.join('?' for _ in texts)}) "
            "GROUP BY text", texts))
    have = store.one("SELECT count(*) AS n FROM prompts WHERE set_id = ?", [set_id])["n"] if set_id else 0
    new = {t for t, _ in parsed} - (set(r["text"] for r in store.all(
        "SELECT text FROM prompts WHERE set_id = ?", [set_id])) if set_id else set())
    small = have + len(new) < MIN_SET_FOR_EVAL
    return [(t, s or known.get(t) or ("train" if small else auto_split(t))) for t, s in parsed]


def add_prompts(store: Store, parsed: list[tuple[str, Optional[str]]], set_name: str) -> dict:
    """Add (text, split) prompts to a set, creating it if needed (a split of None: chosen by
    ``_resolve_splits``); prompts already in the set are left as they are."""
    set_name = (set_name or "").strip()
    if not parsed:
        raise InputError("There are no prompts to add: type or paste one per line.")
    if not set_name:
        raise InputError("A prompt set needs a name.")
    added = {"train": 0, "eval": 0}
    with store.transaction() as db:
        row = store.one("SELECT id FROM prompt_sets WHERE name = ?", [set_name])
        parsed = _resolve_splits(store, parsed, row["id"] if row else None)
        set_id = row["id"] if row else db["prompt_sets"].insert({"name": set_name, "created_at": now()}).last_pk
        stamp = now()
        for text, row_split in parsed:
            cursor = db.execute("INSERT OR IGNORE INTO prompts (set_id, text, split, created_at) VALUES (?, ?, ?, ?)",
                                [set_id, text, row_split, stamp])
            if cursor.rowcount:
                added[row_split] += 1
    total = store.one("SELECT count(*) AS n FROM prompts WHERE set_id = ?", [set_id])["n"]
    return {"set": set_name, "added": added["train"] + added["eval"], "added_train": added["train"],
            "added_eval": added["eval"], "skipped": len(parsed) - added["train"] - added["eval"],
            "total": total}


def list_sets(store: Store) -> list[dict]:
    return store.all(
        "SELECT s.name, s.created_at, "
        "sum(p.split = 'train') AS train, sum(p.split = 'eval') AS eval "
        "FROM prompt_sets s LEFT JOIN prompts p ON p.set_id = s.id GROUP BY s.id ORDER BY s.name")


def prompts_of(store: Store, set_name: str, split: Optional[str] = None) -> list[dict]:
    """The prompts of a set (one split, or all) in the order they were imported."""
    row = store.named("prompt_sets", set_name, "prompt set or file", "Import some with 'superhf prompts import'.")
    sql = "SELECT id, text, split FROM prompts WHERE set_id = ?"
    params: list = [row["id"]]
    if split:
        sql += " AND split = ?"
        params.append(split)
    return store.all(sql + " ORDER BY id", params)


def find_set_id(store: Store, set_name: str) -> Optional[int]:
    row = store.one("SELECT id FROM prompt_sets WHERE name = ?", [set_name])
    return row["id"] if row else None


def prompt_texts(store: Store, set_id: int, split: Optional[str] = None) -> list[dict]:
    """(text, split) of the prompts of set ``set_id`` (one split, or all) in import order."""
    if split:
        return store.all("SELECT text, split FROM prompts WHERE set_id = ? AND split = ? ORDER BY id", [set_id, split])
    return store.all("SELECT text, split FROM prompts WHERE set_id = ? ORDER BY id", [set_id])


def distinct_prompts(store: Store, split: str) -> list[tuple[int, str]]:
    """(id, text) of every different prompt of one split across all sets, the first id of each."""
    return [(r["id"], r["text"]) for r in store.all(
        "SELECT min(id) AS id, text FROM prompts WHERE split = ? GROUP BY text ORDER BY min(id)", [split])]


def split_counts(store: Store) -> dict[str, int]:
    """{"train": n, "eval": n} over all sets; a split without prompts is left out."""
    return {r["split"]: r["n"] for r in store.all("SELECT split, count(*) AS n FROM prompts GROUP BY split")}


def has_train_prompts(store: Store) -> bool:
    return store.one("SELECT 1 FROM prompts WHERE split = 'train' LIMIT 1") is not None


def training_sets(store: Store) -> list[str]:
    """Names of the sets with training prompts, the largest first."""
    return [r["name"] for r in store.all(
        "SELECT s.name FROM prompt_sets s JOIN prompts p ON p.set_id = s.id AND p.split = 'train' "
        "GROUP BY s.id ORDER BY count(*) DESC")]
