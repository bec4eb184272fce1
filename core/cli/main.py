"""``superhf``: the headless interface. Every command calls the same ``core`` functions as the
desktop app. ``--json`` makes a command print one JSON object as its last line of stdout;
errors print one line on stderr and exit non-zero."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

import core  # noqa: F401  (switches the Hugging Face libraries offline before they load)
import core.cli.commands.bench  # noqa: F401  (the commands register on import)
import core.cli.commands.chat  # noqa: F401
import core.cli.commands.data  # noqa: F401
import core.cli.commands.system  # noqa: F401
import core.cli.commands.tidy  # noqa: F401
import core.cli.commands.training  # noqa: F401
from core.cli.output import COMMANDS
from core.errors import Cancelled, SuperHFError, os_error_message
from core.protocol import EXIT_BUG, EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE
from core.store.workspace import home_path, workspace_exists

# Commands that only read or change what is stored: a mistyped --home must not create an empty
# workspace for them and answer "nothing yet".
NEEDS_WORKSPACE = {"model list", "prompts list", "ratings export", "reward review", "reward score", "reward list",
                   "rate answer", "rate undo", "rate stats", "ratings list", "ratings change", "ratings delete", "chat",
                   "guidelines show", "guidelines clear", "doctor", "resume", "runs list", "runs show", "export",
                   "compare prepare", "compare stats", "status", *core.cli.commands.tidy.COMMAND_NAMES}
EXIT_CODES = ("exit codes: 0 done; 1 refused or failed, the message says what to do, nothing stored is lost; "
              "2 the command line was not understood; 3 an unexpected error (a bug: please report it); "
              "130 stopped by you (Ctrl-C), finished work kept.")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the usage block; with --json, a JSON line on stdout too
        text = f"{message}. See '{self.prog} --help'."
        if "--json" in sys.argv[1:]:
            print(json.dumps({"error": text, "exit_code": EXIT_USAGE}, ensure_ascii=False))
        self.exit(EXIT_USAGE, f"error: {text}\n")


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command takes, before or after the command's name."""
    default = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--home", help="workspace folder (default: $SUPERHF_HOME or the user data folder)",
                        **default)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout "
                        "(an error too: {\"error\": ..., \"exit_code\": ...})", **default)
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps",
                        **(default or {"default": None}))
    parser.add_argument("--progress-json", action="store_true",
                        help="progress as one JSON object per line on stderr (for the desktop app)", **default)


