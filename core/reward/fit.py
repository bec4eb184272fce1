"""The fast mode's head, fitted exactly, and its honest accuracy.

The head is a linear score of standardised features, trained with the Bradley-Terry loss and
a ridge penalty; only the difference x = f(chosen) - f(rejected) of a pair matters. So the fit
is a ridge logistic regression without intercept on those differences, which Newton's method
solves in a dozen steps, in the primal (D x D) or, with fewer pairs than features, the dual
(P x P) form. Exact and fast, it can be refitted many times: to choose the ridge penalty by
cross-validation, and to measure the accuracy on prompts each fold never saw.

Pairs carry a ``target`` (1: the first answer won; 0.5: a tie) and a ``weight`` (how much the
pair counts). Folds keep whole prompts together, so no prompt is in both train and test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from core.reward.verdict import clustered_interval, wilson

L2_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # chosen among by cross-validation
FOLDS = 5
MIN_PROMPTS_FOR_CV = 2  # a grouped cross-validation needs at least two prompts


def _loss(z, y, c):
    """Weighted soft-label logistic loss of margins z. (P,), (P,), (P,) summing to 1 -> scalar"""
    return (c * (y * torch.nn.functional.softplus(-z) + (1 - y) * torch.nn.functional.softplus(z))).sum()


def fit_bt(x: torch.Tensor, l2: float, target: Optional[torch.Tensor] = None,
           weight: Optional[torch.Tensor] = None, max_steps: int = 100, tol: float = 1e-7) -> torch.Tensor:
    """The weights w minimising sum_i c_i * BT(x_i . w; target_i) + l2 * |w|^2, where c are the
    pair weights normalised to sum 1 (so with unit weights the loss is the mean, as in
    ``bradley_terry_loss``). x: (P, D) standardised differences -> (D,) float32."""
    x = x.double()
    P, D = x.shape
    y = torch.ones(P, dtype=torch.float64) if target is None else target.double()
    c = torch.ones(P, dtype=torch.float64) if weight is None else weight.double()
    c = c / c.sum()
    lam = max(float(l2), 1e-8)
    dual = P < D
    if dual:  # w = x^T a: Newton on a with the kernel K = x x^T
        K = x @ x.T
        a = torch.zeros(P, dtype=torch.float64)
    else:
        w = torch.zeros(D, dtype=torch.float64)

    def objective(z, penalty):
        return _loss(z, y, c) + lam * penalty

    z = torch.zeros(P, dtype=torch.float64)
    current = objective(z, 0.0)
    for _ in range(max_steps):
        s = torch.sigmoid(z)
        g = c * (s - y)  # d loss / d z
        h = c * s * (1 - s)  # d2 loss / d z2
        if dual:
            step = -torch.linalg.solve(h.unsqueeze(1) * K + 2 * lam * torch.eye(P, dtype=torch.float64), g + 2 * lam * a)
            dz = K @ step
        else:
            hess = x.T @ (x * h.unsqueeze(1)) + 2 * lam * torch.eye(D, dtype=torch.float64)
            step = -torch.linalg.solve(hess, x.T @ g + 2 * lam * w)
            dz = x @ step
        t = 1.0
        while True:  # backtracking: Newton's full step can overshoot far from the optimum
            if dual:
                na = a + t * step
                nz = z + t * dz
                new = objective(nz, (na @ nz).item())
            else:
                nw = w + t * step
                nz = z + t * dz
                new = objective(nz, (nw @ nw).item())
            if new <= current + 1e-12 or t < 1e-4:
                break
            t /= 2
        if dual:
            a = na
        else:
            w = nw
        z, improvement, current = nz, current - new, new
        if improvement < tol * max(1.0, abs(current.item())):
            break
    return (x.T @ a if dual else w).float()


def group_folds(groups: Sequence[str], folds: int = FOLDS, seed: int = 0) -> list[int]:
    """Fold number of each item; items of one group (prompt) share a fold. Groups go, largest
    first (ties in a seeded hash order), to the fold with the fewest items so far."""
    sizes: dict[str, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    k = min(folds, len(sizes))
    order = sorted(sizes, key=lambda g: (-sizes[g], hashlib.sha256(f"{seed}:{g}".encode("utf-8")).hexdigest()))
    load = [0] * k
    fold_of = {}
    for g in order:
        f = min(range(k), key=lambda i: (load[i], i))
        fold_of[g] = f
        load[f] += sizes[g]
    return [fold_of[g] for g in groups]


@dataclass
class PairData:
    """Standardised pair differences and what is known of each pair."""
    x: torch.Tensor  # (P, D) f(first) - f(second), standardised
    target: torch.Tensor  # (P,) 1: first won; 0.5: a tie
    weight: torch.Tensor  # (P,)
    groups: list[str]  # (P,) the prompt of each pair

    def take(self, idx: list[int]) -> "PairData":
        return PairData(self.x[idx], self.target[idx], self.weight[idx], [self.groups[i] for i in idx])


def fit(data: PairData, l2: float, bags: int = 0, seed: int = 0, max_steps: int = 100) -> torch.Tensor:
    """(D,) weights: one fit, or with ``bags`` the mean of that many fits on bootstraps of the
    prompts (each prompt drawn with replacement, all its pairs with it)."""
    if bags <= 0:
        return fit_bt(data.x, l2, data.target, data.weight, max_steps)
    prompts = sorted(set(data.groups))
    members: dict[str, list[int]] = {}
    for i, g in enumerate(data.groups):
        members.setdefault(g, []).append(i)
    gen = torch.Generator().manual_seed(seed)
    ws = []
    for _ in range(bags):
        drawn = torch.randint(len(prompts), (len(prompts),), generator=gen).tolist()
        idx = [i for d in drawn for i in members[prompts[d]]]
        ws.append(fit_bt(data.x[idx], l2, data.target[idx], data.weight[idx], max_steps))
    return torch.stack(ws).mean(0)


def cv_losses(data: PairData, l2: float, folds: int = FOLDS, seed: int = 0) -> torch.Tensor:
    """(P,) each pair's weighted loss (weights normalised to mean 1), predicted by a head
    fitted without its prompt."""
    fold = torch.tensor(group_folds(data.groups, folds, seed))
    out = torch.zeros(len(data.groups), dtype=torch.float64)
    c = data.weight.double() / data.weight.double().mean()
    for f in fold.unique().tolist():
        train = (fold != f).nonzero().squeeze(1).tolist()
        test = (fold == f).nonzero().squeeze(1).tolist()
        w = fit_bt(data.x[train], l2, data.target[train], data.weight[train])
        z = data.x[test].double() @ w.double()
        y = data.target[test].double()
        out[test] = c[test] * (y * torch.nn.functional.softplus(-z) + (1 - y) * torch.nn.functional.softplus(z))
    return out


def cv_loss(data: PairData, l2: float, folds: int = FOLDS, seed: int = 0) -> float:
    """Mean weighted loss of the pairs, each predicted by a head fitted without its prompt."""
    return cv_losses(data, l2, folds, seed).mean().item()


def best_l2(data: PairData, grid: Sequence[float] = L2_GRID, folds: int = FOLDS,
            seed: int = 0) -> tuple[float, Optional[torch.Tensor]]:
    """(the ridge penalty of ``grid`` with the lowest cross-validated loss, the pairs' losses
    under it). With too few prompts to cross-validate: the middle of the grid, and None."""
    if len(set(data.groups)) < MIN_PROMPTS_FOR_CV:
        return grid[len(grid) // 2], None
    losses = [(cv_losses(data, l2, folds, seed), l2) for l2 in grid]
    loss, l2 = min(losses, key=lambda t: (t[0].mean().item(), t[1]))
    return l2, loss


def choose_l2(data: PairData, grid: Sequence[float] = L2_GRID, folds: int = FOLDS, seed: int = 0) -> float:
    """The ridge penalty of ``grid`` that predicts unseen prompts best (``best_l2``)."""
    return best_l2(data, grid, folds, seed)[0]


def choose(views: dict[str, PairData], l2: Optional[float], grid: Sequence[float] = L2_GRID,
           seed: int = 0) -> tuple[str, float]:
    """(the view, the ridge penalty) that predict unseen prompts best: each view is the same
    pairs seen through other features (``core.reward.model.views``). The first view is kept
    unless another's cross-validated loss is lower by more than one standard error of the
    paired difference (over pairs): a choice among a few views on a few dozen noisy ratings
    must not follow noise. A given ``l2`` is kept; a single view is taken as it is."""
    names = list(views)
    if len(names) == 1 or len(set(views[names[0]].groups)) < MIN_PROMPTS_FOR_CV:
        name = names[0]
        return name, (l2 if l2 is not None else best_l2(views[name], grid, seed=seed)[0])
    scored = []
    for name in names:
        if l2 is None:
            chosen, losses = best_l2(views[name], grid, seed=seed)
        else:
            chosen, losses = l2, cv_losses(views[name], l2, seed=seed)
        scored.append((name, chosen, losses))
    best = scored[0]
    for name, chosen, losses in scored[1:]:
        gain = scored[0][2] - losses  # (P,) how much lower this view's loss is, pair by pair
        se = gain.std().item() / len(gain) ** 0.5 if len(gain) > 1 else float("inf")
        if gain.mean().item() > se and losses.mean().item() < best[2].mean().item():
            best = (name, chosen, losses)
    return best[0], best[1]


def fit_best(views: dict[str, PairData], parts: dict[str, slice], dim: int, l2: Optional[float],
             seed: int = 0, max_steps: int = 100) -> tuple[torch.Tensor, str, float]:
    """The head's (dim,) weights on the view and with the penalty ``choose`` picks (0 outside
    the view's part of the features), that view and that penalty."""
    name, chosen = choose(views, l2, seed=seed)
    w = torch.zeros(dim)
    w[parts[name]] = fit(views[name], chosen, seed=seed, max_steps=max_steps)
    return w, name, chosen


