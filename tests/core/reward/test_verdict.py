"""The gate before training: is the reward model better than chance, in plain words."""

import json
import subprocess
import sys

import pytest

from core.reward.verdict import pairs_needed, verdict, wilson


def test_wilson_interval_on_hand_made_counts():
    low, high = wilson(31, 40)
    assert (round(low, 3), round(high, 3)) == (0.625, 0.877)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_better_than_chance_says_so_in_plain_words():
    v = verdict({"accuracy": 31 / 40, "accuracy_pairs": 40, "accuracy_low": 0.63, "accuracy_high": 0.86,
                 "pairs": 40, "ratings": list(range(40))})
    assert v["better_than_chance"] and v["more_ratings"] is None
    assert v["message"] == "Agrees with you on 31 of 40 comparisons it never saw (about 63–86%)."


def test_an_interval_that_includes_chance_asks_for_more_ratings():
    v = verdict({"accuracy": 0.6, "accuracy_pairs": 40, "pairs": 40, "ratings": list(range(40))})
    assert not v["better_than_chance"] and "could still be chance" in v["message"]
    needed = pairs_needed(0.6)
    assert v["more_ratings"] >= needed - 40 and v["more_ratings"] % 10 == 0
    assert f"{v['more_ratings']} more ratings" in v["advice"] and "You can go on" in v["advice"]
    # scores give several pairs per rating: fewer ratings needed for the same pairs
    per_score = verdict({"accuracy": 0.6, "accuracy_pairs": 40, "pairs": 40, "ratings": list(range(20))})
    assert per_score["more_ratings"] < v["more_ratings"]


def test_more_ratings_would_lift_the_low_end_above_chance():
    for accuracy in (0.55, 0.6, 0.7, 0.8):
        n = pairs_needed(accuracy)
        assert wilson(accuracy * n, n)[0] > 0.5 >= wilson(accuracy * (n - 1), n - 1)[0]
    assert pairs_needed(0.5) is None and pairs_needed(0.3) is None


def test_at_or_below_chance_gives_no_made_up_number():
    v = verdict({"accuracy": 0.45, "accuracy_pairs": 40})
    assert not v["better_than_chance"] and v["more_ratings"] is None and "coin flip" in v["message"]


def test_no_accuracy_yet_asks_for_enough_ratings():
    v = verdict({"accuracy": None, "pairs": 8, "heldout_pairs": 0, "accuracy_note": "Only 8"})
    assert not v["better_than_chance"] and v["more_ratings"] == 15 and "Not enough ratings" in v["message"]


def test_a_stored_row_and_an_old_row_without_an_interval_are_read():
    data = {"accuracy": 0.8, "accuracy_pairs": 50, "accuracy_low": 0.67, "accuracy_high": 0.89, "pairs": 50,
            "ratings": list(range(50))}
    row = {"name": "reward", "version": 1, "accuracy": 0.8, "data": json.dumps(data)}
    assert verdict(row)["better_than_chance"] and "(about 67–89%)" in verdict(row)["message"]
    old = {"accuracy": 0.8, "data": json.dumps({"heldout_pairs": 10, "pairs": 50})}
    v = verdict(old)  # 8 of 10: the Wilson interval computed from the two figures
    assert v["judged"] == 10 and v["low"] == pytest.approx(wilson(8, 10)[0]) and not v["better_than_chance"]


def test_the_verdict_imports_without_torch():
    code = ("import sys; import core.reward.verdict; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pairs_of_one_prompt_count_as_fewer_comparisons():
    from core.reward.verdict import clustered_interval

    # 100 prompts of one pair each: independent, the plain Wilson interval
    low, high, n_eff = clustered_interval([1.0] * 70 + [0.0] * 30, [1] * 100)
    assert n_eff == pytest.approx(99, abs=0.5) and (low, high) == pytest.approx(wilson(70, 100), abs=0.01)
    # 4 prompts of 25 pairs, each prompt all right or all wrong: about 4 comparisons, not 100
    low, high, n_eff = clustered_interval([25.0, 25.0, 25.0, 0.0], [25] * 4)
    assert n_eff < 5 and low < 0.5 < high
    assert wilson(75, 100)[0] > 0.5  # which 100 independent pairs would have put above chance
    # clusters that agree within themselves no more than chance would: close to the plain interval
    low, high, n_eff = clustered_interval([18.0, 17.0, 18.0, 17.0] * 5, [25] * 20)
    assert n_eff == 500 and low > 0.5


def test_the_cross_validated_accuracy_is_clustered_by_prompt():
    import torch

    from core.reward.fit import accuracy_figures

    margins = torch.tensor([1.0] * 25 + [1.0] * 25 + [1.0] * 25 + [-1.0] * 25)
    groups = ["a"] * 25 + ["b"] * 25 + ["c"] * 25 + ["d"] * 25
    plain = accuracy_figures(margins, torch.ones(100))
    clustered = accuracy_figures(margins, torch.ones(100), groups)
    assert plain["accuracy"] == clustered["accuracy"] == 0.75 and plain["accuracy_pairs"] == 100
    assert plain["accuracy_low"] > 0.5 > clustered["accuracy_low"]
    assert clustered["accuracy_effective_pairs"] < 5
    assert verdict(plain)["better_than_chance"]
    v = verdict(clustered)
    assert not v["better_than_chance"] and v["more_ratings"] is not None
