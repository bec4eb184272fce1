"""``superhf bench reward``: how well a reward model agrees with a person from how many
ratings, for simulated people of different taste, with pairs chosen at random or by active
selection; how honest its cross-validated accuracy is; and how long each training mode takes.

The person is played by the simulated raters of ``core.bench.rater`` (``SimulatedRater``, a
support lead, and ``ConciseExpert``, whose taste pulls the other way): programmatic stand-ins,
so the benchmark runs unattended and repeatably. Their labels are noisy the way a person's are:
the closer two answers are in their own judgement, the likelier they pick the worse one.

Methods: ``fixed`` is a head as the app trained it before (the answer-mean features alone,
ridge 0.1); ``chosen`` is the app's fast mode now (``core.reward.fit``: the features' view and
the ridge penalty chosen by cross-validation over prompts). Agreement is measured on clear
pairs (utilities at least 0.5 apart) of answers to prompts no rating touched; ``cv`` is the
accuracy the app would report from the same ratings (pooled out-of-fold, folds by prompt),
``ceiling`` what the rater's own utility scores on those noisy labels (the most ``cv`` can
show), and ``above_chance`` how often the 95% interval's low end was above 1/2."""

from __future__ import annotations

import random
import time
from itertools import combinations
from typing import Callable, Optional

import torch

from core.journey.pair_queue import Candidate, rank_pairs
from core.journey.answers import generate_answers
from core.bench.common import _model_name, _starter_prompts
from core.bench.rater import RATERS, make_rater
from core.sampling.generation import SamplingSettings
from core.models.importing import load_model
from core.reward.pairs import Pair
from core.reward.fit import PairData, accuracy_figures, cross_validate, fit_best
from core.reward.model import (
    FeatureCache,
    Featurizer,
    RewardHead,
    RewardSettings,
    backbone_key,
    truncate_backbone,
    views,
)
from core.reward.fit import fit_bt
from core.reward.trainer import laplace_covariance, pair_accuracy, pair_uncertainty
from core.store.database import Store
from core.store.generations import distinct_answers


def _answers(store: Store, model: str, prompts: list[str], per_prompt: int, max_new_tokens: int,
             on_progress) -> dict[str, list[str]]:
    """Distinct stored answers per prompt, generating what is missing (kept for the next run)."""
    have = {p: [] for p in prompts}
    for r in distinct_answers(store):
        if r["prompt"] in have:
            have[r["prompt"]].append(r["completion"])
    need = [(None, p) for p in prompts if len(have[p]) < per_prompt]
    if need:
        rows = generate_answers(store, model, need, per_prompt, SamplingSettings(max_new_tokens=max_new_tokens,
                                                                                 seed=0), on_progress=on_progress)
        for r in rows:
            if r["completion"].strip() and r["completion"] not in have[r["prompt"]]:
                have[r["prompt"]].append(r["completion"])
    return {p: a[:per_prompt] for p, a in have.items()}


METHODS = ("fixed", "chosen")
STRATEGIES = ("random", "active")


