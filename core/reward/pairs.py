"""From a person's ratings to the training pairs of a reward model, and a fixed held-out
part of them for an honest accuracy."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Optional

from core.errors import InputError, NotFoundError
from core.store.database import Store

MIN_PAIRS_FOR_ACCURACY = 20  # below this a held-out accuracy is noise: 5 pairs give 0, 20, 40 ... %
HELDOUT_SHARE = 0.2


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    rating_ids: tuple[int, ...]  # the ratings this pair comes from


def pairs_from_ratings(store: Store) -> list[Pair]:
    """Pairwise ratings as they are (ties and skips say nothing of which is better, so they
    are left out); 1-5 scores become pairs between answers to the same prompt."""
    pairs = [Pair(r["prompt"], r["chosen"], r["rejected"], (r["id"],)) for r in store.all(
        "SELECT id, prompt, chosen, rejected FROM ratings WHERE kind = 'pair' AND outcome = 'chosen' ORDER BY id")]
    by_prompt: dict[str, dict[str, list]] = defaultdict(dict)
    for r in store.all("SELECT id, prompt, completion, score FROM ratings WHERE kind = 'score' ORDER BY id"):
        # A completion scored twice keeps the mean of its scores.
        entry = by_prompt[r["prompt"]].setdefault(r["completion"], [])
        entry.append((r["id"], r["score"]))
    for prompt, answers in by_prompt.items():
        scored = [(text, sum(s for _, s in v) / len(v), tuple(i for i, _ in v)) for text, v in answers.items()]
        for (ta, sa, ia), (tb, sb, ib) in combinations(scored, 2):
            if sa == sb:
                continue
            (win, _, iw), (lose, _, il) = ((ta, sa, ia), (tb, sb, ib)) if sa > sb else ((tb, sb, ib), (ta, sa, ia))
            pairs.append(Pair(prompt, win, lose, iw + il))
    if not pairs:
        raise InputError(_why_no_pairs(store))
    return pairs


def _why_no_pairs(store: Store) -> str:
    counts = {r["kind"]: r["n"] for r in store.all("SELECT kind, count(*) AS n FROM ratings GROUP BY kind")}
    if not counts:
        return ("There are no ratings yet. Rate some answers first ('superhf rate next', or "
                "'superhf ratings import FILE').")
    parts = []
    if counts.get("pair"):
        parts.append(f"your {counts['pair']} pairwise ratings are all ties or skips")
    if counts.get("score"):
        parts.append(f"no prompt among your {counts['score']} scored answers has two answers with different scores")
    return ("Nothing to learn from: " + " and ".join(parts) + ". A reward model learns which of two answers is "
            "better: choose a winner in some pairs, or score several answers to the same prompt differently.")


def split_pairs(pairs: list[Pair], seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(train, held-out). Whole prompts go to one side, chosen by a seeded hash, so the
    accuracy is measured on prompts the model never saw. Too few pairs: all train, none held out."""
    if len(pairs) < MIN_PAIRS_FOR_ACCURACY:
        return pairs, []
    prompts = sorted({p.prompt for p in pairs},
                     key=lambda t: hashlib.sha256(f"{seed}:{t}".encode("utf-8")).hexdigest())
    count = defaultdict(int)
    for p in pairs:
        count[p.prompt] += 1
    heldout_prompts, taken = set(), 0
    for prompt in prompts:  # fill the held-out share prompt by prompt, in hash order
        if taken >= HELDOUT_SHARE * len(pairs):
            break
        if taken + count[prompt] > 0.5 * len(pairs):
            continue  # one prompt holding most pairs stays in training
        heldout_prompts.add(prompt)
        taken += count[prompt]
    heldout = [p for p in pairs if p.prompt in heldout_prompts]
    train = [p for p in pairs if p.prompt not in heldout_prompts]
    if len(heldout) < MIN_PAIRS_FOR_ACCURACY // 4 or not train:
        # Few prompts with many pairs each: fall back to a seeded split of pairs.
        ordered = sorted(pairs, key=lambda p: hashlib.sha256(
            f"{seed}:{p.prompt}\x00{p.chosen}\x00{p.rejected}".encode("utf-8")).hexdigest())
        cut = int(round(HELDOUT_SHARE * len(pairs)))
        heldout, train = ordered[:cut], ordered[cut:]
    return train, heldout


def find_reward_model(store: Store, name: str, version: Optional[int] = None) -> dict:
    sql = "SELECT * FROM reward_models WHERE name = ?" + (" AND version = ?" if version else "")
    row = store.one(sql + " ORDER BY version DESC LIMIT 1", [name, version] if version else [name])
    if row is None:
        names = sorted({r["name"] for r in store.all("SELECT name FROM reward_models")})
        hint = f" Known: {', '.join(names)}." if names else " Train one: superhf reward train"
        raise NotFoundError(f"No reward model named '{name}'{f' version {version}' if version else ''}.{hint}")
    return row


def latest_reward_model(store: Store) -> Optional[dict]:
    return store.one("SELECT * FROM reward_models ORDER BY created_at DESC, id DESC LIMIT 1")


def list_reward_models(store: Store) -> list[dict]:
    return store.all("SELECT r.id, r.name, r.version, r.accuracy, r.created_at, m.name AS base_model, "
                     "json_extract(r.settings, '$.mode') AS mode, json_extract(r.data, '$.pairs') AS pairs "
                     "FROM reward_models r LEFT JOIN models m ON m.id = r.base_model_id ORDER BY r.name, r.version")
