"""The programmatic stand-in for a person in ``superhf bench reward``."""

import random

from core.bench.rater import SimulatedRater


def test_the_simulated_rater_has_the_documented_taste():
    rater = SimulatedRater()
    assert rater.utility("Here is how you do it:\n1. Open the file\n2. Save it") == 1.0 + 0.5
    assert rater.utility("I think my answer is that I am right about this") == -0.5 * 3  # I, my, I
    # you x3, thank + hope, I
    assert rater.utility("Thank you, I hope this helps you and your team.") == 0.5 * 3 + 0.5 * 2 - 0.5
    assert rater.utility("Dear [Your Name], the meeting is moved to Monday.") == -1.0 + 0.5  # placeholder, "Your"
    assert rater.utility("Yes.") == -1.0


def test_clear_differences_go_its_way_and_near_ties_are_a_coin_flip():
    rater, rng = SimulatedRater(), random.Random(0)
    good, bad = "Thank you! You can:\n1. restart it\n2. try again", "I don't know, my guess is nothing."
    assert sum(rater.prefers_a(good, bad, rng) for _ in range(200)) > 195
    same = "The sky is blue because of scattering."
    wins = sum(rater.prefers_a(same, same + " ", rng) for _ in range(400))
    assert 150 < wins < 250
