"""A person's answer to a queued pair, committed at once, and taken back as a whole.

The choices: the left (``a``) or right (``b``) answer is better, a tie, a skip; ``both-bad``
(each answer scored 1 of 5: below any answer scored higher); ``write``, a better answer the
person wrote (stored as two ratings, the person's text over each answer shown). Every rating
a choice adds records the pair, so undo deletes exactly those, and the pair keeps the choice
for the history."""

from __future__ import annotations

from typing import Optional

from core.errors import InputError, NotFoundError
from core.store.database import Store
from core.store.queued_pairs import close_pair, guessed_and_chosen, queued_pair, reopen_pair
from core.store.ratings import (
    BOTH_BAD_SOURCE,
    WRITTEN_SOURCE,
    add_ratings,
    delete_ratings_of_pair,
    pair,
    rating_id,
    score,
)

CHOICES = ("a", "b", "tie", "skip", "both-bad", "write")
MAX_WRITTEN = 8000  # characters: a long answer, well beyond what the model writes


def _ratings_for(row: dict, choice: str, better: Optional[str]) -> tuple[list[dict], str, list]:
    """(rating rows, their source, the stored answers each is about, in shown order) for ``choice``."""
    prompt, a, b = row["prompt"], row["a"], row["b"]
    gens = (row["generation_a"], row["generation_b"])
    if choice == "a":
        return [pair(prompt, a, b)], "app", [gens]
    if choice == "b":
        return [pair(prompt, b, a)], "app", [gens]
    if choice in ("tie", "skip"):
        return [pair(prompt, a, b, choice)], "app", [gens]
    if choice == "both-bad":
        return [score(prompt, a, 1), score(prompt, b, 1)], BOTH_BAD_SOURCE, [(gens[0], None), (gens[1], None)]
    text = (better or "").strip()
    if not text:
        raise InputError("Write the better answer first: the box is empty. Nothing was saved.")
    if len(text) > MAX_WRITTEN:
        raise InputError(f"The answer you wrote is {len(text):,} characters; keep it under {MAX_WRITTEN:,}. "
                         "Nothing was saved.")
    if text in (a.strip(), b.strip()):
        raise InputError("The answer you wrote is the same as one shown: choose that side instead, or change "
                         "the text. Nothing was saved.")
    return [pair(prompt, text, a), pair(prompt, text, b)], WRITTEN_SOURCE, [(gens[0], None), (gens[1], None)]


def answer_pair(store: Store, pair_id: int, choice: str, better: Optional[str] = None) -> dict:
    """Record a person's answer to a queued pair (committed at once) and whether the reward
    model, when it made a guess, agreed. ``better``: the text written, with ``write``."""
    if choice not in CHOICES:
        raise InputError(f"The answer must be one of {', '.join(CHOICES)}, not '{choice}'.")
    if better is not None and choice != "write":
        raise InputError("A written answer goes with the choice 'write' only.")
    row = queued_pair(store, pair_id)
    if row is None:
        raise NotFoundError(f"No pair with id {pair_id} to rate. 'superhf rate next' lists the open ones.")
    if row["answered_at"]:
        raise InputError(f"Pair {pair_id} was rated already, at {row['answered_at']}.")
    rows, source, generations = _ratings_for(row, choice, better)
    with store.transaction():  # the ratings and the closed queue entry, together
        add_ratings(store, rows, source=source, generations=generations, pair_id=pair_id)
        first = rating_id(store, rows[0])
        close_pair(store, pair_id, first, choice)
    agreed = None
    if row["guess"] is not None and choice in ("a", "b"):
        agreed = (row["guess"] > 0.5) == (choice == "a")
    return {"pair": pair_id, "choice": choice, "rating": first, "guess": row["guess"], "agreed": agreed}


def undo_pair(store: Store, pair_id: int) -> None:
    """Take back the answer to a queued pair: the ratings it added are deleted and the pair
    is open again, together."""
    row = queued_pair(store, pair_id)
    if row is None or not row["answered_at"]:
        raise InputError(f"Pair {pair_id} has no answer to take back.")
    with store.transaction():
        delete_ratings_of_pair(store, pair_id)
        reopen_pair(store, pair_id)


def agreement(store: Store, last: int = 20) -> dict:
    """How often the person picked the answer the reward model guessed, overall and lately."""
    rows = guessed_and_chosen(store)
    hits = [(r["guess"] > 0.5) == (r["chosen"] == r["a"]) for r in rows]
    share = (lambda xs: sum(xs) / len(xs) if xs else None)
    return {"answered": len(hits), "agreement": share(hits), f"agreement_last_{last}": share(hits[-last:]),
            "history": hits}