def _commands(parser: argparse.ArgumentParser):
    """Every parser below ``parser`` that runs a command (has no subcommands of its own)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _commands(sub) if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions) \
                    else [sub]


def _old_name(parser: argparse.ArgumentParser, flag: str, dest: str, kind) -> None:
    """An option's former spelling, still understood and no longer listed: one name per
    concept in --help (``--n`` was answers in one command and pairs in another)."""
    parser.add_argument(flag, dest=dest, type=kind, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def build_parser() -> Parser:
    from core.cli.options import add_config_arguments
    from core.journey.pair_queue import RATING_TEMPERATURE
    from core.reward.config import RewardSettings
    from core.superhf.config import SuperHFConfig

    p = Parser(prog="superhf", description="SuperHF Studio, headless.", epilog=EXIT_CODES)
    p.add_argument("--version", action="version", version=f"superhf {core.__version__}")
    _global_options(p, suppress=False)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    model = sub.add_parser("model", help="import, list, rename and delete models").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    imp = model.add_parser("import", help="import a model folder, a .gguf file or the starter model")
    src = imp.add_mutually_exclusive_group(required=True)
    src.add_argument("path", nargs="?", help="a Hugging Face folder (safetensors) or a .gguf file")
    src.add_argument("--starter", action="store_true", help="the built-in SmolLM2-135M-Instruct")
    imp.add_argument("--name", help="name in the workspace (default: from the path)")
    imp.add_argument("--copy", action="store_true", help="copy a folder into the workspace")
    model.add_parser("list", help="list the workspace's models")

    prompts = sub.add_parser("prompts", help="import, list, show, edit, rename and delete prompt sets").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    pimp = prompts.add_parser("import", help="import prompts from .jsonl, .csv or .txt")
    pimp.add_argument("file")
    pimp.add_argument("--set", dest="set_name", help="prompt set name (default: the file's name)")
    pimp.add_argument("--split", choices=["train", "eval"],
                      help="put every prompt in this split (default: the file's 'split' field, "
                           "else about 1 in 10 to eval)")
    prompts.add_parser("list", help="list prompt sets")

    gen = sub.add_parser("generate", help="sample answers to prompts")
    gen.add_argument("--model", required=True)
    gen.add_argument("--prompts", required=True, help="a prompts file or a prompt set name")
    gen.add_argument("--split", choices=["train", "eval"], help="only this split of the prompts")
    gen.add_argument("--answers", type=int, default=2, help="answers per prompt (default 2)")
    _old_name(gen, "--n", "answers", int)
    gen.add_argument("--max-new-tokens", type=int, default=64)
    gen.add_argument("--temperature", type=float, default=1.0, help="1 samples the model as it is; 0 is greedy")
    gen.add_argument("--top-p", type=float, default=0.95)
    gen.add_argument("--batch-size", type=int, help="answers sampled together (default: as many as memory holds)")
    gen.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                     help="auto: float32 or bfloat16, whichever a short probe measured faster on this "
                          "machine (once, cached in the workspace)")
    gen.add_argument("--backend", choices=["auto", "torch", "vllm"], default="auto",
                     help="auto: vLLM on a CUDA GPU where it is installed, else the built-in engine")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--out", help="write the answers here as JSONL (default: stdout)")

    ratings = sub.add_parser("ratings", help="import, export, review and change ratings").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    ratings.add_parser("import", help="import ratings from .jsonl or .csv").add_argument("file")
    ratings.add_parser("export", help="export every rating to .jsonl or .csv").add_argument("file")
    rl = ratings.add_parser("list", help="ratings, newest first")
    rl.add_argument("--search", default="", help="words that must all appear in the prompt or an answer")
    rl.add_argument("--kind", choices=["pair", "score"])
    rl.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    rc = ratings.add_parser("change", help="change a rating: which answer is better, or its score")
    rc.add_argument("id", type=int)
    rc.add_argument("to", help="a pair: a (first answer better), b, tie or skip; a score: 1-5")
    ratings.add_parser("delete", help="delete a rating").add_argument("id", type=int)
    guide = sub.add_parser("guidelines", help="the workspace's rating guidelines").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    guide.add_parser("show", help="print them")
    guide.add_parser("set", help="replace them with a text file's contents").add_argument("file")
    guide.add_parser("clear", help="remove them")

    reward = sub.add_parser("reward", help="train, use, rename and delete reward models").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    rt = reward.add_parser("train", help="train a reward model on the stored ratings")
    rt.add_argument("--name", default="reward", help="name; each training adds a version (default: reward)")
    rt.add_argument("--base", help="backbone model (default: the latest imported base model)")
    add_config_arguments(rt, RewardSettings)  # --mode, --seed
    rt.add_argument("--review", action="store_true", help="also list the held-out pairs it gets wrong")
    rs = reward.add_parser("score", help="add a reward to each line of a JSONL file")
    rs.add_argument("--reward", required=True)
    rs.add_argument("--in", dest="infile", required=True)
    rs.add_argument("--out", required=True)
    reward.add_parser("list", help="list reward models")
    rv = reward.add_parser("review", help="the held-out comparisons a reward model gets wrong")
    rv.add_argument("--name", help="reward model (default: the latest)")
    rv.add_argument("--limit", type=int, default=10)

    rate = sub.add_parser("rate", help="choose pairs to rate and answer them").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    rn = rate.add_parser("next", help="print the next pairs to rate, as JSONL")
    rn.add_argument("--pairs", type=int, default=10, help="pairs (default 10)")
    _old_name(rn, "--n", "pairs", int)
    rn.add_argument("--prompts", help="prompt set or file (default: every stored prompt)")
    rn.add_argument("--split", choices=["train", "eval"], default="train")
    rn.add_argument("--model", help="model that writes missing answers (default: the latest base model)")
    rn.add_argument("--reward", help="reward model that guesses (default: the latest, if any)")
    rn.add_argument("--candidates", type=int, default=4, help="answers generated per prompt that has none")
    rn.add_argument("--max-new-tokens", type=int, default=64)
    rn.add_argument("--temperature", type=float, default=RATING_TEMPERATURE,
                    help=f"of the candidates: lower reads better, higher varies more (default {RATING_TEMPERATURE})")
    rn.add_argument("--seed", type=int)
    ra = rate.add_parser("answer", help="answer a pair printed by 'rate next'")
    ra.add_argument("id", type=int)
    ra.add_argument("choice", choices=["a", "b", "tie", "skip", "both-bad", "write"],
                    help="a or b: that answer is better; both-bad: neither is good; write: your own is (--text)")
    ra.add_argument("--text", help="with 'write': the better answer you wrote")
    rate.add_parser("undo", help="take back the answer to a pair").add_argument("id", type=int)
    rate.add_parser("stats", help="how often you and the reward model agree")

    train = sub.add_parser("train", help="start a SuperHF run")
    train.add_argument("--model", required=True)
    train.add_argument("--reward", required=True, help="reward model name (its newest version)")
    train.add_argument("--prompts", required=True, help="a prompt set or a prompts file")
    add_config_arguments(train, SuperHFConfig, unset=["iterations", "minutes"])  # typed or not: see train's MINUTES_CAP
    train.add_argument("--name", help="run name (default: run-N)")
    runs = sub.add_parser("runs", help="list, show, rename and delete runs").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    runs.add_parser("list", help="list runs")
    runs.add_parser("show", help="a run's settings and metrics per iteration").add_argument("run")
    core.cli.commands.tidy.add_arguments({"model": model, "prompts": prompts, "reward": reward, "runs": runs}, sub)
    sub.add_parser("resume", help="continue a run from its last finished iteration").add_argument("run")
    ex = sub.add_parser("export", help="write a run's tuned model (or a model) as a Hugging Face folder or a GGUF file")
    ex.add_argument("source", help="a run name or a model name")
    ex.add_argument("outdir")
    ex.add_argument("--force", action="store_true", help="replace a non-empty folder")
    ex.add_argument("--adapter-only", action="store_true", help="only the LoRA adapter")
    ex.add_argument("--format", choices=["safetensors", "gguf"], default="safetensors",
                    help="safetensors: a folder transformers loads (default); gguf: one file for llama.cpp, "
                         "Ollama and LM Studio, with an Ollama Modelfile")
    ex.add_argument("--quant", choices=["f16", "q8_0"], default="f16",
                    help="GGUF weights: f16 (default) or q8_0 (8-bit, about half the size)")

    compare = sub.add_parser("compare", help="blind comparison of a run's tuned model with its base").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    cp = compare.add_parser("prepare", help="answer evaluation prompts with both models, sides shuffled")
    cp.add_argument("run")
    cp.add_argument("--eval-prompts", type=int, default=16, help="how many evaluation prompts (default 16)")
    cp.add_argument("--seed", type=int, default=0)
    compare.add_parser("stats", help="the tuned model's win rate so far").add_argument("run")
    ch = sub.add_parser("chat", help="ask a model or a tuned run a question; the answer prints as it is written")
    ch.add_argument("question", nargs="?", help="the question (default: one per line from standard input, until "
                    "end of input; each is asked afresh)")
    ch.add_argument("--model", action="append", required=True, help="a model or a run (its latest checkpoint); "
                    "repeat to have several answer in turn")
    ch.add_argument("--system", help="a system prompt, such as 'Answer in one sentence.'")
    ch.add_argument("--max-new-tokens", type=int, default=256, help="longest answer, in tokens (default 256)")
    ch.add_argument("--temperature", type=float, default=0.7, help="0 is greedy; higher varies more (default 0.7)")
    ch.add_argument("--top-p", type=float, default=0.95)
    ch.add_argument("--seed", type=int, help="repeat an answer exactly")
    sub.add_parser("device", help="the device training would use")
    sub.add_parser("selftest", help="the whole engine on the starter model in a temporary workspace")
    sub.add_parser("status", help="where the workspace stands on the journey, and the next step")
    sub.add_parser("doctor", help="check the workspace: database integrity and the files it points at")

    bench = sub.add_parser("bench", help="benchmarks: sampling speed, reward-model accuracy, SuperHF").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    bg = bench.add_parser("generate", help="our sampling against plain transformers generate")
    bg.add_argument("--model", help="workspace model (default: the starter, imported if needed)")
    bg.add_argument("--prompt-count", type=int, default=16, help="how many starter prompts (default 16)")
    bg.add_argument("--answers", type=int, default=4, help="answers per prompt (default 4)")
    _old_name(bg, "--n", "answers", int)
    bg.add_argument("--max-new-tokens", type=int, default=64)
    bg.add_argument("--batch-size", type=int, help="for both sides (default: ours chooses; plain gets the same)")
    bg.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                    help="ours only (plain generate stays float32); auto: as measured on this machine")
    bg.add_argument("--seed", type=int, default=0)
    br = bench.add_parser("reward", help="reward model accuracy: random against active selection")
    br.add_argument("--model", help="workspace model (default: the starter, imported if needed)")
    br.add_argument("--repeats", type=int, default=5, help="seeds per rater and method, averaged (default 5)")
    br.add_argument("--rater", dest="raters", action="append",
                    help="a simulated rater (support-lead, concise-expert; repeat for several; default all)")
    br.add_argument("--budgets", type=int, nargs="+", default=[25, 50, 100, 200], help="numbers of ratings")
    bj = bench.add_parser("journey", help="the whole journey as a user walks it, judged by simulated raters: "
                          "ratings -> reward model -> training -> export -> answers, against base and best-of-N")
    bj.add_argument("--model", help="a workspace model, a model folder or a .gguf (default: the starter)")
    bj.add_argument("--ratings", type=int, default=100, help="simulated ratings, chosen as the app chooses them")
    bj.add_argument("--seeds", type=int, default=3)
    bj.add_argument("--rater", dest="raters", action="append",
                    help="a simulated rater (support-lead, concise-expert; repeat for several; default all)")
    bj.add_argument("--minutes", type=float, help="training time per journey (default: the app's default run)")
    bj.add_argument("--eval-prompts", type=int, default=32, help="held-out prompts judged (at most what the set has)")
    bj.add_argument("--answers", type=int, default=4, help="answers judged per held-out prompt")
    bj.add_argument("--out", help="folder for journey.md, journey.json and journey.png")
    bj.add_argument("--first-seed", type=int, default=0, help="the first seed (default 0): with --extend, the next "
                    "seeds of an earlier report")
    bj.add_argument("--extend", help="an earlier report's journey.json (or its folder): its journeys and these make "
                    "one report; the options must be those it was run with")
    settings = core.cli.commands.bench.JOURNEY_SETTINGS
    add_config_arguments(bj, SuperHFConfig, only=settings, unset=settings)  # default: the app's
    bc = bench.add_parser("compare", help="SuperHF against best-of-N, FeedME and TRL's RLOO at an equal wall-clock "
                          "budget, then sweeps of its superbatch and KL coefficient (needs the [bench] extra)")
    bc.add_argument("--model", help="workspace model (default: the starter, imported if needed)")
    bc.add_argument("--seeds", type=int, default=3)
    bc.add_argument("--budget", type=float, default=120.0, help="training seconds per method and seed (default 120)")
    bc.add_argument("--sweep-iterations", type=int, default=2,
                    help="SuperHF iterations per sweep setting (default 2; 0 skips the sweeps)")
    bc.add_argument("--ratings", type=int, default=200, help="simulated ratings for the shared reward model")
    bc.add_argument("--answers", type=int, default=4, help="answers judged per held-out prompt (default 4)")
    bc.add_argument("--out", help="folder for the Markdown report, its PNG charts and its JSON")
    bq = bench.add_parser("gui", help="desktop: time to a visible window, longest stall while training runs")
    bq.add_argument("--model", help="workspace model (default: the starter, imported if needed)")
    bs = bench.add_parser("superhf", help="SuperHF on the starter model: held-out reward, diversity, time, memory")
    bs.add_argument("--model", help="workspace model (default: the starter, imported if needed)")
    add_config_arguments(bs, SuperHFConfig, only=["iterations", "prompts_per_iteration", "superbatch_size",
                                                  "kl_coefficient", "learning_rate"])
    bs.add_argument("--ratings", type=int, default=200, help="simulated ratings the reward model learns from")
    bs.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    bm = bench.add_parser("memory", help="the memory plan's estimate against the measured peak of one small LoRA "
                          "iteration on random 0.5B and 1.5B Llama models (slow: minutes, ~15 GiB at the peak)")
    bm.add_argument("--size", dest="sizes", action="append", choices=["0.5B", "1.5B"],
                    help="a model size (repeat for several; default both)")
    bm.add_argument("--folder", help="where the random models are built, once (default: the workspace's cache)")
    bm.add_argument("--free-gib", type=float, help="tell the plan only this much memory is free, to see its choices")
    for leaf in _commands(p):  # `superhf model list --json` as well as `superhf --json model list`
        _global_options(leaf, suppress=True)
        leaf.epilog = EXIT_CODES
    return p


def _interrupt(_signum, _frame):
    raise KeyboardInterrupt  # SIGTERM stops as Ctrl-C does: finished work stored, the run marked cancelled


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    if os.environ.get("SUPERHF_NICE") and hasattr(os, "nice"):  # set by the desktop app for its engine
        os.nice(int(os.environ["SUPERHF_NICE"]))  # the window gets the CPU first when both want it
    key = f"{args.command} {args.action}" if getattr(args, "action", None) else args.command
    if key in NEEDS_WORKSPACE and not workspace_exists(args.home):
        return _failed(args, f"There is no workspace at {home_path(args.home)}. Check --home (or SUPERHF_HOME); "
                       "a new workspace starts with: superhf model import --starter", EXIT_FAILED)
    try:
        result = COMMANDS[key](args)
    except Cancelled as e:
        return _failed(args, str(e), EXIT_CANCELLED)
    except KeyboardInterrupt:
        return _failed(args, "interrupted. Work finished before the interruption is stored.", EXIT_CANCELLED)
    except SuperHFError as e:
        return _failed(args, str(e), EXIT_FAILED)
    except OSError as e:  # the system refused: the disk, permissions, a file that vanished
        return _failed(args, os_error_message(e), EXIT_FAILED)
    except Exception as e:  # a bug of ours: still one line, plus the way to see more
        if os.environ.get("SUPERHF_DEBUG"):
            raise
        return _failed(args, f"unexpected {type(e).__name__}: {e}. Run again with SUPERHF_DEBUG=1 for details, "
                       "and please report it.", EXIT_BUG)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    return 0


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    """One line on stderr; with --json, also the error as the JSON object of stdout's last line."""
    print(f"error: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False))
    return code


def _quiet_libraries() -> None:
    # Library warnings are for developers; our own messages say what a user needs to know.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # we print our own progress
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecations inside libraries


if __name__ == "__main__":
    sys.exit(main())
