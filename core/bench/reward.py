"""``superhf bench reward``: how good a reward model gets from how many ratings, with pairs
chosen at random or by active selection, and how long each training mode takes.

The person is played by ``SimulatedRater``: a programmatic stand-in with a house style, so
the benchmark runs unattended and repeatably. Its labels are noisy the way a person's are:
the closer two answers are in its own judgement, the likelier it picks the worse one."""

from __future__ import annotations

import math
import random
import re
import time
from itertools import combinations
from typing import Callable, Optional

import torch

from core.journey.pair_queue import Candidate, rank_pairs
from core.journey.answers import generate_answers
from core.bench.common import _model_name, _starter_prompts
from core.sampling.generation import SamplingSettings
from core.models.loading import load_model
from core.reward.pairs import Pair
from core.reward.model import FeatureCache, Featurizer, RewardSettings, backbone_key, truncate_backbone
from core.reward.trainer import laplace_covariance, pair_accuracy, pair_uncertainty, train_head
from core.store.database import Store

POLITE = re.compile(r"\b(please|thank|thanks|glad|happy to|sorry|hope|welcome)\b", re.I)
STRUCTURE = re.compile(r"(^|\n)\s*(\d+[.)]|[-*•])\s+")
YOU = re.compile(r"\b(you|your|yours)\b", re.I)
SELF = re.compile(r"\b(I|me|my|mine|I'm|I've)\b")
PLACEHOLDER = re.compile(r"\[[^\]]{2,40}\]")


class SimulatedRater:
    """A support lead's taste, in code. An answer's utility adds up:
    +0.5 per "you"/"your" (it speaks to the reader; at most four count),
    -0.5 per "I"/"me"/"my" (it talks about itself; at most four count),
    +1.0 if it is structured (a numbered or bulleted list),
    +0.5 per polite phrase (please, thank you, glad, sorry, hope...; at most two count),
    -1.0 if it leaves template placeholders such as "[Your Name]",
    -1.0 if it is nearly empty (under 5 words).
    Between two answers it picks A with probability sigmoid(3 * (u(A) - u(B))): clear
    differences almost always go its way, near-ties are close to a coin flip."""

    sharpness = 3.0

    def utility(self, text: str) -> float:
        u = 0.5 * min(4, len(YOU.findall(text))) - 0.5 * min(4, len(SELF.findall(text)))
        u += 1.0 if STRUCTURE.search(text) else 0.0
        u += 0.5 * min(2, len(POLITE.findall(text)))
        u -= 1.0 if PLACEHOLDER.search(text) else 0.0
        u -= 1.0 if len(text.split()) < 5 else 0.0
        return u

    def prefers_a(self, a: str, b: str, rng: random.Random) -> bool:
        p = 1.0 / (1.0 + math.exp(-self.sharpness * (self.utility(a) - self.utility(b))))
        return rng.random() < p


def _answers(store: Store, model: str, prompts: list[str], per_prompt: int, max_new_tokens: int,
             on_progress) -> dict[str, list[str]]:
    """Distinct stored answers per prompt, generating what is missing (kept for the next run)."""
    have = {p: [] for p in prompts}
    for r in store.all("SELECT DISTINCT prompt, completion FROM generations WHERE trim(completion) != ''"):
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


