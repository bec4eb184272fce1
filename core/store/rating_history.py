"""The history of ratings, to review: newest first, filtered by words or kind; a rating can
be changed (which answer won, or its score) or deleted. A changed rating keeps its id and its
link to the pair it answered; were it to become the same as another stored rating, it is
folded into that one."""

from __future__ import annotations

from typing import Optional, Union

from core.errors import InputError, NotFoundError
from core.store.database import Store
from core.store.ratings import fingerprint, pair, score

KINDS = ("pair", "score")
PAIR_CHANGES = ("a", "b", "tie", "skip")  # a: the first answer shown in the history is better


def list_ratings(store: Store, words: str = "", kind: Optional[str] = None, limit: int = 200,
                 offset: int = 0) -> list[dict]:
    """Ratings newest first; ``words`` must all appear in the prompt or an answer (any case).
    Each pair is shown as answers ``a`` (the winner, when there is one) and ``b``."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"The kind of rating is 'pair' or 'score', not '{kind}'.")
    where, args = [], []
    if kind:
        where.append("kind = ?")
        args.append(kind)
    for word in words.split():
        where.append("(instr(lower(prompt), ?) OR instr(lower(coalesce(chosen, '')), ?) "
                     "OR instr(lower(coalesce(rejected, '')), ?) OR instr(lower(coalesce(completion, '')), ?))")
        args += [word.lower()] * 4
    sql = ("SELECT id, kind, prompt, chosen AS a, rejected AS b, outcome, completion, score, source, pair_id, "
           "created_at FROM ratings" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY id DESC LIMIT ? OFFSET ?")
    return store.all(sql, args + [limit, offset])


def said(row: dict) -> str:
    """What the rating says, in words."""
    if row["kind"] == "score":
        return f"scored {row['score']} of 5"
    return {"chosen": "first is better", "tie": "a tie", "skip": "skipped"}[row["outcome"]]


def change_rating(store: Store, rating_id: int, to: Union[str, int]) -> dict:
    """Change a pair's verdict (``to``: 'a', 'b', 'tie' or 'skip', answers as ``list_ratings``
    shows them) or a score (``to``: 1-5). Returns {"rating": id, "merged": bool}."""
    row = store.one("SELECT * FROM ratings WHERE id = ?", [rating_id])
    if row is None:
        raise NotFoundError(f"No rating with id {rating_id}. 'superhf ratings list' shows them.")
    if row["kind"] == "pair":
        if to not in PAIR_CHANGES:
            raise InputError(f"A pairwise rating changes to one of {', '.join(PAIR_CHANGES)}, not {to!r}.")
        first, second = row["chosen"], row["rejected"]
        if to == "a":
            new = pair(row["prompt"], first, second)
        elif to == "b":
            new = pair(row["prompt"], second, first)
        else:
            new = pair(row["prompt"], first, second, to)
        values = {k: new[k] for k in ("chosen", "rejected", "outcome")}
    else:
        if isinstance(to, str) and to.strip().isdigit():
            to = int(to)
        new = score(row["prompt"], row["completion"], to)  # refuses anything but 1-5
        values = {"score": new["score"]}
    stamp = fingerprint(new)
    with store.transaction() as db:
        twin = store.one("SELECT id FROM ratings WHERE fingerprint = ? AND id != ?", [stamp, rating_id])
        if twin is not None:  # the same judgement is stored already: keep that one
            db.execute("DELETE FROM ratings WHERE id = ?", [rating_id])
            return {"rating": twin["id"], "merged": True}
        sets = ", ".join(f"{k} = ?" for k in values)
        db.execute(f"UPDATE ratings SET {sets}, fingerprint = ? WHERE id = ?", [*values.values(), stamp, rating_id])
    return {"rating": rating_id, "merged": False}


def remove_rating(store: Store, rating_id: int) -> None:
    """Delete one rating, or say there is none with that id."""
    with store.transaction() as db:
        if not db.execute("DELETE FROM ratings WHERE id = ?", [rating_id]).rowcount:
            raise NotFoundError(f"No rating with id {rating_id}. 'superhf ratings list' shows them.")
