"""The report of ``superhf bench journey``: the summary over seeds per rater, a Markdown file
with its tables, the JSON of every journey, and a PNG chart of judged quality against minutes
of training."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

from core.metrics import mean as _mean
from core.metrics import std as _std

PROBE_ANSWERS = 2  # answers per probe prompt for each checkpoint on the curve


def _num(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _over_seeds(values: list[float], within_se: list[float]) -> dict:
    """Mean over seeds and its standard error: over seeds when there are several, else the
    one seed's standard error over prompts."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "se": None, "se_over": None}
    if len(values) > 1:
        return {"mean": _mean(values), "se": _std(values) / math.sqrt(len(values)), "se_over": "seeds"}
    return {"mean": values[0], "se": within_se[0] if within_se else None, "se_over": "prompts"}


def _summary(runs: list[dict], best_of: Sequence[int]) -> dict:
    def col(key):
        return [r[key] for r in runs]

    gain = _over_seeds(col("gain"), col("gain_se"))
    out = {"seeds": len(runs), "gain": gain,
           "gain_in_se": gain["mean"] / gain["se"] if gain["se"] else None,
           "base": _mean(col("base")), "tuned": _mean(col("tuned")), "best_of_1": _mean(col("best_of_1")),
           "distinct_2_ratio": _over_seeds(col("distinct_2_ratio"), []),
           "finished_base": _mean(col("finished_base")), "finished_tuned": _mean(col("finished_tuned")),
           "words_base": _mean(col("words_base")), "words_tuned": _mean(col("words_tuned")),
           "reward_agreement": _over_seeds(col("agreement"), []),
           "reward_agreement_clear": _over_seeds(col("agreement_clear"), []),
           "reward_accuracy": _mean(a for a in col("reward_accuracy") if a is not None)
           if any(a is not None for a in col("reward_accuracy")) else None,
           "rating_agreement": _mean(a for a in col("rating_agreement") if a is not None)
           if any(a is not None for a in col("rating_agreement")) else None,
           "minutes": _over_seeds(col("minutes"), []), "iterations": col("iterations")}
    for k in best_of:
        out[f"best_of_{k}"] = _mean(col(f"best_of_{k}"))
        out[f"tuned_minus_best_of_{k}"] = _over_seeds(col(f"tuned_minus_best_of_{k}"),
                                                      col(f"tuned_minus_best_of_{k}_se"))
    d2 = out["distinct_2_ratio"]["mean"]
    vs4 = out.get("tuned_minus_best_of_4", {}).get("mean")
    out["done_when"] = {"gain_at_least_3_se": bool(out["gain_in_se"] is not None and out["gain_in_se"] >= 3),
                        "distinct_2_at_least_80_percent": bool(d2 is not None and d2 >= 0.8),
                        "at_least_best_of_4": None if vs4 is None else bool(vs4 >= 0)}
    return out


# ---------------------------------------------------------------- the report

def _pm(cell: dict, digits: int = 3) -> str:
    if cell is None or cell.get("mean") is None:
        return "n/a"
    se = f" ± {cell['se']:.{digits}f}" if cell.get("se") is not None else ""
    return f"{cell['mean']:+.{digits}f}{se}"


def _yes(flag) -> str:
    return "n/a" if flag is None else ("**yes**" if flag else "no")


def write_report(out: Optional[Path], facts: dict, summary: dict, journeys: list[dict], tastes: dict) -> str:
    """The Markdown text; with ``out``, also written there as journey.md with journey.json and
    the chart journey.png."""
    chart = None
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        chart = _chart(out / "journey.png", facts, summary, journeys)
    text = _markdown(facts, summary, journeys, tastes, chart.name if chart else None)
    if out is not None:
        (out / "journey.md").write_text(text)
        (out / "journey.json").write_text(json.dumps({"facts": facts, "summary": summary, "journeys": journeys},
                                                     indent=1))
    return text