def fit_chosen(data: PairData, l2: Optional[float], grid: Sequence[float] = L2_GRID, bags: int = 0,
               seed: int = 0) -> tuple[torch.Tensor, float]:
    """(weights, the ridge penalty used): ``l2`` as given, or chosen by cross-validation when None."""
    l2 = choose_l2(data, grid, seed=seed) if l2 is None else l2
    return fit(data, l2, bags, seed), l2


def cross_validate(data: PairData | dict[str, PairData], l2: Optional[float], grid: Sequence[float] = L2_GRID,
                   bags: int = 0, folds: int = FOLDS, seed: int = 0) -> Optional[torch.Tensor]:
    """Out-of-fold margins (P,): each pair scored by a head trained, the whole procedure
    included (the choice of the view and of the ridge penalty too), without any pair of its
    prompt. ``data``: one PairData or several views of the same pairs. None with fewer than
    two prompts."""
    views = data if isinstance(data, dict) else {"": data}
    first = next(iter(views.values()))
    if len(set(first.groups)) < MIN_PROMPTS_FOR_CV:
        return None
    fold = torch.tensor(group_folds(first.groups, folds, seed))
    z = torch.zeros(len(first.groups))
    for f in fold.unique().tolist():
        train = (fold != f).nonzero().squeeze(1).tolist()
        test = (fold == f).nonzero().squeeze(1).tolist()
        name, chosen = choose({k: v.take(train) for k, v in views.items()}, l2, grid, seed)
        w = fit(views[name].take(train), chosen, bags, seed)
        z[test] = views[name].x[test] @ w
    return z


