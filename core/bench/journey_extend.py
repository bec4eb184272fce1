"""More seeds for a report of ``superhf bench journey`` already written: ``--extend
journey.json --first-seed N`` runs seeds N, N+1, ... and writes one report of the earlier
journeys and the new ones, as if run together. A run of an hour that came out close can then
get two more seeds without the first three run again.

Journeys are only put together where they measure the same thing: the same model, raters,
ratings, held-out prompts, answers, best-of sizes, settings (but the seed) and the same dtype
chosen for sampling and for training (a dtype changes every sample drawn). Seeds must not
repeat. What can be checked before anything runs is checked first, so that a mismatch costs
seconds, not the hour."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

from core.errors import InputError

# facts that must agree, checked before the run starts (the model and dtypes once they are known)
_SAME_BEFORE = ("device", "ratings", "raters", "minutes_budget", "asked_held_out_prompts", "answers_per_prompt",
                "best_of", "retrain_every")


def load_earlier(path: Path) -> dict:
    """The earlier report's JSON ({"facts", "summary", "journeys"}), or an InputError that says
    what to give instead."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "journey.json"
    try:
        report = json.loads(path.read_text())
        report["facts"], report["journeys"]  # noqa: B018 -- both must be there
    except FileNotFoundError:
        raise InputError(f"No report at {path}: give the journey.json that an earlier "
                         f"'superhf bench journey --out FOLDER' wrote.") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a report of 'superhf bench journey' ({e}): give the journey.json "
                         f"that it wrote.") from None
    report["path"] = str(path)
    return report


def _settings(facts: dict) -> dict:
    return {k: v for k, v in (facts.get("settings") or {}).items() if k != "seed"}


def _differences(earlier: dict, now: dict, keys) -> list[str]:
    return [f"{k}: {earlier.get(k)!r} there, {now.get(k)!r} here" for k in keys if earlier.get(k) != now.get(k)]


def check_before(earlier: dict, facts: dict, seeds: range) -> None:
    """Refuse, before anything runs, to extend a report that measured something else, or with
    seeds it already has. ``facts``: this run's facts known so far (those of _SAME_BEFORE and
    "settings")."""
    old = earlier["facts"]
    a, b = _settings(old), _settings(facts)
    wrong = _differences(old, facts, _SAME_BEFORE) + _differences(a, b, sorted(set(a) | set(b)))
    if wrong:
        raise InputError(f"The report at {earlier['path']} measured something else, so its journeys cannot be put "
                         f"with these ({'; '.join(wrong)}). Run with the same options as that report, or write a "
                         f"new report without --extend.")
    have = sorted({j["seed"] for j in earlier["journeys"]} & set(seeds))
    if have:
        raise InputError(f"The report at {earlier['path']} already has seed(s) {', '.join(map(str, have))}: give "
                         f"--first-seed {max(j['seed'] for j in earlier['journeys']) + 1} to add new ones.")


def dtype_of(reason: str) -> Optional[str]:
    """The dtype a precision choice's reason names first ("measured: bfloat16 1.6x faster here")."""
    found = re.search(r"\b(bfloat16|float16|float32)\b", reason or "")
    return found.group(1) if found else None


def check_model(earlier: dict, model: str, precision: dict) -> None:
    """Refuse, once the model is loaded and its dtypes chosen, journeys of another model or
    sampled in another dtype (reports written before dtypes were recorded cannot be checked:
    they are taken as they are)."""
    old = earlier["facts"]
    wrong = _differences(old, {"model": model}, ("model",))
    for purpose, reason in (old.get("precision") or {}).items():
        if dtype_of(reason) != dtype_of(precision.get(purpose, "")):
            wrong.append(f"{purpose} in {dtype_of(reason)} there, {dtype_of(precision.get(purpose, ''))} here")
    if wrong:
        raise InputError(f"The report at {earlier['path']} measured something else, so its journeys cannot be put "
                         f"with these ({'; '.join(wrong)}). Extend it on a machine that chooses the same dtypes "
                         f"(SUPERHF_DTYPE sets one), or write a new report without --extend.")


def merged(earlier: dict, facts: dict, journeys: list[dict]) -> tuple[dict, list[dict]]:
    """The facts and journeys of one report of both runs, the earlier journeys first."""
    old = earlier["facts"]
    every = list(earlier["journeys"]) + list(journeys)
    parts = old.get("parts") or [{"seed_list": old.get("seed_list") or sorted({j["seed"] for j in earlier["journeys"]}),
                                  "total_minutes": old.get("total_minutes"), "precision": old.get("precision")}]
    parts = parts + [{"seed_list": facts["seed_list"], "total_minutes": facts["total_minutes"],
                      "precision": facts.get("precision")}]
    seed_list = sorted({j["seed"] for j in every})
    return ({**facts, "seeds": len(seed_list), "seed_list": seed_list, "parts": parts,
             "total_minutes": round(sum(p["total_minutes"] or 0 for p in parts), 2)}, every)