def _parts(facts: dict) -> str:
    """How a report put together with --extend came to be: its runs, their seeds and minutes."""
    parts = facts.get("parts") or []
    if len(parts) < 2:
        return ""
    runs = "; ".join(f"seeds {', '.join(map(str, p['seed_list']))} in {p['total_minutes'] or 0:.1f} min" for p in parts)
    return f" Put together from {len(parts)} runs (`--extend`), each its own process: {runs}."


def _markdown(facts: dict, summary: dict, journeys: list[dict], tastes: dict, chart: Optional[str]) -> str:
    ks = facts["best_of"]
    limit = facts["settings"].get("minutes")
    budget = (f"for {facts['minutes_budget']:g} minutes" if facts["minutes_budget"] is not None
              else f"for {facts['settings']['iterations']} iteration(s)"
              + (f" (at most {limit:g} minutes)" if limit else ""))
    precision = facts.get("precision") or {}
    every = facts["retrain_every"]
    selection = (f"the first {every} without a reward model, then a reward model retrained every {every} ratings so "
                 f"that active selection picks the rest" if every and every < facts["ratings"] else
                 "all without a reward model: the most different answers first")
    changed = {k: v for k, v in (facts["changed_settings"] or {}).items() if k != "seed"}
    run_settings = ("the default settings" if not changed else "the default settings except "
                    + ", ".join(f"{k} {v}" for k, v in changed.items()))
    se_over = {s["gain"]["se_over"] for s in summary.values()}
    lines = [
        "# The journey, walked by simulated raters", "",
        f"Model {facts['model']} on {facts['device']}. For each rater and seed, in a fresh workspace: "
        f"{facts['ratings']} ratings chosen by the app's own selection ({selection}), a reward model with the default settings, a SuperHF run with {run_settings} "
        f"{budget}, export, and plain `transformers` answers from the exported folder. "
        f"{facts['held_out_prompts']} held-out prompts (never rated nor trained on"
        + (f"; {facts['asked_held_out_prompts']} were asked for, the starter set has only "
           f"{facts['held_out_prompts'] + facts['training_prompts']} prompts" if
           facts['asked_held_out_prompts'] > facts['held_out_prompts'] else "")
        + f") x {facts['answers_per_prompt']} answers, judged by the rater's own utility, which no model ever "
        f"saw; {facts['training_prompts']} prompts to rate and train on. {facts['seeds']} seed(s); the whole "
        f"benchmark took {facts['total_minutes']:.1f} min." + _parts(facts)
        + (" Precision (" + "; ".join(f"{k}: {v}" for k, v in precision.items()) + ")." if precision else ""), "",
        "- *gain*: tuned minus base utility, paired per held-out prompt; over seeds the mean ± its standard error "
        + ("over seeds." if se_over == {"seeds"} else "(over seeds where there are several; with one seed over "
                                                       "prompts, which leaves out the spread between training runs)."),
        f"- *best-of-k*: no training; each answer the reward model's pick of k samples of the base model "
        f"({max(ks)} samples per held-out prompt in disjoint groups of k).",
        "- *reward model agrees*: on fresh pairs of base answers to held-out prompts, how often it picks what the "
        "rater picks (the rater's choice is noisy; \"clear\": against the rater's utility where the two differ).",
        "- *finished*: answers that ended at the end-of-turn token rather than at the length limit.", "",
        "The raters:", ""]
    lines += [f"- **{name}**: {taste}; between two answers it picks A with probability sigmoid(3 (u(A) - u(B)))."
              for name, taste in tastes.items()]
    head = (["rater", "gain (tuned − base)", "in SE", "base", "tuned"] + [f"best-of-{k}" for k in ks]
            + [f"tuned − best-of-{k}" for k in ks]
            + ["distinct-2 tuned/base", "finished base → tuned", "reward model agrees (clear)",
               "reward held-out accuracy", "training minutes", "iterations"])
    lines += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for name, s in summary.items():
        acc = "n/a" if s["reward_accuracy"] is None else f"{s['reward_accuracy']:.0%}"
        cells = ([name, _pm(s["gain"]), "n/a" if s["gain_in_se"] is None else f"{s['gain_in_se']:+.1f}",
                  f"{s['base']:.3f}", f"{s['tuned']:.3f}"] + [f"{s[f'best_of_{k}']:.3f}" for k in ks]
                 + [_pm(s[f"tuned_minus_best_of_{k}"]) for k in ks]
                 + [f"{s['distinct_2_ratio']['mean']:.2f}" if s['distinct_2_ratio']['mean'] is not None else "n/a",
                    f"{s['finished_base']:.0%} → {s['finished_tuned']:.0%}",
                    f"{_pct(s['reward_agreement']['mean'])} ({_pct(s['reward_agreement_clear']['mean'])})", acc,
                    f"{s['minutes']['mean']:.1f}", ", ".join(str(i) for i in s["iterations"])])
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Done when (issue 15), per rater: the tuned model beats the base by at least 3 standard errors, "
              "keeps distinct-2 at 80% of the base's or more, and scores at least as well as best-of-4.", "",
              "| rater | ≥ 3 SE over base | distinct-2 ≥ 80% | ≥ best-of-4 |", "|---|---|---|---|"]
    for name, s in summary.items():
        d = s["done_when"]
        lines.append(f"| {name} | {_yes(d['gain_at_least_3_se'])} | {_yes(d['distinct_2_at_least_80_percent'])} | "
                     f"{_yes(d['at_least_best_of_4'])} |")
    lines += ["", "Each journey:", "",
              "| rater | seed | ratings | gain | base | tuned | best-of-4 | distinct-2 base → tuned | words base → tuned "
              "| reward agrees | minutes: rating, reward, training | KL at the end |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for j in journeys:
        kl = "n/a" if j.get("kl") is None else f"{j['kl']:.4f}"
        lines.append(f"| {j['rater']} | {j['seed']} | {j['ratings']} | {j['gain']:+.3f} ± {j['gain_se']:.3f} | "
                     f"{j['base']:.3f} | {j['tuned']:.3f} | {j.get('best_of_4', float('nan')):.3f} | "
                     f"{j['distinct_2_base']:.3f} → {j['distinct_2_tuned']:.3f} | "
                     f"{j['words_base']:.1f} → {j['words_tuned']:.1f} | {_pct(j['agreement'])} | "
                     f"{j['rating_minutes']:.1f}, {j['reward_seconds'] / 60:.1f}, {j['minutes']:.1f} | {kl} |")
    if chart:
        lines += ["", f"Judged quality against minutes of training: each iteration's checkpoint on a probe of "
                  f"{facts['probe_prompts']} held-out prompts x {PROBE_ANSWERS} answers (the app's sampler, one seed "
                  f"for every point); the horizontal lines are the base, best-of-k and the tuned model on the whole "
                  f"held-out set.", "", f"![{chart}]({chart})"]
    return "\n".join(lines) + "\n"


def _chart(path: Path, facts: dict, summary: dict, journeys: list[dict]) -> Path:
    from core.bench.report import _pyplot

    plt = _pyplot()
    names = list(summary)
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.4), squeeze=False)
    for axis, name in zip(axes[0], names):
        s = summary[name]
        for j in (j for j in journeys if j["rater"] == name):
            xs, ys = zip(*j["curve"])
            axis.plot(xs, ys, "o-", alpha=0.7, ms=4, label=f"seed {j['seed']}: probe, each iteration")
        axis.axhline(s["base"], color="#777777", ls=":", label="base (held out)")
        for k, colour in zip(facts["best_of"], ("#2ca02c", "#17becf", "#9467bd")):
            axis.axhline(s[f"best_of_{k}"], color=colour, ls="--", label=f"best-of-{k} (held out)")
        axis.errorbar([s["minutes"]["mean"]], [s["tuned"]], yerr=[s["gain"]["se"] or 0.0], fmt="D", color="#d62728",
                      capsize=4, ms=7, label="tuned, exported (held out)")
        axis.set(title=f"{name}", xlabel="minutes of training", ylabel="the rater's utility")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.suptitle(f"{facts['model']}: {facts['ratings']} ratings, {facts['seeds']} seed(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