def accuracy_figures(margins: torch.Tensor, target: torch.Tensor, groups: Optional[Sequence[str]] = None) -> dict:
    """Pooled accuracy of out-of-fold margins on the pairs with a winner (ties have no right
    answer), an exact zero margin counting half, with a 95% interval: Wilson's, on the
    effective number of comparisons when ``groups`` (the prompts) are given, since the pairs
    of one prompt are not independent (``core.reward.verdict.clustered_interval``)."""
    hard = target != 0.5
    z = margins[hard]
    n = int(hard.sum().item())
    if n == 0:
        return {"accuracy": None, "accuracy_pairs": 0, "accuracy_correct": 0.0, "accuracy_effective_pairs": 0.0,
                "accuracy_low": None, "accuracy_high": None}
    right = (z > 0).float() + 0.5 * (z == 0).float()
    correct = right.sum().item()
    if groups is None:
        low, high = wilson(correct, n)
        n_eff = float(n)
    else:
        kept = [g for g, h in zip(groups, hard.tolist()) if h]
        by: dict[str, list[float]] = {}
        for g, r in zip(kept, right.tolist()):
            by.setdefault(g, []).append(r)
        low, high, n_eff = clustered_interval([sum(v) for v in by.values()], [len(v) for v in by.values()])
    return {"accuracy": correct / n, "accuracy_pairs": n, "accuracy_correct": correct,
            "accuracy_effective_pairs": round(n_eff, 1), "accuracy_low": low, "accuracy_high": high}
