"""The fast mode's exact head fit and its honest accuracy, on hand-made data."""

import math

import pytest
import torch

from core.reward.fit import (
    PairData,
    accuracy_figures,
    choose_l2,
    cross_validate,
    fit,
    fit_bt,
    group_folds,
)


def objective(x, w, l2, target, weight):
    c = weight / weight.sum()
    z = x @ w
    return (c * (target * torch.nn.functional.softplus(-z) + (1 - target) * torch.nn.functional.softplus(z))).sum() \
        + l2 * w.pow(2).sum()


@pytest.mark.parametrize("pairs, dims", [(40, 6), (6, 40)])  # the primal and the dual form
def test_the_fit_is_the_optimum_of_the_penalised_loss(pairs, dims):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(pairs, dims, generator=gen, dtype=torch.float64)
    target = torch.where(torch.rand(pairs, generator=gen) < 0.2, 0.5, 1.0).double()
    weight = torch.where(torch.rand(pairs, generator=gen) < 0.2, 2.0, 1.0).double()
    w = fit_bt(x, 0.05, target, weight).double().requires_grad_(True)
    objective(x, w, 0.05, target, weight).backward()
    assert w.grad.abs().max().item() < 1e-5  # the gradient vanishes: the exact optimum


def test_weights_count_as_repeats_and_ties_pull_towards_equal():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    doubled = fit_bt(torch.cat([x, x[:1]]), 0.1)
    weighted = fit_bt(x, 0.1, weight=torch.tensor([2.0, 1.0, 1.0]))
    assert torch.allclose(doubled, weighted, atol=1e-5)
    only_ties = fit_bt(x, 0.1, target=torch.full((3,), 0.5))
    assert only_ties.abs().max().item() < 1e-6  # "equally good" teaches no direction
    win = fit_bt(x[:1], 0.1)
    with_tie = fit_bt(torch.cat([x[:1], x[:1]]), 0.1, target=torch.tensor([1.0, 0.5]))
    assert 0 < with_tie[0] < win[0]


def test_a_stronger_penalty_shrinks_the_weights():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(30, 5, generator=gen)
    norms = [fit_bt(x, l2).norm().item() for l2 in (0.01, 0.1, 1.0)]
    assert norms[0] > norms[1] > norms[2] > 0


def memorising_data():
    """Each prompt has its own feature, always 'won': a head can learn each seen prompt but
    nothing about an unseen one. Feature 0 is a real preference, shared by every prompt."""
    rows, groups = [], []
    for g in range(10):
        for _ in range(4):
            v = torch.zeros(11)
            v[1 + g] = 1.0
            rows.append(v)
            groups.append(f"p{g}")
    return PairData(torch.stack(rows), torch.ones(40), torch.ones(40), groups)


def test_cross_validation_judges_each_pair_by_a_head_that_never_saw_its_prompt():
    data = memorising_data()
    in_sample = data.x @ fit(data, 0.01)
    assert (in_sample > 0).all()  # seen prompts: all "right"
    margins = cross_validate(data, 0.01)
    assert margins.abs().max().item() < 1e-6  # unseen prompts: nothing learnt, a coin flip
    assert accuracy_figures(margins, data.target)["accuracy"] == 0.5
    data.x[:, 0] = 1.0  # a preference every prompt shares is found on unseen prompts
    assert accuracy_figures(cross_validate(data, 0.01), data.target)["accuracy"] == 1.0


def test_cross_validation_needs_two_prompts():
    data = memorising_data()
    one = data.take([i for i, g in enumerate(data.groups) if g == "p0"])
    assert cross_validate(one, 0.1) is None
    assert choose_l2(one, (0.01, 0.1, 1.0)) == 0.1  # the middle of the grid


def test_the_penalty_chosen_by_cross_validation_fits_the_signal():
    gen = torch.Generator().manual_seed(2)
    n, d = 60, 40
    groups = [f"p{i // 3}" for i in range(n)]
    clean = torch.randn(n, d, generator=gen)
    clean[:, 0] += 3.0  # one strong feature: little penalty is best
    noise = torch.randn(n, d, generator=gen)  # pure noise, coin-flip labels: the most penalty is best
    targets = torch.ones(n)
    strong = choose_l2(PairData(clean, targets, torch.ones(n), groups), (0.001, 0.01, 0.1, 1.0, 10.0))
    weak = choose_l2(PairData(noise, targets, torch.ones(n), groups), (0.001, 0.01, 0.1, 1.0, 10.0))
    assert strong < weak


def test_bagged_heads_are_fixed_by_the_seed():
    data = memorising_data()
    data.x[:, 0] = torch.linspace(-1, 2, 40)
    a, b = fit(data, 0.1, bags=5, seed=3), fit(data, 0.1, bags=5, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, fit(data, 0.1, bags=5, seed=4))


def test_accuracy_counts_winners_only_with_a_wilson_interval():
    margins = torch.tensor([1.0] * 31 + [-1.0] * 9 + [0.0, 5.0])
    target = torch.tensor([1.0] * 40 + [1.0, 0.5])  # an exact tie of margins counts half; a tie rating not at all
    f = accuracy_figures(margins, target)
    assert f["accuracy_pairs"] == 41 and f["accuracy_correct"] == 31.5
    assert f["accuracy"] == pytest.approx(31.5 / 41)
    p, n, z = 31.5 / 41, 41, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (f["accuracy_low"], f["accuracy_high"]) == pytest.approx((centre - half, centre + half))
    assert accuracy_figures(torch.tensor([0.3]), torch.tensor([0.5]))["accuracy"] is None


def test_folds_are_deterministic_for_any_order_of_sizes():
    groups = ["a"] * 10 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2
    folds = group_folds(groups, 3)
    assert folds[:10] == [folds[0]] * 10 and len(set(folds)) == 3


def test_a_view_replaces_the_first_only_when_clearly_better():
    from core.reward.fit import choose

    gen = torch.Generator().manual_seed(5)
    n = 60
    groups = [f"p{i // 3}" for i in range(n)]
    ones = torch.ones(n)
    noise = PairData(torch.randn(n, 8, generator=gen), ones, ones, groups)
    other_noise = PairData(torch.randn(n, 8, generator=gen), ones, ones, groups)
    signal = torch.randn(n, 8, generator=gen)
    signal[:, 0] += 2.0
    informative = PairData(signal, ones, ones, groups)
    assert choose({"first": noise, "other": other_noise}, 0.1)[0] == "first"  # no clear gain: kept
    assert choose({"first": noise, "other": informative}, 0.1)[0] == "other"
    assert choose({"first": informative, "other": noise}, None)[0] == "first"
    assert choose({"only": noise}, 0.3) == ("only", 0.3)