def bench_reward(store: Store, *, model: Optional[str] = None, n_prompts: int = 40, per_prompt: int = 8,
                 budgets: tuple[int, ...] = (25, 50, 100, 200), repeats: int = 10, start: int = 10, step: int = 5,
                 max_new_tokens: int = 48, device: Optional[str] = None, on_progress=None,
                 say: Callable[[str], None] = print) -> dict:
    name = _model_name(store, model, say)
    prompts = _starter_prompts(n_prompts)
    prompts = list(dict.fromkeys(prompts))  # the starter set has 40: more would repeat
    answers = _answers(store, name, prompts, per_prompt, max_new_tokens, on_progress)
    rater = SimulatedRater()
    test_prompts = set(prompts[::2])  # half the prompts, never rated, measure accuracy
    pool = [Candidate(p, a, b) for p in prompts if p not in test_prompts for a, b in combinations(answers[p], 2)]
    test = [(p, a, b) if rater.utility(a) > rater.utility(b) else (p, b, a)
            for p in test_prompts for a, b in combinations(answers[p], 2)
            if abs(rater.utility(a) - rater.utility(b)) >= 0.5]  # pairs whose right answer is clear
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
    feature_seconds = time.perf_counter() - started
    index = {item: i for i, item in enumerate(items)}

    def f(prompt, answer):
        return feats[index[(prompt, answer)]]

    f_test_c = torch.stack([f(p, c) for p, c, _ in test])
    f_test_r = torch.stack([f(p, r) for p, _, r in test])
    say(f"{len(pool)} candidate pairs from {len(prompts) - len(test_prompts)} prompts; {len(test)} clear test pairs "
        f"from {len(test_prompts)} unseen prompts; features of {len(items)} answers in {feature_seconds:.1f} s.")

    def run(strategy: str, seed: int) -> dict[int, float]:
        rng = random.Random(seed)
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

        take(unlabelled[:start])
        while True:
            fc = torch.stack([f(p.prompt, p.chosen) for p in labelled])
            fr = torch.stack([f(p.prompt, p.rejected) for p in labelled])
            head = train_head(fc, fr, settings)
            if len(labelled) in budgets:
                with torch.no_grad():
                    curve[len(labelled)] = pair_accuracy(head(f_test_c), head(f_test_r))
            if len(labelled) >= max(budgets) or not unlabelled:
                return curve
            k = min(step, max(budgets) - len(labelled))
            if strategy == "random":
                take(unlabelled[:k])
                continue
            fc_u = torch.stack([f(c.prompt, c.a) for c in unlabelled])
            fr_u = torch.stack([f(c.prompt, c.b) for c in unlabelled])
            if strategy == "margin":  # plain: predicted preference closest to a coin flip
                with torch.no_grad():
                    keys = (torch.sigmoid(head(fc_u) - head(fr_u)) - 0.5).abs().tolist()
            else:  # active, as the app does it: most to learn (BALD) under the Laplace posterior
                _, information = pair_uncertainty(head, laplace_covariance(head, fc, fr, settings.l2), fc_u, fr_u)
                keys = (-information).tolist()
            take([c for c, _ in rank_pairs(unlabelled, k, keys, per_prompt=1)])

    results = {}
    for strategy in ("random", "margin", "active"):
        curves = [run(strategy, seed) for seed in range(repeats)]
        results[strategy] = {}
        for b in budgets:
            accs = torch.tensor([c[b] for c in curves if b in c])
            sem = (accs.std() / len(accs) ** 0.5).item() if len(accs) > 1 else 0.0
            results[strategy][b] = {"accuracy": round(accs.mean().item(), 4), "sem": round(sem, 4)}
        say(f"{strategy:>7}: " + "  ".join(f"{b} ratings {r['accuracy']:.1%} ±{r['sem']:.1%}"
                                           for b, r in results[strategy].items()))
    timing = _time_modes(store, name, pool, rater, say)
    return {"model": name, "pool_pairs": len(pool), "test_pairs": len(test), "repeats": repeats,
            "accuracy": results, "feature_seconds": round(feature_seconds, 2), **timing}


def _time_modes(store: Store, model_name: str, pool, rater, say) -> dict:
    """Each mode as a user runs it (``train_reward_model``: backbone load, features with no
    cache, training, saving) on 100 simulated ratings in a scratch workspace."""
    import tempfile

    from core.models.loading import import_model
    from core.store.ratings import add_ratings, pair
    from core.reward.versions import train_reward_model
    from core.store.database import open_store

    rng = random.Random(0)
    ratings = []
    for c in pool[:100]:
        ratings.append(pair(c.prompt, c.a, c.b) if rater.prefers_a(c.a, c.b, rng) else pair(c.prompt, c.b, c.a))
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-reward-") as home, open_store(home) as scratch:
        import_model(scratch, store.model(model_name)["path"], name=model_name)  # used where it is
        add_ratings(scratch, ratings, source="bench")
        for mode in ("fast", "lora"):
            row = train_reward_model(scratch, name=mode, settings=RewardSettings(mode=mode))
            out[mode] = {"seconds": row["seconds"], "accuracy": row["accuracy"], "heldout_pairs": row["heldout_pairs"]}
            say(f"{mode:>7} mode on 100 ratings: {row['seconds']:.1f} s, held-out accuracy {row['accuracy']:.1%} "
                f"on {row['heldout_pairs']} pairs")
    return {"modes_100_ratings": out}