def bench_reward(store: Store, *, model: Optional[str] = None, n_prompts: int = 40, per_prompt: int = 8,
                 budgets: tuple[int, ...] = (25, 50, 100, 200), repeats: int = 5,
                 raters: tuple[str, ...] = tuple(RATERS), strategies: tuple[str, ...] = STRATEGIES,
                 start: int = 10, step: int = 5, max_new_tokens: int = 64, time_modes: bool = True,
                 device: Optional[str] = None, on_progress=None, say: Callable[[str], None] = print) -> dict:
    """Agreement with each rater on unseen prompts against the number of ratings, per method
    (random pairs) and per strategy (the app's method), ``repeats`` seeds each, as mean and
    standard error over the seeds."""
    started_all = time.perf_counter()
    people = [make_rater(r) for r in raters]
    name = _model_name(store, model, say)
    prompts = list(dict.fromkeys(_starter_prompts(n_prompts)))  # the starter set has 40: more would repeat
    answers = _answers(store, name, prompts, per_prompt, max_new_tokens, on_progress)
    test_prompts = set(prompts[::2])  # half the prompts, never rated, measure agreement
    pool = [Candidate(p, a, b) for p in prompts if p not in test_prompts for a, b in combinations(answers[p], 2)]
    lm = load_model(store, name, device=device)
    settings = RewardSettings()
    truncate_backbone(lm.model.model)  # the policy itself is not used here again
    featurizer = Featurizer(lm.model.model, lm.tokenizer, lm.device)
    items = sorted({(p, a) for p in prompts for a in answers[p]})
    cache = FeatureCache(store.workspace.cache_dir / "features.db", backbone_key(lm.path, settings.max_length))
    started = time.perf_counter()
    try:
        feats = featurizer.features(items, 16, cache)
    finally:
        cache.close()
    del lm
    feature_seconds = time.perf_counter() - started
    index = {item: i for i, item in enumerate(items)}
    dim = feats.shape[1]
    parts = views(dim)

    def f(pairs, side):  # (P, D)
        return feats[[index[(p.prompt, getattr(p, side))] for p in pairs]]

    say(f"{len(pool)} candidate pairs from {len(prompts) - len(test_prompts)} prompts; features of {len(items)} "
        f"answers in {feature_seconds:.1f} s.")
    results: dict = {}
    for rater in people:
        test = [Pair(p, a, b, ()) if rater.utility(a) > rater.utility(b) else Pair(p, b, a, ())
                for p in sorted(test_prompts) for a, b in combinations(answers[p], 2)
                if abs(rater.utility(a) - rater.utility(b)) >= 0.5]  # pairs whose right answer is clear
        x_test_c, x_test_r = (f(test, "chosen"), f(test, "rejected")) if test else (None, None)

        def agreement(w, std):
            if not test:
                return None
            z = ((x_test_c - x_test_r) / std) @ w
            return pair_accuracy(z, torch.zeros_like(z))

        def train(labelled, method, seed):
            """(weights on standardised features, their std, PairData of every view)."""
            fc, fr = f(labelled, "chosen"), f(labelled, "rejected")
            std = torch.cat([fc, fr]).std(0, unbiased=False).clamp(min=1e-4)
            x = (fc - fr) / std
            ones = torch.ones(len(labelled))
            groups = [p.prompt for p in labelled]
            all_views = {k: PairData(x[:, part], ones, ones, groups) for k, part in parts.items()}
            if method == "fixed":
                w = torch.zeros(dim)
                w[parts["what"]] = fit_bt(all_views["what"].x, 0.1)
                return w, std, all_views, 0.1, "what"
            w, view, l2 = fit_best(all_views, parts, dim, None, seed)
            return w, std, all_views, l2, view

        def run(strategy: str, method: str, seed: int) -> dict[int, dict]:
            rng = random.Random(f"{rater.name}:{seed}")
            order = pool[:]
            rng.shuffle(order)
            labelled: list[Pair] = []
            unlabelled = order
            curve = {}

            def label(c: Candidate) -> Pair:
                win = rater.prefers_a(c.a, c.b, rng)
                return Pair(c.prompt, c.a if win else c.b, c.b if win else c.a, ())

            def take(chosen: list[Candidate]):
                nonlocal unlabelled
                ids = {id(c) for c in chosen}
                labelled.extend(label(c) for c in chosen)
                unlabelled = [c for c in unlabelled if id(c) not in ids]

            def measure(part: list[Pair]) -> dict:
                w, std, all_views, l2, view = train(part, method, seed)
                point = {"agreement": agreement(w, std), "view": view, "l2": l2}
                if method == "chosen" and strategy == "random":  # what the app would report
                    figures = accuracy_figures(cross_validate(all_views, None, seed=seed), torch.ones(len(part)),
                                               [p.prompt for p in part])
                    point.update(cv=figures["accuracy"], cv_low=figures["accuracy_low"],
                                 ceiling=_ceiling(rater, part))
                return point

            if strategy == "random":
                take(unlabelled[:max(budgets)])
                return {b: measure(labelled[:b]) for b in budgets if b <= len(labelled)}
            take(unlabelled[:start])
            while True:
                if len(labelled) in budgets:
                    curve[len(labelled)] = measure(labelled)
                if len(labelled) >= max(budgets) or not unlabelled:
                    return curve
                k = min([step] + [b - len(labelled) for b in budgets if b > len(labelled)])
                w, std, _, l2, view = train(labelled, method, seed)
                fc, fr = f(labelled, "chosen"), f(labelled, "rejected")
                head = RewardHead(torch.cat([fc, fr]).mean(0), std)
                with torch.no_grad():
                    head.linear.weight.copy_(w.unsqueeze(0))
                ua = [Pair(c.prompt, c.a, c.b, ()) for c in unlabelled]
                fa, fb = f(ua, "chosen"), f(ua, "rejected")
                # most to learn (BALD) under the Laplace posterior, as the app chooses pairs to rate
                _, information = pair_uncertainty(head, laplace_covariance(head, fc, fr, l2, parts[view]), fa, fb)
                take([c for c, _ in rank_pairs(unlabelled, k, (-information).tolist(), per_prompt=1)])

        by_rater = {"test_pairs": len(test)}
        runs = [("random", m) for m in METHODS] + [(s, "chosen") for s in strategies if s != "random"]
        for strategy, method in runs:
            t0 = time.perf_counter()
            curves = [run(strategy, method, seed) for seed in range(repeats)]
            rows = {}
            for b in budgets:
                points = [c[b] for c in curves if b in c]
                rows[b] = _summary([p["agreement"] for p in points if p["agreement"] is not None])
                if points and "cv" in points[0]:
                    cv = [p["cv"] for p in points if p["cv"] is not None]
                    rows[b].update(cv=_summary(cv), ceiling=_summary([p["ceiling"] for p in points]), above_chance=round(
                        sum(p["cv_low"] is not None and p["cv_low"] > 0.5 for p in points) / len(points), 2))
                if method == "chosen":
                    rows[b]["views"] = {v: sum(p["view"] == v for p in points) for v in parts}
            key = f"{strategy}/{method}"
            by_rater[key] = {"curve": rows, "seconds": round(time.perf_counter() - t0, 1)}
            say(f"{rater.name:>15} {key:<14} " + "  ".join(
                f"{b}: {_pct(r)}" + (f" (cv {_pct(r['cv'])} of {r['ceiling']['mean']:.0%})" if "cv" in r else "")
                for b, r in rows.items()))
        results[rater.name] = by_rater
    out = {"model": name, "pool_pairs": len(pool), "repeats": repeats, "budgets": list(budgets),
           "raters": {r.name: r.taste for r in people}, "accuracy": results,
           "feature_seconds": round(feature_seconds, 2)}
    if time_modes:
        out.update(_time_modes(store, name, pool, people[0], say))
    out["seconds"] = round(time.perf_counter() - started_all, 1)
    return out


