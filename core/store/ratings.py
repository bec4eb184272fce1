"""Ratings: a person's judgements of answers, pairwise (chosen / rejected, or a tie, or a
skip) or a 1-5 score of one answer. Each is committed the moment it is given; files of them
are imported and exported in the usual preference formats (JSONL or CSV):

    {"prompt", "chosen", "rejected"}            optional "outcome": "chosen" | "tie" | "skip"
    {"prompt", "completion", "rating"}          rating an integer 1..5
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from core.errors import InputError
from core.records import read_records, require_text, write_records
from core.store.database import Store, now

OUTCOMES = ("chosen", "tie", "skip")
# Sources that mark how a rating came about (besides 'app' and the files imported):
COMPARE_SOURCE = "compare"  # a blind comparison of a tuned model with its base (core.journey.compare)
WRITTEN_SOURCE = "written"  # a pair whose chosen answer the person wrote: it beats the answers shown
BOTH_BAD_SOURCE = "both-bad"  # "both answers are bad": each scored 1, below any better-scored answer
CSV_FIELDS = ["prompt", "chosen", "rejected", "outcome", "completion", "rating"]


def pair(prompt: str, chosen: str, rejected: str, outcome: str = "chosen") -> dict:
    """A pairwise rating row. For a tie or a skip neither answer won, so their order is
    normalised: the same judgement always has the same fingerprint."""
    if outcome not in OUTCOMES:
        raise InputError(f"A pairwise outcome must be one of {', '.join(OUTCOMES)}, not '{outcome}'.")
    if outcome != "chosen":
        chosen, rejected = sorted((chosen, rejected))
    return {"kind": "pair", "prompt": prompt, "chosen": chosen, "rejected": rejected, "outcome": outcome}


def score(prompt: str, completion: str, rating: int) -> dict:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InputError(f"A rating must be a whole number from 1 to 5, not {rating!r}.")
    return {"kind": "score", "prompt": prompt, "completion": completion, "score": rating}


def fingerprint(row: dict) -> str:
    fields = [row["kind"], row["prompt"]] + (
        [row["chosen"], row["rejected"], row["outcome"]] if row["kind"] == "pair"
        else [row["completion"], row["score"]])
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


def _present(record: dict, field: str) -> bool:
    value = record.get(field)
    return value is not None and value != ""  # CSV writes absent fields as empty cells


def _parse_rating_value(name: str, n: int, value) -> int:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InputError(f"{name} line {n}: rating must be a whole number from 1 to 5, not '{value}'.") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InputError(f"{name} line {n}: rating must be a whole number from 1 to 5, not {value!r}.")
    return value


def parse_ratings(path: Path) -> list[dict]:
    """Every rating in a file as a row for the store, or an error naming the first bad line."""
    path = Path(path)
    rows = []
    for n, record in read_records(path):
        is_pair = _present(record, "chosen") or _present(record, "rejected")
        is_score = _present(record, "completion") or _present(record, "rating")
        if is_pair and is_score:
            raise InputError(f"{path.name} line {n}: has both chosen/rejected and completion/rating; "
                             "a line is either a pair or a scored answer.")
        if not (is_pair or is_score):
            raise InputError(f"{path.name} line {n}: needs prompt, chosen and rejected (a pair) "
                             "or prompt, completion and rating (1-5).")
        prompt = require_text(path.name, n, record, "prompt")
        if is_pair:
            outcome = record.get("outcome") or "chosen"
            outcome = outcome.strip() if isinstance(outcome, str) else outcome
            if outcome not in OUTCOMES:
                raise InputError(f"{path.name} line {n}: outcome must be one of {', '.join(OUTCOMES)}, "
                                 f"not {record.get('outcome')!r}.")
            chosen = require_text(path.name, n, record, "chosen")
            rejected = require_text(path.name, n, record, "rejected")
            if outcome == "chosen" and chosen == rejected:
                raise InputError(f"{path.name} line {n}: chosen and rejected are the same text, "
                                 "so the line says nothing about which is better.")
            rows.append(pair(prompt, chosen, rejected, outcome))
        else:
            if not _present(record, "rating"):
                raise InputError(f"{path.name} line {n}: the field 'rating' is missing.")
            rows.append(score(prompt, require_text(path.name, n, record, "completion"),
                              _parse_rating_value(path.name, n, record["rating"])))
    return rows


def add_ratings(store: Store, rows: list[dict], *, source: str = "app",
                generations: Optional[list[tuple[Optional[int], Optional[int]]]] = None,
                pair_id: Optional[int] = None) -> int:
    """Store ratings in one transaction; a rating already stored is not stored twice.
    ``pair_id``: the queued pair they answer (undo takes back the ratings it added).
    Returns how many were new."""
    stamp = now()
    added = 0
    with store.transaction() as db:
        for i, row in enumerate(rows):
            a, b = generations[i] if generations else (None, None)
            full = {"chosen": None, "rejected": None, "outcome": None, "completion": None, "score": None,
                    **row, "generation_a": a, "generation_b": b, "source": source, "pair_id": pair_id,
                    "fingerprint": fingerprint(row), "created_at": stamp}
            cols = list(full)
            cursor = db.execute(f"INSERT OR IGNORE INTO ratings ({', '.join(cols)}) "
                                f"VALUES ({', '.join('?' for _ in cols)})", [full[c] for c in cols])
            added += cursor.rowcount
    return added


def import_ratings(store: Store, path: Path) -> dict:
    path = Path(path).expanduser()
    rows = parse_ratings(path)  # all checked before anything is written
    added = add_ratings(store, rows, source=path.name)
    return {"file": str(path), "read": len(rows), "added": added, "skipped": len(rows) - added}


def export_ratings(store: Store, path: Path) -> dict:
    def records():
        for r in store.all("SELECT * FROM ratings ORDER BY id"):
            if r["kind"] == "pair":
                rec = {"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]}
                if r["outcome"] != "chosen":
                    rec["outcome"] = r["outcome"]
            else:
                rec = {"prompt": r["prompt"], "completion": r["completion"], "rating": r["score"]}
            yield rec

    count = write_records(Path(path), records(), CSV_FIELDS)
    return {"file": str(path), "exported": count}


def rating_id(store: Store, row: dict) -> Optional[int]:
    """The id of the stored rating ``row`` (found by its fingerprint)."""
    found = store.one("SELECT id FROM ratings WHERE fingerprint = ?", [fingerprint(row)])
    return found["id"] if found else None


def last_score_id(store: Store, prompt: str, completion: str) -> Optional[int]:
    """The id of the newest 1-5 score given to this answer."""
    found = store.one("SELECT id FROM ratings WHERE kind = 'score' AND prompt = ? AND completion = ? "
                      "ORDER BY id DESC LIMIT 1", [prompt, completion])
    return found["id"] if found else None


def delete_rating(store: Store, rating_id: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM ratings WHERE id = ?", [rating_id])


def chosen_pairs(store: Store) -> list[dict]:
    """(id, prompt, chosen, rejected) of every pairwise rating with a winner, oldest first."""
    return store.all(
        "SELECT id, prompt, chosen, rejected FROM ratings WHERE kind = 'pair' AND outcome = 'chosen' ORDER BY id")


def chosen_pairs_among(store: Store, ids: list[int]) -> list[dict]:
    """(prompt, chosen, rejected) of the pairwise ratings with a winner among ``ids``, oldest first."""
    rows: list[dict] = []
    for start in range(0, len(ids), 500):  # SQLite caps the number of ? in one statement
        part = list(ids[start:start + 500])
        marks = ",".join("?" for _ in part)
        rows += store.all(f"SELECT id, prompt, chosen, rejected FROM ratings WHERE id IN ({marks}) "
                          "AND kind = 'pair' AND outcome = 'chosen'", part)
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in sorted(rows, key=lambda r: r["id"])]


def count_chosen_pairs(store: Store) -> int:
    return store.one("SELECT count(*) AS n FROM ratings WHERE kind = 'pair' AND outcome = 'chosen'")["n"]


def scores(store: Store) -> list[dict]:
    """(id, prompt, completion, score) of every 1-5 score, oldest first."""
    return store.all("SELECT id, prompt, completion, score FROM ratings WHERE kind = 'score' ORDER BY id")


def counts_by_kind(store: Store) -> dict[str, int]:
    """{"pair": n, "score": n}, kinds without ratings left out."""
    return {r["kind"]: r["n"] for r in store.all("SELECT kind, count(*) AS n FROM ratings GROUP BY kind")}


def pair_fingerprints(store: Store) -> set[str]:
    return {r["fingerprint"] for r in store.all("SELECT fingerprint FROM ratings WHERE kind = 'pair'")}


def count_ratings(store: Store) -> int:
    return store.count("ratings")


def count_judgements(store: Store, after_id: int = 0) -> int:
    """The ratings that say which answer is better, as the person sees them: pairs with a
    winner (a written answer's two among them) and 1-5 scores, with an id above ``after_id``.
    "Both bad" marks and blind comparisons are not counted: alone, they teach a reward model
    nothing."""
    return store.one("SELECT count(*) AS n FROM ratings WHERE (outcome = 'chosen' OR kind = 'score') "
                     "AND id > ? AND source NOT IN (?, ?)", [after_id, COMPARE_SOURCE, BOTH_BAD_SOURCE])["n"]


def delete_ratings_of_pair(store: Store, pair_id: int) -> int:
    """Delete the ratings that answered queued pair ``pair_id``; returns how many."""
    with store.transaction() as db:
        return db.execute("DELETE FROM ratings WHERE pair_id = ?", [pair_id]).rowcount


def ratings_of_kind(store: Store, kind: str, *, leave_out_source: str) -> list[dict]:
    """Ratings of ``kind`` ('pair' or 'score'), oldest first, but those from ``leave_out_source``."""
    return store.all("SELECT * FROM ratings WHERE kind = ? AND source != ? ORDER BY id", [kind, leave_out_source])


def count_from_source(store: Store, source: str) -> int:
    return store.one("SELECT count(*) AS n FROM ratings WHERE source = ?", [source])["n"]
