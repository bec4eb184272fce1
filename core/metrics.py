"""Diversity of sampled answers: distinct-n and self-BLEU. A reward-hacked policy says the
same thing every time; these numbers fall when it does."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence


def words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Unique n-grams over all n-grams of the texts (Li et al., 2016); 1.0 all different."""
    grams = [g for t in texts for g in ngrams(words(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 2) -> float:
    """Sentence BLEU up to ``max_n`` with clipped counts and the brevity penalty (Papineni et
    al., 2002), +1 smoothing of empty orders so short answers do not score zero."""
    if not hypothesis:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        hyp = Counter(ngrams(hypothesis, n))
        most = Counter()
        for ref in references:
            for gram, count in Counter(ngrams(ref, n)).items():
                most[gram] = max(most[gram], count)
        clipped = sum(min(c, most[g]) for g, c in hyp.items())
        total = sum(hyp.values())
        log_precision += math.log((clipped + 1) / (total + 1)) / max_n
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    brevity = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / len(hypothesis))
    return brevity * math.exp(log_precision)


def self_bleu(texts: Sequence[str], max_n: int = 2) -> float:
    """Mean BLEU of each answer against the others (Zhu et al., 2018): 1.0 all the same."""
    tokenised = [words(t) for t in texts if t.strip()]
    if len(tokenised) < 2:
        return 0.0
    scores = [bleu(h, tokenised[:i] + tokenised[i + 1:], max_n) for i, h in enumerate(tokenised)]
    return sum(scores) / len(scores)


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def std(xs) -> float:
    xs = list(xs)
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