def _ceiling(rater, pairs: list[Pair]) -> float:
    """The share of the rater's own choices that its utility agrees with (a tie of utilities
    counts half): what a perfect copy of its taste would score on these noisy labels, so the
    most a cross-validated accuracy on them can show."""
    agree = [1.0 if rater.utility(p.chosen) > rater.utility(p.rejected) else
             0.5 if rater.utility(p.chosen) == rater.utility(p.rejected) else 0.0 for p in pairs]
    return sum(agree) / len(agree)


def _pct(summary: dict) -> str:
    return "n/a" if summary["mean"] is None else f"{summary['mean']:.1%} ±{summary['se']:.1%}"


def _summary(values: list[float]) -> dict:
    """Mean and standard error over seeds."""
    if not values:
        return {"mean": None, "se": None, "n": 0}
    t = torch.tensor(values, dtype=torch.float64)
    se = (t.std() / len(t) ** 0.5).item() if len(t) > 1 else 0.0
    return {"mean": round(t.mean().item(), 4), "se": round(se, 4), "n": len(t)}


def _time_modes(store: Store, model_name: str, pool, rater, say) -> dict:
    """Each mode as a user runs it (``train_reward_model``: backbone load, features with no
    cache, accuracy by cross-validation, training, saving) on 100 simulated ratings of random
    pairs in a scratch workspace."""
    import tempfile

    from core.models.importing import import_model
    from core.store.ratings import add_ratings, pair
    from core.reward.versions import train_reward_model
    from core.store.database import open_store

    rng = random.Random(0)
    ratings = []
    for c in rng.sample(pool, min(100, len(pool))):  # spread over the prompts, as a person's ratings are
        ratings.append(pair(c.prompt, c.a, c.b) if rater.prefers_a(c.a, c.b, rng) else pair(c.prompt, c.b, c.a))
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-reward-") as home, open_store(home) as scratch:
        import_model(scratch, store.model(model_name)["path"], name=model_name)  # used where it is
        add_ratings(scratch, ratings, source="bench")
        for mode in ("fast", "lora"):
            row = train_reward_model(scratch, name=mode, settings=RewardSettings(mode=mode))
            out[mode] = {k: row.get(k) for k in ("seconds", "accuracy", "accuracy_low", "accuracy_high",
                                                 "heldout_pairs", "accuracy_method", "view", "l2")}
            say(f"{mode:>7} mode on 100 ratings: {row['seconds']:.1f} s, accuracy {row['accuracy']:.1%} "
                f"({row['accuracy_low']:.0%}-{row['accuracy_high']:.0%}) on {row['heldout_pairs']} pairs, "
                f"{row['accuracy_method']}")
    return {"modes_100_ratings": out}
