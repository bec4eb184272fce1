"""Training a reward model's parameters: the head alone on cached features (fast), or LoRA
adapters on the backbone together with the head (lora). Both minimise the Bradley-Terry loss."""

from __future__ import annotations

import random
from typing import Optional

import torch

from core.progress import CancelToken, ProgressCallback, report
from core.reward.fit import PairData, choose_l2, fit
from core.reward.pairs import Pair
from core.reward.model import Featurizer, RewardHead, RewardSettings, bradley_terry_loss


def pair_accuracy(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> float:
    """Share of pairs where the chosen answer scores higher; an exact tie counts half."""
    wins = (r_chosen > r_rejected).float() + 0.5 * (r_chosen == r_rejected).float()
    return wins.mean().item()


def train_head(f_chosen: torch.Tensor, f_rejected: torch.Tensor, settings: RewardSettings,
               cancel: Optional[CancelToken] = None, *, l2: Optional[float] = None,
               target: Optional[torch.Tensor] = None, weight: Optional[torch.Tensor] = None,
               bags: int = 0, groups: Optional[list[str]] = None) -> RewardHead:
    """A linear head on standardised features, fitted exactly (``core.reward.fit``): the
    weighted Bradley-Terry loss (soft ``target`` 1/2 for ties) plus ``l2`` (default:
    ``settings.l2``; 0: chosen by cross-validation) times the squared weights; with ``bags``, the mean of heads fitted on
    bootstraps of the ``groups`` (prompts). (P, D), (P, D) -> head"""
    if cancel is not None:
        cancel.check()
    both = torch.cat([f_chosen, f_rejected])  # (2P, D)
    head = RewardHead(both.mean(0), both.std(0, unbiased=False).clamp(min=1e-4))
    x = (f_chosen - f_rejected) / head.std
    groups = groups or [str(i) for i in range(len(x))]  # bootstraps of pairs when no prompts are given
    data = PairData(x, torch.ones(len(x)) if target is None else target,
                    torch.ones(len(x)) if weight is None else weight, groups)
    l2 = settings.l2 if l2 is None else l2
    if not l2:  # 0: chosen by cross-validation over the groups
        l2 = choose_l2(data, seed=settings.seed)
    w = fit(data, l2, bags, settings.seed, settings.steps)
    with torch.no_grad():
        head.linear.weight.copy_(w.unsqueeze(0))
    head.l2 = l2  # the penalty used, for laplace_covariance
    return head.eval()


def laplace_covariance(head: RewardHead, f_chosen: torch.Tensor, f_rejected: torch.Tensor,
                       l2: float, dims: Optional[slice] = None) -> torch.Tensor:
    """Posterior covariance of the head's weights by the Laplace approximation (MacKay, 1992):
    the inverse Hessian, at the trained weights, of the summed loss
    sum_i BT_i + P * l2 * |w|^2. In a pair the mean and the bias cancel, so only the
    standardised feature difference x_i matters. With ``dims``, only those weights were
    trained (the others are 0 and certain). (P, D), (P, D) -> (D, D)"""
    x = (f_chosen - f_rejected) / head.std  # (P, D)
    dims = dims or slice(0, x.shape[1])
    with torch.no_grad():
        s = torch.sigmoid(head(f_chosen) - head(f_rejected))  # (P,) P(chosen wins)
        xs = x[:, dims]
        hessian = xs.T @ (xs * (s * (1 - s)).unsqueeze(-1))  # (d, d)
        hessian += 2 * len(x) * max(l2, 1e-8) * torch.eye(xs.shape[1])
        covariance = torch.zeros(x.shape[1], x.shape[1])
        covariance[dims, dims] = torch.linalg.inv(hessian)
        return covariance


def pair_uncertainty(head: RewardHead, covariance: torch.Tensor, f_a: torch.Tensor, f_b: torch.Tensor,
                     points: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """For answer pairs (a, b): the model's guess P(a preferred), averaged over its own
    uncertainty (MacKay's moderated output), and how much a person's answer would teach it:
    the mutual information between that answer and the head's weights (BALD; Houlsby et al.,
    2011). A pair of near-identical answers gets a coin-flip guess but no information.
    (N, D), (N, D) -> (N,), (N,)"""
    x = (f_a - f_b) / head.std
    with torch.no_grad():
        mu = x @ head.linear.weight.squeeze(0)  # (N,) reward difference
        var = ((x @ covariance) * x).sum(-1).clamp(min=0)  # (N,) its posterior variance
        guess = torch.sigmoid(mu / torch.sqrt(1 + torch.pi * var / 8))
        # Expected entropy over the posterior, by fixed normal quantiles: deterministic.
        q = torch.distributions.Normal(0.0, 1.0).icdf((torch.arange(points) + 0.5) / points)  # (S,)
        p = torch.sigmoid(mu.unsqueeze(-1) + var.sqrt().unsqueeze(-1) * q)  # (N, S)

        def entropy(t):
            return -(t * t.clamp(min=1e-9).log() + (1 - t) * (1 - t).clamp(min=1e-9).log())

        information = entropy(p.mean(-1)) - entropy(p).mean(-1)
    return guess, information


def train_lora(featurizer: Featurizer, head: RewardHead, pairs: list[Pair], settings: RewardSettings,
               on_progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> None:
    """Adapt the backbone's LoRA weights and the head together, starting from the fast
    mode's head. ``featurizer.backbone`` must already carry trainable LoRA adapters."""
    cancel = cancel or CancelToken()
    torch.manual_seed(settings.seed)
    order = random.Random(settings.seed)
    adapters = [p for p in featurizer.backbone.parameters() if p.requires_grad]
    assert adapters, "the backbone has no trainable (LoRA) parameters"
    head.to(featurizer.device)
    optim = torch.optim.AdamW([{"params": adapters, "lr": settings.lora_lr},
                               {"params": head.linear.parameters(), "lr": settings.head_lr / 10}],
                              weight_decay=0.0)
    per_step = max(1, settings.batch_size // 2)  # pairs per step: both answers go in one batch
    steps = settings.epochs * ((len(pairs) + per_step - 1) // per_step)
    featurizer.backbone.train()
    done = 0
    for _epoch in range(settings.epochs):
        shuffled = pairs[:]
        order.shuffle(shuffled)
        for start in range(0, len(shuffled), per_step):
            cancel.check()
            batch = shuffled[start:start + per_step]
            items = [(p.prompt, p.chosen) for p in batch] + [(p.prompt, p.rejected) for p in batch]
            rewards = head(featurizer.forward(items))  # (2B,)
            loss = bradley_terry_loss(rewards[:len(batch)], rewards[len(batch):])
            loss = loss + settings.l2 * head.linear.weight.pow(2).sum()
            optim.zero_grad()
            loss.backward()
            optim.step()
            done += 1
            report(on_progress, "adapting backbone", done, steps, loss=loss.item())
    featurizer.backbone.eval()
    head.eval()

