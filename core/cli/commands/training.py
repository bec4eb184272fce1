"""The CLI's training commands: train, runs, resume, export."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

from core.cli.output import command, progress_printer, say
from core.errors import InputError
from core.journey.metric_words import iteration_line
from core.journey.run_verdict import MINUTES_CAP, run_verdict, time_limit_sentence
from core.protocol import run_event
from core.store.database import open_store



def _print_iteration(args: Namespace):
    show = progress_printer(args)

    def on_progress(event) -> None:
        show(event)
        m = event.detail.get("metrics")
        if event.stage == "iteration" and m:
            say(args, iteration_line(event.done, event.total, m))
            for warning in m["warnings"]:
                say(args, f"warning: {warning}")
    return on_progress


def _run(args: Namespace, run: dict) -> dict:
    """Train the stored ``run`` (a row with its name and id), from where it stands; at the end,
    what changed, in plain words."""
    from core.superhf.distributed import is_main_launch
    from core.superhf.run import run_superhf

    name = run["name"]
    on_progress = _print_iteration(args)
    with open_store(args.home) as store:
        say(args, f"Run '{name}': stop it any time with Ctrl-C; 'superhf resume {name}' continues it.")
        on_progress(run_event(name, run["id"]))  # the window learns the run's name from this, not the sentence
        result = run_superhf(store, name, device=args.device, on_progress=on_progress)
    config = json.loads(run["config"])
    result["verdict"] = run_verdict(result["iterations"], config.get("prompts_per_iteration"))
    result["time_limit"] = time_limit_sentence(config, result["iterations"])
    if is_main_launch():
        for line in (result["time_limit"], result["verdict"]):
            if line:
                say(args, line)
    return result


@command("train")
def train(args: Namespace) -> dict:
    from core.journey.training import start_run
    from core.store.runs import get_run, run_exists
    from core.cli.options import config_from_args
    from core.superhf.config import SuperHFConfig

    cap = {"iterations": MINUTES_CAP} if args.minutes and args.iterations is None else {}
    config = config_from_args(SuperHFConfig, args, **cap)  # --iterations, --kl, ...: errors name the flag
    from core.reward.verdict import verdict
    from core.store.reward_models import reward_model_row
    from core.superhf.distributed import is_main_launch, launched_world_size, wait_for

    if launched_world_size() > 1 and not args.name:
        raise InputError("Name the run with --name when launching several processes, so they all find it.")
    with open_store(args.home) as store:
        if is_main_launch():
            run = start_run(store, model=args.model, reward=args.reward, prompts=args.prompts,
                            config=config.to_dict(), name=args.name)
            reward_row = reward_model_row(store, run["reward_model_id"]) if run.get("reward_model_id") else None
            gate = verdict(reward_row) if reward_row else {"better_than_chance": True}
            if not gate["better_than_chance"]:  # the user may go on; they should know what to expect
                say(args, f"note: the reward model may not know your taste yet. {gate['message']} {gate['advice']}"
                    + (f" About {gate['more_ratings']} more ratings would likely do." if gate["more_ratings"] else ""))
            say(args, _estimate(store, run))
        else:  # the main process creates the run; the others join it
            name = args.name
            wait_for(lambda: run_exists(store, name), "create the run")
            run = get_run(store, name)
    return _run(args, run)


def _estimate(store, run: dict) -> str:
    """How long the new ``run`` will take on this computer, from the rounds measured here."""
    from core.journey.estimate import estimate_sentence
    from core.store.models import model_row
    from core.store.runs import measured_rounds

    model = model_row(store, run["model_id"])["name"]
    return estimate_sentence(json.loads(run["config"]), measured_rounds(store, model))


@command("resume")
def resume(args: Namespace) -> dict:
    from core.store.runs import get_run

    with open_store(args.home) as store:
        run = get_run(store, args.run)
    return _run(args, run)


@command("runs list")
def runs_list(args: Namespace) -> dict:
    from core.store.runs import list_runs

    with open_store(args.home) as store:
        rows = list_runs(store)
    for r in rows:
        say(args, f"{r['name']}\t{r['status']}\t{r['done'] or 0}/{r['iterations']} iterations\t{r['model']}")
    if not rows:
        say(args, "No runs yet. Start one with 'superhf train'.")
    return {"runs": rows}


@command("runs show")
def runs_show(args: Namespace) -> dict:
    from core.store.runs import get_run, iterations

    with open_store(args.home) as store:
        run = get_run(store, args.run)
        its = iterations(store, run["id"])
    say(args, f"{run['name']}: {run['status']}" + (f" ({run['error']})" if run["error"] else ""))
    for it in its:
        say(args, f"  {it['iteration']}: " + ", ".join(f"{k} {v:.4g}" for k, v in it.items()
                                                      if isinstance(v, float)))
    return {"run": {**run, "config": json.loads(run["config"])}, "iterations": its}


@command("export")
def export_command(args: Namespace) -> dict:
    from core.journey.export import export

    with open_store(args.home) as store:
        result = export(store, args.source, Path(args.outdir), force=args.force, adapter_only=args.adapter_only,
                        device=args.device, fmt=args.format, quant=args.quant)
    say(args, f"Exported '{result['source']}' to {result['path']}.")
    return result


@command("compare prepare")
def compare_prepare(args: Namespace) -> dict:
    from core.journey.compare import prepare_comparison

    with open_store(args.home) as store:
        shown = prepare_comparison(store, args.run, args.eval_prompts, seed=args.seed, device=args.device,
                                   on_progress=progress_printer(args))
    say(args, f"{len(shown)} pairs of answers wait to be compared (superhf compare stats {args.run}).")
    return {"run": args.run, "open": len(shown)}


@command("compare stats")
def compare_stats(args: Namespace) -> dict:
    from core.journey.compare import win_rate, win_verdict

    with open_store(args.home) as store:
        rate = win_rate(store, args.run)
    rate["verdict"] = win_verdict(rate)
    say(args, rate["verdict"])
    return rate
