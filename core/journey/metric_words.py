"""What each number a training run records means, in one line a non-engineer can read, and
the values it can take: the window's charts and tooltips and the CLI's lines read them here,
so a metric is explained the same way everywhere. No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Metric:
    label: str  # a short name for a chart's legend or a log line
    explanation: str  # one line, plain words: what it measures and which way is better
    low: Optional[float] = None  # the smallest value it can take (None: no bound)
    high: Optional[float] = None  # the largest


METRICS = {
    "reward_mean": Metric("reward (all answers)", "The reward model's score of all the answers sampled in a round: "
                          "higher = closer to what you prefer. Only differences matter, not the number itself."),
    "kept_reward_mean": Metric("reward (kept answers)", "The reward model's score of the best answer to each prompt, "
                               "the ones the model learns from: higher = better picks."),
    "eval_reward": Metric("reward (evaluation prompts)", "The reward model's score of one answer to each evaluation "
                          "prompt, prompts never trained on: higher = the model does better on new questions."),
    "kl": Metric("KL (nats/token)", "KL: how far the tuned model has moved from the original; higher = more "
                 "changed. A little is the point; a lot can mean it found tricks that please the reward model.",
                 low=0.0),
    "ce": Metric("cross-entropy", "How surprised the model still is by the answers it learns from: lower = it "
                 "has learned them.", low=0.0),
    "distinct_2": Metric("distinct-2", "Distinct-2: how varied the answers are (the share of word pairs that are "
                         "not repeats), from 0 to 1; higher = more varied. A fall means repetitive answers.",
                         low=0.0, high=1.0),
    "self_bleu": Metric("self-BLEU", "How alike the answers to one prompt are, from 0 to 1; higher = more alike.",
                        low=0.0, high=1.0),
    "mean_length": Metric("answer length (tokens)", "The average answer's length in tokens (word pieces).",
                          low=0.0),
    "cut_off_share": Metric("cut off", "The share of answers cut off at the longest answer allowed instead of "
                            "ending on their own, from 0 to 1; lower = more answers finish.", low=0.0, high=1.0),
    "accuracy": Metric("agreement", "How often the reward model picks the answer you picked, on ratings it never "
                       "learned from; 50% is a coin flip.", low=0.0, high=1.0),
}


def explain(key: str) -> str:
    """The metric's one line; the key itself for a metric not described here."""
    metric = METRICS.get(key)
    return metric.explanation if metric else key


def bounds(key: str) -> tuple[Optional[float], Optional[float]]:
    """(lowest, highest) value the metric can take; None where it has no bound."""
    metric = METRICS.get(key)
    return (metric.low, metric.high) if metric else (None, None)


def iteration_line(done: int, total, m: dict) -> str:
    """One round's figures on one line: the CLI prints it as the round ends, the window's Log
    shows it for runs stored earlier."""
    def number(key: str, form: str) -> str:
        value = m.get(key)
        return format(value, form) if isinstance(value, (int, float)) else "n/a"

    if done == 0:
        return f"before training: eval reward {number('eval_reward', '.3f')}"
    return (f"iteration {done}/{total}: reward {number('reward_mean', '.3f')} (kept {number('kept_reward_mean', '.3f')}), "
            f"eval {number('eval_reward', '.3f')}, KL {number('kl', '.4f')}, CE {number('ce', '.3f')}, "
            f"distinct-2 {number('distinct_2', '.2f')}, {number('seconds', '.1f')} s")
