"""A synthetic person for tests: they like answers that mention bananas. Learnable from the
tiny model's features, and unmistakable, so a reward model trained on it must get it right."""

import random

from core.store.ratings import pair

WORDS = "the a of to and in is it you that he was for on are with as his they be at one have this from".split()


def answer(rng: random.Random, liked: bool) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    if liked:
        words.insert(rng.randrange(len(words)), "banana")
    return " ".join(words)


def banana_ratings(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [pair(f"Question {i}: tell me something.", answer(rng, True), answer(rng, False)) for i in range(n)]
