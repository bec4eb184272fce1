"""The CLI's commands: each parses nothing, calls ``core`` and returns the JSON result."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from core.cli.output import command, progress_printer, say
from core.errors import InputError
from core.store.database import Store, open_store


def _store(args: Namespace) -> Store:
    return open_store(args.home)


@command("model import")
def model_import(args: Namespace) -> dict:
    from core.models.importing import import_model

    with _store(args) as store:
        row = import_model(store, args.path, starter=args.starter, name=args.name, copy=args.copy,
                           on_progress=progress_printer(args))
    say(args, f"Imported model '{row['name']}' ({row['architecture']}, "
              f"{row['parameters'] / 1e6:.0f}M parameters) from {row['source']}.")
    return {"model": row}


@command("model list")
def model_list(args: Namespace) -> dict:
    from core.store.models import list_models

    with _store(args) as store:
        rows = list_models(store)
    for r in rows:
        say(args, f"{r['name']}\t{r['kind']}\t{r['architecture']}\t{(r['parameters'] or 0) / 1e6:.0f}M\t{r['path']}")
    if not rows:
        say(args, "No models yet. Import one: superhf model import --starter")
    return {"models": rows}


@command("prompts import")
def prompts_import(args: Namespace) -> dict:
    from core.store.prompts import import_prompts

    with _store(args) as store:
        result = import_prompts(store, Path(args.file), set_name=args.set_name, split=args.split)
    say(args, f"Set '{result['set']}': added {result['added']} prompts ({result['added_train']} train, "
              f"{result['added_eval']} eval), {result['skipped']} already there; {result['total']} in all.")
    return result


@command("prompts list")
def prompts_list(args: Namespace) -> dict:
    from core.store.prompts import list_sets

    with _store(args) as store:
        rows = list_sets(store)
    for r in rows:
        say(args, f"{r['name']}\t{r['train'] or 0} train\t{r['eval'] or 0} eval")
    return {"sets": rows}


@command("generate")
def generate(args: Namespace) -> dict:
    from core.journey.answers import generate_answers, resolve_prompts
    from core.sampling.generation import SamplingSettings
    from core.records import write_records

    settings = SamplingSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                top_p=args.top_p, batch_size=args.batch_size, seed=args.seed,
                                precision=args.precision, backend=args.backend)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and (out.suffix.lower() not in (".jsonl", ".json", ".ndjson") or not out.parent.is_dir()):
        raise InputError(f"--out must be a .jsonl file in an existing folder, not {out}.")
    with _store(args) as store:
        prompts = resolve_prompts(store, args.prompts, args.split)
        if not prompts:
            raise InputError(f"'{args.prompts}' has no {args.split or ''} prompts.".replace("  ", " "))
        stats: dict = {}
        rows = generate_answers(store, args.model, prompts, args.answers, settings, device=args.device,
                                on_progress=progress_printer(args), stats=stats)
    if stats.get("seconds"):  # on stderr when stdout carries the answers
        line = (f"Sampled {stats['tokens']} tokens in {stats['seconds']:.1f} s ({stats['tokens'] / stats['seconds']:.0f} "
                f"tokens/s, {stats['dtype']}, batch {stats['batch_size']}).")
        say(args, line) if out is not None else print(line, file=sys.stderr, flush=True)
    records = [{"prompt": r["prompt"], "completion": r["completion"], "model": args.model} for r in rows]
    if out is not None:
        write_records(out, records, ["prompt", "completion", "model"])
        say(args, f"Wrote {len(records)} answers to {out}.")
    else:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False), file=sys.stdout)
    return {"generated": len(records), "prompts": len(prompts), "out": str(out) if out else None,
            "seed": json.loads(rows[0]["settings"])["seed"] if rows else settings.seed,
            "generation_ids": [r["id"] for r in rows], "sampling": stats}


@command("ratings import")
def ratings_import(args: Namespace) -> dict:
    from core.store.ratings import import_ratings

    with _store(args) as store:
        result = import_ratings(store, Path(args.file))
    say(args, f"Read {result['read']} ratings: {result['added']} new, {result['skipped']} already stored.")
    return result


@command("ratings export")
def ratings_export(args: Namespace) -> dict:
    from core.store.ratings import export_ratings

    with _store(args) as store:
        result = export_ratings(store, Path(args.file))
    say(args, f"Exported {result['exported']} ratings to {result['file']}.")
    return result


@command("reward train")
def reward_train(args: Namespace) -> dict:
    from core.cli.options import config_from_args
    from core.reward.config import RewardSettings
    from core.reward.verdict import verdict
    from core.reward.versions import train_reward_model

    with _store(args) as store:
        row = train_reward_model(store, name=args.name, base=args.base, device=args.device,
                                 settings=config_from_args(RewardSettings, args),
                                 on_progress=progress_printer(args))
    say(args, f"Reward model '{row['name']}' v{row['version']} ({args.mode}): {row['train_pairs']} training pairs, "
              f"trained in {row['seconds']:.1f} s.")
    judged = verdict(row)
    say(args, f"Held-out accuracy: {judged['message']}" if row["accuracy"] is not None
        else f"No held-out accuracy: {row['accuracy_note']}")
    say(args, judged["advice"])
    result = {k: v for k, v in row.items() if k not in ("data", "settings")}
    result["verdict"] = {k: judged[k] for k in ("better_than_chance", "message", "more_ratings", "advice")}
    if args.review:
        from core.reward.review import disagreements

        with _store(args) as store:
            result["review"] = disagreements(store, row, device=args.device, on_progress=progress_printer(args))
        say(args, f"It disagrees with {result['review'].get('wrong_count', 0)} of {result['review']['checked']} "
                  "checked comparisons.")
    return result


@command("reward review")
def reward_review(args: Namespace) -> dict:
    from core.store.reward_models import find_reward_model, latest_reward_model
    from core.reward.review import disagreements

    with _store(args) as store:
        row = find_reward_model(store, args.name) if args.name else latest_reward_model(store)
        if row is None:
            raise InputError("There is no reward model yet. Train one: superhf reward train")
        review = disagreements(store, row, args.limit, device=args.device, on_progress=progress_printer(args))
    say(args, f"{row['name']} v{row['version']} disagrees with {review.get('wrong_count', 0)} of {review['checked']} "
              "checked comparisons.")
    for w in review["wrong"]:
        say(args, f"- {w['prompt']!r}: it preferred the rejected answer ({1 - w['guess']:.0%} sure)")
    return {"reward_model": row["name"], "version": row["version"], "review": review}


@command("reward score")
def reward_score(args: Namespace) -> dict:
    from core.journey.rating import score_file

    with _store(args) as store:
        result = score_file(store, args.reward, Path(args.infile), Path(args.out), device=args.device,
                            on_progress=progress_printer(args))
    say(args, f"Scored {result['scored']} answers with '{result['reward_model']}' v{result['version']} "
              f"into {result['out']}.")
    return result


@command("reward list")
def reward_list(args: Namespace) -> dict:
    from core.store.reward_models import list_reward_models

    with _store(args) as store:
        rows = list_reward_models(store)
    for r in rows:
        acc = f"{r['accuracy']:.1%}" if r["accuracy"] is not None else "n/a"
        say(args, f"{r['name']}\tv{r['version']}\t{r['mode']}\t{r['pairs']} pairs\taccuracy {acc}\t{r['base_model']}")
    if not rows:
        say(args, "No reward models yet. Train one: superhf reward train")
    return {"reward_models": rows}


@command("rate next")
def rate_next(args: Namespace) -> dict:
    from core.journey.answers import resolve_prompts
    from core.sampling.generation import SamplingSettings
    from core.journey.rating import next_pairs
    from core.store.prompts import distinct_prompts

    with _store(args) as store:
        if args.prompts:
            prompts = resolve_prompts(store, args.prompts, args.split)
        else:
            prompts = distinct_prompts(store, args.split)
        if not prompts:
            raise InputError("There are no prompts to rate answers to. Import some: superhf prompts import FILE")
        settings = SamplingSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed)
        pairs = next_pairs(store, prompts, args.pairs, reward=args.reward, model=args.model, candidates=args.candidates,
                           settings=settings, device=args.device, on_progress=progress_printer(args))
    shown = [{"id": p["id"], "prompt": p["prompt"], "a": p["a"], "b": p["b"], "generation_a": p["generation_a"],
              "generation_b": p["generation_b"], "a_ended": bool(p["a_finished"]), "b_ended": bool(p["b_finished"]),
              "guess": p["guess"], "reason": p["reason"]} for p in pairs]
    if not args.json:
        for p in shown:
            print(json.dumps(p, ensure_ascii=False))
    if not shown:
        say(args, "Every pair of stored answers is rated. Generate more answers, or import more prompts.")
    return {"pairs": shown}


@command("rate answer")
def rate_answer(args: Namespace) -> dict:
    from core.journey.answering import answer_pair

    with _store(args) as store:
        result = answer_pair(store, args.id, args.choice, args.text)
    note = "" if result["agreed"] is None else (" The reward model guessed the same." if result["agreed"]
                                                 else " The reward model guessed otherwise.")
    say(args, f"Pair {result['pair']}: '{result['choice']}' saved.{note}")
    return result


@command("rate undo")
def rate_undo(args: Namespace) -> dict:
    from core.journey.answering import undo_pair

    with _store(args) as store:
        undo_pair(store, args.id)
    say(args, f"Pair {args.id}: answer taken back; it is open to rate again.")
    return {"pair": args.id, "undone": True}


@command("ratings list")
def ratings_list(args: Namespace) -> dict:
    from core.store.rating_history import list_ratings, said

    with _store(args) as store:
        rows = list_ratings(store, args.search, args.kind, args.limit)
    for r in rows:
        answers = f"{r['completion']!r}" if r["kind"] == "score" else f"first {r['a']!r} / second {r['b']!r}"
        say(args, f"{r['id']}\t{r['created_at'][:16]}\t{said(r)}\t{r['prompt']!r}: {answers}")
    if not rows:
        say(args, "No ratings match." if args.search or args.kind else "No ratings yet.")
    return {"ratings": rows}


@command("ratings change")
def ratings_change(args: Namespace) -> dict:
    from core.store.rating_history import change_rating

    with _store(args) as store:
        result = change_rating(store, args.id, args.to)
    say(args, f"Rating {args.id} changed." if not result["merged"] else
        f"Rating {args.id} now says the same as rating {result['rating']}: it is kept once, as {result['rating']}.")
    return result


@command("ratings delete")
def ratings_delete(args: Namespace) -> dict:
    from core.store.rating_history import remove_rating

    with _store(args) as store:
        remove_rating(store, args.id)
    say(args, f"Rating {args.id} deleted.")
    return {"rating": args.id, "deleted": True}


@command("guidelines show")
def guidelines_show(args: Namespace) -> dict:
    from core.store.texts import GUIDELINES, get_text

    with _store(args) as store:
        text = get_text(store, GUIDELINES)
    say(args, text or "No rating guidelines yet. Write them in a text file: superhf guidelines set FILE")
    return {"guidelines": text}


@command("guidelines set")
def guidelines_set(args: Namespace) -> dict:
    from core.store.texts import save_guidelines

    path = Path(args.file).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"Could not read {path} as a UTF-8 text file ({e}). Nothing was changed.") from None
    with _store(args) as store:
        text = save_guidelines(store, text)
    say(args, f"Rating guidelines saved ({len(text.split())} words).")
    return {"guidelines": text}


@command("guidelines clear")
def guidelines_clear(args: Namespace) -> dict:
    from core.store.texts import save_guidelines

    with _store(args) as store:
        save_guidelines(store, "")
    say(args, "Rating guidelines removed.")
    return {"guidelines": ""}


@command("rate stats")
def rate_stats(args: Namespace) -> dict:
    from core.journey.answering import agreement

    with _store(args) as store:
        result = agreement(store)
    if result["answered"]:
        say(args, f"You and the reward model agreed on {result['agreement']:.0%} of {result['answered']} pairs "
                  f"it guessed ({result['agreement_last_20']:.0%} of the last 20).")
    else:
        say(args, "No rated pair had a reward model's guess yet.")
    return result
