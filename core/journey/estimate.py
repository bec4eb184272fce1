"""How long a run will take on this computer, before it starts: from the rounds this workspace
has measured for the same model (``core.store.runs.measured_rounds``), scaled by the new run's
settings. Each measured round splits into its parts as stored: sampling (its answers' tokens
at the measured tokens per second), scoring and learning (the rest of the round), and the
evaluation and checkpoint after it (the elapsed time between rounds, less the round). No Qt,
no torch: the window calls it as settings change.

Scaling, each part by the work it does: sampling by the tokens sampled (prompts x answers per
prompt x answer length); scoring and learning by prompts x answer length x (answers per prompt
+ 3 x passes), taking a learning pass (forward and backward) as about three forward passes,
the cost of scoring one answer. An answer's expected length comes from the measured one: the
same when the old limit rarely cut answers off and the new limit is no shorter, else in
proportion to the limit."""

from __future__ import annotations

import math
from statistics import median
from typing import Optional

RARELY_CUT = 0.2  # below this share of answers cut off, a longer limit leaves lengths as they were


def estimate_seconds(config: dict, rounds: list[dict]) -> Optional[dict]:
    """{"seconds": the whole run, "round": one round, "start": loading and the first
    evaluation, "measured": rounds used, "capped": whether the minutes given end it} for a run with ``config`` (SuperHFConfig.to_dict()),
    or None when nothing usable was measured."""
    per_round = [p for p in (_round_as(config, r) for r in rounds) if p is not None]
    if not per_round:
        return None
    overheads = [r["elapsed_seconds"] - r["elapsed_before"] - r["seconds"] for r in rounds
                 if _number(r.get("elapsed_before")) and _number(r.get("elapsed_seconds")) and _number(r.get("seconds"))]
    overhead = max(0.0, median(overheads)) if overheads else 0.0
    starts = [r["elapsed_seconds"] - r["seconds"] - overhead for r in rounds
              if r.get("iteration") == 1 and _number(r.get("elapsed_seconds")) and _number(r.get("seconds"))]
    start = max(0.0, median(starts)) if starts else 0.0
    one = median(per_round) + overhead
    total = start + config["iterations"] * one
    capped = bool(config.get("minutes")) and total > config["minutes"] * 60
    if capped:  # rounds start only while they fit in the time given (core.superhf.run.TimeBudget)
        total = config["minutes"] * 60
    return {"seconds": total, "round": one, "start": start, "measured": len(per_round), "capped": capped}


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _round_as(new: dict, r: dict) -> Optional[float]:
    """The seconds round ``r`` (a measured round with its run's ``config``) would have taken
    with the ``new`` settings: sampling, scoring and learning, without evaluation."""
    old = r.get("config") or {}
    needed = (r.get("seconds"), r.get("samples"), r.get("mean_length"), r.get("sample_tokens_per_second"))
    if not all(_number(x) and x > 0 for x in needed):
        return None
    try:
        p, b, e, limit = (old[k] for k in ("prompts_per_iteration", "superbatch_size", "epochs", "max_new_tokens"))
        p2, b2, e2, limit2 = (new[k] for k in ("prompts_per_iteration", "superbatch_size", "epochs", "max_new_tokens"))
    except KeyError:
        return None
    length = r["mean_length"]
    sampling = min(r["seconds"], r["samples"] * length / r["sample_tokens_per_second"])
    rest = r["seconds"] - sampling
    length2 = _expected_length(length, r.get("cut_off_share") or 0.0, limit, limit2)
    sampled = (p2 * b2 * length2) / (p * b * length)
    learned = (p2 * length2 * (b2 + 3 * e2)) / (p * length * (b + 3 * e))
    return sampling * sampled + rest * learned


def _expected_length(length: float, cut_share: float, limit: int, new_limit: int) -> float:
    if new_limit >= limit and cut_share < RARELY_CUT:
        return length
    if new_limit <= limit:
        return min(length, float(new_limit))
    return min(float(new_limit), length * new_limit / limit)


def about(seconds: float) -> str:
    """A duration rounded as a person says it: "under a minute", "about 9 minutes", "about 25
    minutes", "about 1.5 hours"."""
    minutes = seconds / 60
    if minutes < 1:
        return "under a minute"
    if minutes < 10:
        n = max(1, round(minutes))
        return f"about {n} minute{'s' if n > 1 else ''}"
    if minutes < 60:
        return f"about {int(5 * round(minutes / 5))} minutes"
    if minutes < 90:
        return "about an hour"
    hours = minutes / 60
    return f"about {round(hours * 2) / 2:g} hours" if hours < 10 else f"about {round(hours)} hours"


def estimate_sentence(config: dict, rounds: list[dict]) -> str:
    """The estimate in plain words, or plainly that there is none yet."""
    found = estimate_seconds(config, rounds)
    if found is None:
        return ("No run of this model has been measured on this computer yet: the first round will tell how long "
                "each takes.")
    rounds_word = "round" if found["measured"] == 1 else "rounds"
    given = ", the time limit" if found["capped"] else ""
    return (f"This run will take {about(found['seconds'])} on this computer{given} (a round takes "
            f"{about(found['round'])}; from {found['measured']} {rounds_word} measured here).")
