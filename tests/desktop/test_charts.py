"""Charts a non-engineer can read: round ticks, no impossible values on an axis, each line
explained on hover, and the reward model's agreement by version against a coin flip."""

import html
import math

import pytest

from core.journey.metric_words import explain
from desktop.pages.charts import AccuracyChart, MetricChart, decimals, nice_range


def ticks(axis) -> list[float]:
    step = (axis.max() - axis.min()) / (axis.tickCount() - 1)
    return [round(axis.min() + i * step, 9) for i in range(axis.tickCount())]


def is_round(x: float) -> bool:
    """1, 2 or 5 times a power of ten (or 0)."""
    if x == 0:
        return True
    mantissa = abs(x) / 10 ** math.floor(math.log10(abs(x)) + 1e-9)
    return any(math.isclose(mantissa, m) for m in (1, 2, 5, 10))


@pytest.mark.parametrize("low, high", [(0.305, 3.26), (-0.42, 0.17), (0.8123, 0.8127), (12, 950), (5, 5), (-3, -3)])
def test_nice_ranges_cover_the_data_with_round_steps(low, high):
    start, end, step = nice_range(low, high)
    assert start <= min(low, high) and end >= max(low, high) and end > start
    assert is_round(step)
    assert math.isclose(start / step, round(start / step), abs_tol=1e-9)  # the ends are whole steps
    assert math.isclose(end / step, round(end / step), abs_tol=1e-9)
    assert 2 <= round((end - start) / step) + 1 <= 11  # a readable number of ticks


def test_the_examples_of_the_issue_get_round_ticks():
    assert nice_range(0.305, 3.26) == (0.0, 4.0, 1.0)
    assert nice_range(0.305, 3.26, ticks=8) == (0.0, 3.5, 0.5)
    assert nice_range(1, 13, ticks=11, whole=True) == (0.0, 14.0, 2.0)
    assert nice_range(1, 3, ticks=3, whole=True)[2] == 1.0  # never half an iteration
    assert [decimals(s) for s in (1.0, 20.0, 0.5, 0.05, 0.002)] == [0, 0, 1, 2, 3]


def test_kl_never_goes_below_zero_and_ticks_are_round(qtbot):
    chart = MetricChart("KL to the start", [("kl", "KL (nats/token)")])
    qtbot.addWidget(chart)
    for i, kl in enumerate([0.0031, 0.0127, 0.0305], start=1):
        chart.add(i, {"kl": kl})
    assert ticks(chart.y_axis) == [0.0, 0.01, 0.02, 0.03, 0.04]  # from 0, though no value was near it
    assert ticks(chart.x_axis) == [1.0, 2.0, 3.0]
    assert chart.y_axis.labelFormat() == "%.2f"  # 0.01 apart: two decimals, no 0.0305-style labels


def test_a_share_stays_between_zero_and_one(qtbot):
    chart = MetricChart("Diversity", [("distinct_2", "distinct-2")])
    qtbot.addWidget(chart)
    chart.add(1, {"distinct_2": 0.91})
    chart.add(2, {"distinct_2": 0.87})
    assert (chart.y_axis.min(), chart.y_axis.max()) == (0.0, 1.0)


def test_rewards_may_be_negative_and_get_round_ends(qtbot):
    chart = MetricChart("Reward", [("reward_mean", "all answers"), ("eval_reward", "evaluation prompts")])
    qtbot.addWidget(chart)
    chart.add(0, {"eval_reward": -0.42})
    chart.add(1, {"reward_mean": 0.17, "eval_reward": None})
    assert (chart.y_axis.min(), chart.y_axis.max()) == (-0.6, 0.2)  # steps of 0.2
    assert chart.values("eval_reward") == [(0.0, -0.42)]


def test_each_line_is_explained_on_hover(qtbot):
    chart = MetricChart("Reward", [("reward_mean", "all answers"), ("kl", "KL")])
    qtbot.addWidget(chart)
    tip = html.unescape(chart.toolTip())
    assert "how far the tuned model has moved from the original" in tip
    assert f"<b>all answers</b>: {explain('reward_mean')}" in tip and f"<b>KL</b>: {explain('kl')}" in tip


def test_the_accuracy_chart_shows_versions_their_range_and_chance(qtbot):
    chart = AccuracyChart()
    qtbot.addWidget(chart)
    chart.show_versions("reward", [{"version": 1, "accuracy": None, "low": None, "high": None},
                                   {"version": 2, "accuracy": 0.55, "low": 0.4, "high": 0.7},
                                   {"version": 3, "accuracy": 0.775, "low": 0.625, "high": 0.877}])
    def points(series):
        return [x for x, _ in chart.values(series)], pytest.approx([y for _, y in chart.values(series)])

    assert points(chart.accuracy) == ([2.0, 3.0], [55.0, 77.5])  # version 1 had too few ratings to tell
    assert points(chart.low) == ([2.0, 3.0], [40.0, 62.5]) and points(chart.high) == ([2.0, 3.0], [70.0, 87.7])
    assert {y for _, y in chart.values(chart.chance)} == {50.0} and chart.chance.name() == "50%: a coin flip"
    assert (chart.y_axis.min(), chart.y_axis.max()) == (0.0, 100.0)
    assert "50% is a coin flip" in chart.toolTip()
