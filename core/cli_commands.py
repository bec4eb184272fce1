"""The CLI's commands: each parses nothing, calls ``core`` and returns the JSON result."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from core.cli import command, progress_printer, say
from core.errors import InputError
from core.store import Store, open_store


def _store(args: Namespace) -> Store:
    return open_store(args.home)


@command("model import")
def model_import(args: Namespace) -> dict:
    from core.models import import_model

    with _store(args) as store:
        row = import_model(store, args.path, starter=args.starter, name=args.name, copy=args.copy,
                           on_progress=progress_printer(args))
    say(args, f"Imported model '{row['name']}' ({row['architecture']}, "
              f"{row['parameters'] / 1e6:.0f}M parameters) from {row['source']}.")
    return {"model": row}


@command("model list")
def model_list(args: Namespace) -> dict:
    from core.models import list_models

    with _store(args) as store:
        rows = list_models(store)
    for r in rows:
        say(args, f"{r['name']}\t{r['kind']}\t{r['architecture']}\t{(r['parameters'] or 0) / 1e6:.0f}M\t{r['path']}")
    if not rows:
        say(args, "No models yet. Import one: superhf model import --starter")
    return {"models": rows}


@command("prompts import")
def prompts_import(args: Namespace) -> dict:
    from core.prompts import import_prompts

    with _store(args) as store:
        result = import_prompts(store, Path(args.file), set_name=args.set_name, split=args.split)
    say(args, f"Set '{result['set']}': added {result['added']} prompts ({result['added_train']} train, "
              f"{result['added_eval']} eval), {result['skipped']} already there; {result['total']} in all.")
    return result


@command("prompts list")
def prompts_list(args: Namespace) -> dict:
    from core.prompts import list_sets

    with _store(args) as store:
        rows = list_sets(store)
    for r in rows:
        say(args, f"{r['name']}\t{r['train'] or 0} train\t{r['eval'] or 0} eval")
    return {"sets": rows}


@command("generate")
def generate(args: Namespace) -> dict:
    from core.answers import generate_answers, resolve_prompts
    from core.generation import SamplingSettings
    from core.records import write_records

    settings = SamplingSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                top_p=args.top_p, batch_size=args.batch_size, seed=args.seed)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and (out.suffix.lower() not in (".jsonl", ".json", ".ndjson") or not out.parent.is_dir()):
        raise InputError(f"--out must be a .jsonl file in an existing folder, not {out}.")
    with _store(args) as store:
        prompts = resolve_prompts(store, args.prompts, args.split)
        if not prompts:
            raise InputError(f"'{args.prompts}' has no {args.split or ''} prompts.".replace("  ", " "))
        rows = generate_answers(store, args.model, prompts, args.n, settings, device=args.device,
                                on_progress=progress_printer(args))
    records = [{"prompt": r["prompt"], "completion": r["completion"], "model": args.model} for r in rows]
    if out is not None:
        write_records(out, records, ["prompt", "completion", "model"])
        say(args, f"Wrote {len(records)} answers to {out}.")
    else:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False), file=sys.stdout)
    return {"generated": len(records), "prompts": len(prompts), "out": str(out) if out else None,
            "seed": json.loads(rows[0]["settings"])["seed"] if rows else settings.seed,
            "generation_ids": [r["id"] for r in rows]}


@command("ratings import")
def ratings_import(args: Namespace) -> dict:
    from core.ratings import import_ratings

    with _store(args) as store:
        result = import_ratings(store, Path(args.file))
    say(args, f"Read {result['read']} ratings: {result['added']} new, {result['skipped']} already stored.")
    return result


@command("ratings export")
def ratings_export(args: Namespace) -> dict:
    from core.ratings import export_ratings

    with _store(args) as store:
        result = export_ratings(store, Path(args.file))
    say(args, f"Exported {result['exported']} ratings to {result['file']}.")
    return result


@command("bench generate")
def bench_generate(args: Namespace) -> dict:
    from core.bench import bench_generate as run

    with _store(args) as store:
        result = run(store, model=args.model, n_prompts=args.prompts, n=args.n,
                     max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, seed=args.seed,
                     device=args.device, on_progress=progress_printer(args), say=lambda t: say(args, t))
    return result
