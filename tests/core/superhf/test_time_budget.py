"""``--minutes``: a run trains for a time budget, its learning rate decaying over the time given,
and a resumed run counts the time its earlier sessions took."""

import torch

from core.superhf import run as run_module
from core.superhf.run import TimeBudget, schedule


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_first_step_learns_and_the_rate_reaches_zero_at_the_horizon():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    horizon = [4]
    scheduler = schedule(optimizer, 0, horizon)
    rates = []
    for _ in range(5):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == 1.0 and rates[1] < 1.0 and rates[4] == 0.0
    assert rates == sorted(rates, reverse=True)


def test_warm_up_starts_above_zero_and_a_new_horizon_is_read_at_once():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    horizon = [100]
    scheduler = schedule(optimizer, 1, horizon)
    assert scheduler.get_last_lr()[0] == 0.5  # half the rate, not 0: the step is not wasted
    optimizer.step()
    scheduler.step()
    at_100 = scheduler.get_last_lr()[0]
    horizon[0] = 2  # the time budget turned out to buy fewer steps
    optimizer.step()
    scheduler.step()
    assert at_100 > 0.99 and scheduler.get_last_lr()[0] == 0.0


def test_rounds_go_on_while_the_next_fits(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(run_module.time, "monotonic", clock)
    budget = TimeBudget(1.0, [])  # 60 seconds
    assert budget.another_fits() and budget.planned(0, 1000) == 1000  # a round's length is unknown yet
    clock.now += 25  # loading and the first round
    budget.round_took(20)
    assert budget.planned(1, 1000) == 2  # 35 s left, 20 s a round: one more
    assert budget.another_fits()
    clock.now += 20
    budget.round_took(20)
    assert not budget.another_fits()  # 15 s left: the next round would end past the minute
    assert budget.planned(2, 1000) == 2
    roomy = TimeBudget(10.0, [])
    roomy.round_took(1)
    assert roomy.planned(1, 3) == 3  # never more than the iterations asked for


def test_without_minutes_the_budget_never_stops_a_run(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(run_module.time, "monotonic", clock)
    budget = TimeBudget(None, [])
    clock.now += 10**6
    budget.round_took(10**5)
    assert budget.another_fits() and budget.planned(3, 7) == 7


def test_a_resumed_run_counts_its_earlier_sessions(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(run_module.time, "monotonic", clock)
    recorded = [{"iteration": 0, "eval_reward": 0.1},
                {"iteration": 1, "elapsed_seconds": 30.0}, {"iteration": 2, "elapsed_seconds": 50.0}]
    budget = TimeBudget(1.0, recorded)
    assert budget.elapsed() == 50.0 and budget.per_round() == 25.0
    assert not budget.another_fits()  # 10 s left of the minute, 25 s a round
    assert TimeBudget(2.0, recorded).planned(2, 1000) == 4


def test_the_default_run_stops_at_15_minutes_and_0_means_no_limit():
    from core.superhf.config import SuperHFConfig

    assert SuperHFConfig().minutes == 15  # the slowest 2-core CPUs measured need about 20 for 5 rounds
    assert SuperHFConfig.from_dict({"iterations": 5}).minutes is None  # a run stored before the limit keeps none
    unlimited = TimeBudget(SuperHFConfig(minutes=0).minutes, [])
    unlimited.round_took(10 ** 6)
    assert unlimited.another_fits() and unlimited.planned(1, 5) == 5
    limited = TimeBudget(SuperHFConfig().minutes, [])
    limited.round_took(6 * 60)  # rounds of 6 minutes: 2 fit in 15
    assert limited.planned(0, 5) == 2


def test_a_run_the_limit_ended_early_says_so_and_how_to_get_more():
    from core.journey.run_verdict import MINUTES_CAP, time_limit_sentence

    rounds = [{"iteration": 0}, {"iteration": 1}, {"iteration": 2}, {"iteration": 3}]
    said = time_limit_sentence({"minutes": 15.0, "iterations": 5}, rounds)
    assert said.startswith("Stopped after 3 of 5 rounds: the next would have ended past the 15-minute limit.")
    assert "--minutes" in said
    assert time_limit_sentence({"minutes": 15.0, "iterations": 3}, rounds) == ""  # all rounds done
    assert time_limit_sentence({"minutes": 0, "iterations": 5}, rounds) == ""  # no limit: a cancel, not the clock
    assert time_limit_sentence({"minutes": 30, "iterations": MINUTES_CAP}, rounds).startswith("Stopped after 3 rounds:")
