"""The CLI's commands about this computer and the workspace itself: the device, the self-test,
the health check."""

from __future__ import annotations

from argparse import Namespace

from core.cli.output import command, say
from core.store.database import open_store


@command("device")
def device(args: Namespace) -> dict:
    import torch

    from core.models.devices import choose_device

    chosen = choose_device(args.device)
    if chosen.startswith("cuda"):
        name = f"GPU: {torch.cuda.get_device_name(torch.device(chosen))}"
    elif chosen == "mps":
        name = "GPU: Apple"
    else:
        name = f"CPU ({torch.get_num_threads()} threads)"
    say(args, name)
    return {"device": chosen, "name": name}


@command("selftest")
def selftest(args: Namespace) -> dict:
    from core.selftest import self_test

    return self_test(say=lambda t: say(args, t))


@command("doctor")
def doctor(args: Namespace) -> dict:
    from core.store.doctor import check_workspace
    from core.errors import SuperHFError

    with open_store(args.home) as store:
        report = check_workspace(store)
        say(args, f"Workspace {store.workspace.home}: " + ", ".join(f"{n} {t}" for t, n in report["counts"].items())
            + f"; {report['backups']} database backups.")
    for line in report["notes"]:
        say(args, f"note: {line}")
    for line in report["problems"]:
        say(args, f"problem: {line}")
    if report["problems"]:
        raise SuperHFError(f"{len(report['problems'])} problem(s) found; each is listed above with what to do.")
    say(args, "No problems found.")
    return report


@command("status")
def status(args: Namespace) -> dict:
    from core.journey.overview import overview

    with open_store(args.home) as store:
        state = overview(store)
        say(args, f"Workspace {store.workspace.home}")
    say(args, f"  models: {', '.join(m['name'] for m in state['models']) or 'none'}")
    say(args, f"  prompts: {state['train_prompts']} to train on, {state['eval_prompts']} to evaluate with")
    say(args, f"  answers stored: {state['answers']}; ratings: {state['ratings']} "
              f"({state['judgements']} with a winner or a 1-5 score)")
    reward = state["reward_model"]
    if reward:
        say(args, f"  reward model: {reward['name']} v{reward['version']}, from {reward['pairs']} pairs. "
            f"{reward['verdict']}")
    else:
        say(args, "  reward model: none yet")
    say(args, f"  rating: {state['goal']['text']}")
    for run in state["runs"]:
        say(args, f"  run {run['name']}: {run['status']}, {run['done']} of {run['iterations']} rounds")
    say(args, f"  exports: {state['exports']}")
    say(args, f"next: {state['next']['text']}")
    return state
