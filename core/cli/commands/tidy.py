"""Tidying the workspace from the command line: rename and delete models, prompt sets, reward
models, runs and exports; show and edit a prompt set. A delete first prints what goes with it
and asks, unless --yes (with --json, --yes is needed: there is nobody to ask)."""

from __future__ import annotations

import sys
from argparse import Namespace

from core.cli.output import command, say
from core.errors import Cancelled, InputError
from core.journey.renaming import rename
from core.journey.tidy import delete, plan_delete
from core.store.database import open_store

# (group in the parser, kind in core.journey.tidy, what the argument names)
NOUNS = (("model", "model", "model"), ("prompts", "prompts", "prompt set"), ("reward", "reward", "reward model"),
         ("runs", "run", "run"))
COMMAND_NAMES = ([f"{group} {verb}" for group, _, _ in NOUNS for verb in ("rename", "delete")]
                 + ["prompts show", "prompts edit", "prompts remove", "prompts move", "exports list", "exports delete"])


def add_arguments(groups: dict, sub) -> None:
    """The tidy commands, added to the parser's groups ({"model": its subparsers, ...}) and an
    ``exports`` group added to ``sub``."""
    for group, _, what in NOUNS:
        rn = groups[group].add_parser("rename", help=f"rename a {what}")
        rn.add_argument("old")
        rn.add_argument("new")
        dl = groups[group].add_parser("delete", help=f"delete a {what}, saying first what goes with it")
        dl.add_argument("name")
        dl.add_argument("--yes", action="store_true", help="do not ask (needed with --json)")
    groups["reward"].choices["delete"].add_argument("--version", type=int, help="only this version")
    prompts = groups["prompts"]
    prompts.add_parser("show", help="a set's prompts with their ids and splits").add_argument("set")
    pe = prompts.add_parser("edit", help="change a prompt's text")
    pe.add_argument("set")
    pe.add_argument("id", type=int)
    pe.add_argument("text")
    pr = prompts.add_parser("remove", help="delete prompts from a set")
    pr.add_argument("set")
    pr.add_argument("ids", type=int, nargs="+", metavar="PROMPT_ID")
    pr.add_argument("--yes", action="store_true", help="do not ask (needed with --json)")
    pm = prompts.add_parser("move", help="move prompts between training and evaluation")
    pm.add_argument("set")
    pm.add_argument("--to", required=True, choices=["train", "eval"])
    pm.add_argument("ids", type=int, nargs="+", metavar="PROMPT_ID")
    exports = sub.add_parser("exports", help="list and delete exports").add_subparsers(
        dest="action", required=True, parser_class=sub._parser_class)
    exports.add_parser("list", help="every export: where it went, of which run or model")
    ed = exports.add_parser("delete", help="forget an export (its folder stays unless --with-folder)")
    ed.add_argument("name", type=int, metavar="ID")
    ed.add_argument("--with-folder", action="store_true",
                    help="also delete the exported folder (the app's default keeps it: it is the user's copy)")
    ed.add_argument("--yes", action="store_true", help="do not ask (needed with --json)")


def confirm(args: Namespace, text: str) -> None:
    """Print what is about to go, then go on only if the person says yes (or gave --yes)."""
    say(args, text)
    if args.yes:
        return
    if args.json or not sys.stdin.isatty():
        raise InputError("Nothing was deleted: there is nobody to ask. Read what goes above, then run the command "
                         "again with --yes.")
    if input("Delete? [y/N] ").strip().lower() not in ("y", "yes"):
        raise Cancelled("Nothing was deleted.")


def _delete(args: Namespace, kind: str) -> dict:
    with open_store(args.home) as store:
        options = {"version": getattr(args, "version", None), "keep_files": not getattr(args, "with_folder", False)}
        plan = plan_delete(store, kind, args.name, **options)
        if plan.refused:
            raise InputError(plan.refused)
        confirm(args, plan.text())
        result = delete(store, kind, args.name, **options)
    say(args, f"Deleted {result['deleted']}.")
    for line in result["not_removed"]:
        say(args, f"warning: could not remove {line}. Delete it by hand when you can.")
    return result


def _rename(args: Namespace, kind: str) -> dict:
    with open_store(args.home) as store:
        result = rename(store, kind, args.old, args.new)
    say(args, f"Renamed '{result['old']}' to '{result['new']}'.")
    return result


for _group, _kind, _ in NOUNS:
    command(f"{_group} rename")(lambda args, kind=_kind: _rename(args, kind))
    command(f"{_group} delete")(lambda args, kind=_kind: _delete(args, kind))
command("exports delete")(lambda args: _delete(args, "export"))


@command("exports list")
def exports_list(args: Namespace) -> dict:
    from core.store.tidy import list_exports

    with open_store(args.home) as store:
        rows = list_exports(store)
    for r in rows:
        say(args, f"{r['id']}\t{r['run'] or r['model'] or '(deleted)'}\t{r['format'] or 'safetensors'}\t{r['path']}")
    if not rows:
        say(args, "No exports yet. Export a run: superhf export RUN FOLDER")
    return {"exports": rows}


@command("prompts show")
def prompts_show(args: Namespace) -> dict:
    from core.store.prompts import prompts_of

    with open_store(args.home) as store:
        rows = prompts_of(store, args.set)
    for r in rows:
        say(args, f"{r['id']}\t{r['split']}\t{r['text']}")
    return {"set": args.set, "prompts": rows}


@command("prompts edit")
def prompts_edit(args: Namespace) -> dict:
    from core.store.prompt_edits import edit_prompt

    with open_store(args.home) as store:
        row = edit_prompt(store, args.set, args.id, args.text)
    say(args, f"Prompt {row['id']} of set '{args.set}' now reads: {row['text']}")
    return {"set": args.set, "prompt": row}


@command("prompts remove")
def prompts_remove(args: Namespace) -> dict:
    from core.store.prompt_edits import chosen_prompts, delete_prompts

    with open_store(args.home) as store:
        shown = [f"  {r['id']}: {r['text']}" for r in chosen_prompts(store, args.set, args.ids)]
        confirm(args, "\n".join([f"Delete {len(shown)} prompt(s) of set '{args.set}'?", *shown,
                                 "Kept: every rating of answers to them, and the answers already written"]))
        n = delete_prompts(store, args.set, args.ids)
    say(args, f"Deleted {n} prompt(s) of set '{args.set}'.")
    return {"set": args.set, "deleted": n}


@command("prompts move")
def prompts_move(args: Namespace) -> dict:
    from core.store.prompt_edits import move_prompts

    with open_store(args.home) as store:
        n = move_prompts(store, args.set, args.ids, args.to)
    words = {"train": "training", "eval": "evaluation"}[args.to]
    say(args, f"Moved {n} prompt(s) of set '{args.set}' to {words}" + ("" if n == len(set(args.ids)) else
                                                                        "; the others were there already") + ".")
    return {"set": args.set, "moved": n, "to": args.to}
