"""Is a reward model better than chance? The gate before training, in plain words, from the
figures a training stored (its cross-validated accuracy and interval). No torch: the window
imports it."""

from __future__ import annotations

import json
import math
from typing import Optional

Z95 = 1.96
CHANCE = 0.5
MAX_ESTIMATE = 2000  # beyond this many more ratings "how many more" is not a useful number


def wilson(correct: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion ``correct`` / ``n`` (n > 0)."""
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


T975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 12: 2.18,
        15: 2.13, 20: 2.09, 25: 2.06, 30: 2.04, 60: 2.00}


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (rounded down to a
    tabulated df: a little wider, never narrower); 1.96 beyond the table."""
    if df < 1:
        return T975[1]
    if df > 60:
        return Z95
    return T975[max(k for k in T975 if k <= df)]


def clustered_interval(correct: list[float], counts: list[int]) -> tuple[float, float, float]:
    """(low, high, effective number of comparisons) of a pooled accuracy whose comparisons
    come in clusters (the pairs of one prompt share answers and context, so they are not
    independent): the cluster-robust variance of the ratio sum(correct) / sum(counts) gives
    the effective number, and a Wilson interval on it, with Student's t for few clusters.
    Many clusters of one comparison each give the plain Wilson interval."""
    n = sum(counts)
    acc = sum(correct) / n
    g = len(counts)
    if g < 2:
        return (*wilson(acc * n, n, T975[1]), float(n))
    var = g / (g - 1) * sum((c - acc * m) ** 2 for c, m in zip(correct, counts)) / n ** 2
    n_eff = float(n)
    if 0 < acc < 1 and var > 0:
        n_eff = min(float(n), max(1.0, acc * (1 - acc) / var))
    z = t975(g - 1)
    low, high = wilson(acc * n_eff, n_eff, z)
    return low, high, n_eff


def _figures(row_or_figures: dict) -> dict:
    """The training figures, from a stored row (its ``data`` JSON) or from the dict
    ``train_reward_model`` returned (figures at the top level)."""
    figures = dict(row_or_figures)
    data = figures.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if isinstance(data, dict):
        figures = {**data, **{k: v for k, v in figures.items() if v is not None}}
    return figures


def pairs_needed(accuracy: float, z: float = Z95) -> Optional[int]:
    """How many judged comparisons put the Wilson interval's low end above chance if the
    accuracy stays at ``accuracy``; None when it is at chance or below."""
    if accuracy <= CHANCE:
        return None
    lo, hi = 1, 1
    while wilson(accuracy * hi, hi, z)[0] <= CHANCE:
        hi *= 2
        if hi > 10 ** 7:
            return None
    while lo < hi:  # the low end rises with n at a fixed accuracy
        mid = (lo + hi) // 2
        if wilson(accuracy * mid, mid, z)[0] > CHANCE:
            hi = mid
        else:
            lo = mid + 1
    return hi


def _round_up(n: int, step: int = 10) -> int:
    return max(step, int(math.ceil(n / step)) * step)


def verdict(row_or_figures: dict) -> dict:
    """{"better_than_chance": bool, "message": str, "more_ratings": int or None, "advice": str,
    "accuracy", "low", "high", "judged", "correct"} from a reward model's stored row or its
    training figures. ``more_ratings`` estimates how many more ratings would likely lift the
    interval above chance, were the accuracy to stay as measured (None when the model is
    already better than chance, or when no number is honest)."""
    f = _figures(row_or_figures)
    accuracy = f.get("accuracy")
    judged = f.get("accuracy_pairs") or f.get("heldout_pairs") or 0
    pairs = f.get("pairs") or judged
    ratings = len(f["ratings"]) if isinstance(f.get("ratings"), list) else None
    pairs_per_rating = (pairs / ratings) if ratings and pairs else 1.0
    out = {"accuracy": accuracy, "judged": judged, "low": None, "high": None, "correct": None}
    if accuracy is None or not judged:
        have = pairs or 0
        need = f.get("min_pairs") or 20
        more = _round_up(max(need - have, 1) / pairs_per_rating, 5)
        return {**out, "better_than_chance": False,
                "message": "Not enough ratings yet to tell whether the reward model agrees with you.",
                "more_ratings": more,
                "advice": f"Give about {more} more ratings and train the reward model again. You can go on now, "
                          "but training may not move the model your way."}
    low, high = f.get("accuracy_low"), f.get("accuracy_high")
    if low is None or high is None:  # a model trained before intervals were stored
        low, high = wilson(accuracy * judged, judged)
    correct = f.get("accuracy_correct")
    correct = accuracy * judged if correct is None else correct
    shown = int(round(correct))
    message = (f"Agrees with you on {shown} of {judged} comparisons it never saw "
               f"(about {low * 100:.0f}–{high * 100:.0f}%).")
    out.update(low=low, high=high, correct=correct)
    if low > CHANCE:
        return {**out, "better_than_chance": True, "message": message, "more_ratings": None,
                "advice": "It has learned something of your taste: training can go on. More ratings make it surer."}
    effective = f.get("accuracy_effective_pairs") or judged  # pairs of one prompt count less than independent ones
    needed = pairs_needed(accuracy)
    if needed is not None:
        needed = needed * judged / effective  # in judged pairs, at the same clustering
    if needed is None or needed - judged > MAX_ESTIMATE * pairs_per_rating:
        return {**out, "better_than_chance": False,
                "message": message + " That is no better than a coin flip.",
                "more_ratings": None,
                "advice": "It has not found a pattern in your ratings. Rate more answers, choosing consistently by "
                          "what matters to you (and marking near-equal pairs as ties), then train it again. You can "
                          "go on, but training on it is unlikely to move the model your way."}
    more = _round_up(max(needed - judged, 1) / pairs_per_rating)  # type: ignore[operator]
    return {**out, "better_than_chance": False,
            "message": message + " That could still be chance.",
            "more_ratings": more,
            "advice": f"Give about {more} more ratings, then train the reward model again. You can go on now, but "
                      "training may not move the model your way."}
