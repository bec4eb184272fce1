"""``superhf bench ...``: the benchmarks, for developers. The desktop bundle leaves them out, so
there each says so in a plain line."""

from __future__ import annotations

import importlib
from argparse import Namespace
from pathlib import Path

from core.cli.output import command, progress_printer, say
from core.errors import InputError
from core.store.database import open_store

JOURNEY_SETTINGS = ["iterations", "prompts_per_iteration", "superbatch_size", "kl_coefficient", "learning_rate",
                    "epochs", "head_start", "max_new_tokens", "answer_weight"]  # training settings bench journey can change


def _bench(module: str):
    """``core.bench.<module>``, or a plain line where it is not installed (the desktop bundle)."""
    try:
        return importlib.import_module(f"core.bench.{module}")
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("core.bench"):
            raise
        raise InputError("The benchmarks are not part of the desktop bundle. Run them from a source checkout "
                         "of SuperHF Studio ('make install', then 'superhf bench ...').") from None


@command("bench superhf")
def bench_superhf(args: Namespace) -> dict:
    run = _bench("superhf").bench_superhf
    from core.cli.options import config_from_args
    from core.superhf.config import SuperHFConfig

    config = config_from_args(SuperHFConfig, args, eval_prompts=0)
    with open_store(args.home) as store:
        return run(store, model=args.model, ratings=args.ratings, config=config, memory=not args.no_memory,
                   device=args.device, on_progress=progress_printer(args), say=lambda t: say(args, t))


@command("bench gui")
def bench_gui(args: Namespace) -> dict:
    run = _bench("gui").bench_gui

    with open_store(args.home) as store:
        return run(store, model=args.model, say=lambda t: say(args, t), on_progress=progress_printer(args))


@command("bench compare")
def bench_compare(args: Namespace) -> dict:
    run = _bench("compare").bench_compare

    with open_store(args.home) as store:
        return run(store, model=args.model, seeds=args.seeds, budget=args.budget, ratings=args.ratings,
                   per_prompt=args.answers, sweep_iterations=args.sweep_iterations,
                   out=Path(args.out).expanduser() if args.out else None, device=args.device,
                   on_progress=progress_printer(args), say=lambda t: say(args, t))


@command("bench generate")
def bench_generate(args: Namespace) -> dict:
    run = _bench("generate").bench_generate

    with open_store(args.home) as store:
        result = run(store, model=args.model, n_prompts=args.prompt_count, n=args.answers,
                     max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, seed=args.seed,
                     precision=args.precision, say=lambda t: say(args, t))
    return result


@command("bench reward")
def bench_reward(args: Namespace) -> dict:
    run = _bench("reward").bench_reward

    with open_store(args.home) as store:
        raters = {"raters": tuple(args.raters)} if args.raters else {}
        return run(store, model=args.model, repeats=args.repeats, budgets=tuple(args.budgets), device=args.device,
                   on_progress=progress_printer(args), say=lambda t: say(args, t), **raters)


@command("bench journey")
def bench_journey(args: Namespace) -> dict:
    run = _bench("journey").bench_journey

    from core.settings import declared
    from core.superhf.config import SuperHFConfig

    changed = {f.name: getattr(args, spec.dest) for f, spec in declared(SuperHFConfig)
               if f.name in JOURNEY_SETTINGS and getattr(args, spec.dest, None) is not None}
    with open_store(args.home) as store:
        return run(store, model=args.model, ratings=args.ratings, seeds=args.seeds, raters=args.raters,
                   minutes=args.minutes, eval_prompts=args.eval_prompts, answers_per_prompt=args.answers,
                   settings=changed or None, first_seed=args.first_seed,
                   extend=Path(args.extend).expanduser() if args.extend else None,
                   device=args.device, out=Path(args.out).expanduser() if args.out else None,
                   on_progress=progress_printer(args), say=lambda t: say(args, t))


@command("bench memory")
def bench_memory(args: Namespace) -> dict:
    run = _bench("memory").bench_memory
    from core.models.devices import choose_device

    with open_store(args.home) as store:
        folder = Path(args.folder).expanduser() if args.folder else store.workspace.cache_dir / "bench-memory"
    return run(folder, sizes=tuple(args.sizes or ("0.5B", "1.5B")), free_gib=args.free_gib,
               device=choose_device(args.device), say=lambda t: say(args, t))
