"""The report of ``superhf bench compare``: a Markdown file with its tables, two PNG charts
(reward against wall-clock per method; the sweeps) and every figure as JSON, in one folder.
matplotlib comes with the benchmark extra and draws off-screen (Agg): no display needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from core.metrics import mean as _mean
from core.metrics import std as _spread

COLUMNS = (("utility", "rater utility"), ("reward", "reward-model reward"), ("kl", "KL to base"),
           ("distinct_2", "distinct-2"), ("self_bleu", "self-BLEU (pairwise similarity)"), ("mean_words", "words"),
           ("seconds", "seconds"))
COLOURS = {"base": "#777777", "superhf": "#1f77b4", "best_of_n": "#2ca02c", "feedme": "#ff7f0e", "rloo": "#d62728"}


def names(n: int) -> dict:
    return {"base": "base model", "superhf": "SuperHF", "best_of_n": f"best-of-{n} (inference)",
            "feedme": "FeedME (SFT on chosen)", "rloo": "RLOO (TRL)"}


def report(out: Optional[Path], facts: dict, table: dict, results: dict, sweeps: dict) -> str:
    """The Markdown text; with ``out``, also written there with the charts and the JSON."""
    charts = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        charts = [_reward_chart(out / "reward-vs-time.png", facts, results)]
        if any(sweeps.values()):
            charts.append(_sweep_chart(out / "sweeps.png", sweeps))
    text = _markdown(facts, table, results, sweeps, [c.name for c in charts])
    if out is not None:
        (out / "compare.md").write_text(text)
        (out / "compare.json").write_text(json.dumps({"facts": facts, "table": table, "runs": results,
                                                      "sweeps": sweeps}, indent=1))
    return text


def _cells(row: dict) -> str:
    return " | ".join(f"{row[k]['mean']:.3f} ± {row[k]['spread']:.3f}" for k, _ in COLUMNS)


def _markdown(facts: dict, table: dict, results: dict, sweeps: dict, charts: list[str]) -> str:
    n, label = facts["n"], names(facts["n"])
    lines = [
        "# SuperHF against its baselines", "",
        f"Model {facts['model']}. One reward model shared by every method, trained from {facts['ratings']} "
        f"ratings of a simulated rater (held-out accuracy {facts['reward_accuracy']:.1%}). Each training method gets "
        f"{facts['budget_seconds']:.0f} s of wall-clock per seed, loading included; {facts['seeds']} seeds "
        f"(mean ± standard deviation over seeds). Judged on {facts['held_out_prompts']} held-out prompts x "
        f"{facts['answers']} answers that no method trained on. The whole comparison, sweeps included, took "
        f"{facts['total_seconds'] / 60:.0f} min.", "",
        "- *Rater utility*: the simulated rater's own score of an answer, which no method ever sees (the reward "
        "model only learnt from its pairwise choices). The rater (`SimulatedRater` in core/bench/rater.py) is a "
        "support lead's taste in code: +0.5 per \"you\"/\"your\" and -0.5 per \"I\"/\"me\"/\"my\" (four "
        "count at most), +1 for a numbered or bulleted list, +0.5 per polite phrase (two at most), -1 for template "
        "placeholders such as \"[Your Name]\", -1 under 5 words; between two answers it picks A with probability "
        "sigmoid(3 (u(A) - u(B))). A method that raises the reward-model score without the utility is hacking the "
        "reward model.",
        f"- *Best-of-{n}* trains nothing: each answer is the reward model's pick of {n} samples, the sampling "
        f"SuperHF spends per prompt in training. Its seconds are its sampling and scoring at answer time, and its "
        f"KL is the known bound log N - (N-1)/N. Its reward-model score is inflated by the picking itself; "
        f"its rater utility is not.",
        "- *KL to base*: mean per-token KL of the tuned policy from the base model on its own held-out answers.",
        "", "| method | " + " | ".join(c for _, c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {label[m]} | {_cells(table[m])} |" for m in ("base", "superhf", "best_of_n", "feedme", "rloo")]
    lines += ["", f"- SuperHF iterations per seed: {[r['iterations'] for r in results['superhf']]} "
              f"({[r['samples'] for r in results['superhf']]} samples drawn)",
              f"- FeedME optimiser steps per seed: {[r['steps'] for r in results['feedme']]}",
              f"- RLOO steps per seed: {[r['steps'] for r in results['rloo']]} "
              f"({[r['samples'] for r in results['rloo']]} samples drawn)", ""]
    lines += [f"![{c}]({c})" for c in charts if c.startswith("reward")]
    if any(sweeps.values()):
        lines += ["", f"## Ablations of SuperHF (seed 0, {facts['sweep_iterations']} iterations each)", "",
                  "The paper's knobs: the superbatch (answers sampled per prompt, of which the best is kept; 1 keeps "
                  "whatever was sampled) and the KL coefficient (0 lets the policy drift freely from the base). One "
                  "seed each, so ± is the standard error over the held-out answers alone: the spread between "
                  "seeds, as large again in the table above, comes on top.", ""]
        for knob, title in (("superbatch", "superbatch size"), ("kl", "KL coefficient")):
            lines += [f"| {title} | " + " | ".join(c for _, c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
            lines += [f"| {s['value']} | " + " | ".join(_sweep_cell(s, k) for k, _ in COLUMNS) + " |"
                      for s in sweeps[knob]]
            lines.append("")
        lines += [f"![{c}]({c})" for c in charts if c.startswith("sweeps")]
    return "\n".join(lines) + "\n"


def _sweep_cell(row: dict, key: str) -> str:
    sem = row.get(f"{key}_sem")
    return f"{row[key]:.3f} ± {sem:.3f}" if sem is not None else f"{row[key]:.3f}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no Qt
    import matplotlib.pyplot as plt

    return plt


def _reward_chart(path: Path, facts: dict, results: dict) -> Path:
    plt = _pyplot()
    label = names(facts["n"])
    fig, (train, reward, utility) = plt.subplots(1, 3, figsize=(15, 4.6))
    for m in ("superhf", "feedme", "rloo"):
        for i, run in enumerate(results[m]):
            if run["curve"]:
                xs, ys = zip(*run["curve"])
                train.plot(xs, ys, "o-", color=COLOURS[m], alpha=0.75, ms=3, label=label[m] if i == 0 else None)
    train.set(title="During training: reward of the policy's own samples", xlabel="seconds since the method started",
              ylabel="reward-model reward (training prompts)")
    for axis, key, title in ((reward, "reward", "Held out: reward-model reward"),
                             (utility, "utility", "Held out: the rater's utility")):
        for m in ("base", "superhf", "feedme", "rloo"):
            runs = results[m]
            axis.errorbar([_mean(r["seconds"] for r in runs)], [_mean(r[key] for r in runs)],
                          yerr=[_spread(r[key] for r in runs)], fmt="o", color=COLOURS[m], capsize=4, ms=7,
                          label=label[m])
        curves = [r["curve_n"] for r in results["best_of_n"]]
        xs = [_mean(c[i]["seconds"] for c in curves) for i in range(len(curves[0]))]
        ys = [_mean(c[i][key] for c in curves) for i in range(len(curves[0]))]
        axis.plot(xs, ys, "s--", color=COLOURS["best_of_n"], label="best-of-k, k = 1, 2, 4 ... " + str(facts["n"]))
        for point, x, y in zip(curves[0], xs, ys):
            axis.annotate(str(point["n"]), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
        axis.set(title=title, xlabel="seconds: training budget, or sampling at answer time (best-of-k)", ylabel=key)
    for axis in (train, reward, utility):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(f"{facts['model']}: {facts['seeds']} seeds, {facts['budget_seconds']:.0f} s per method")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _sweep_chart(path: Path, sweeps: dict) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, knob, title in zip(axes, ("superbatch", "kl"), ("superbatch size", "KL coefficient")):
        rows = sweeps[knob]
        if not rows:
            continue
        xs = [str(r["value"]) for r in rows]
        for key, mark, label in (("utility", "o-", "rater utility"), ("reward", "s-", "reward-model reward")):
            axis.errorbar(xs, [r[key] for r in rows], yerr=[r.get(f"{key}_sem", 0.0) for r in rows], fmt=mark,
                          capsize=4, label=f"{label} (held out, ± standard error)")
        axis.plot(xs, [r["distinct_2"] for r in rows], "^:", label="distinct-2")
        axis.set(title=f"SuperHF: {title}", xlabel=title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
