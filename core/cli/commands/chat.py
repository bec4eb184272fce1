"""``superhf chat``: ask a base model or a tuned run a question and watch the answer being
written; the Try page runs it in its engine process, reading the answer so far from its
progress lines."""

from __future__ import annotations

import sys
from argparse import Namespace

from core.cli.output import command, progress_printer
from core.errors import InputError
from core.journey.chat import CHAT_STAGE
from core.progress import Progress
from core.store.database import open_store


class _Printer:
    """The answer on the terminal as it grows: each new piece printed once (on stderr under
    --json, keeping stdout for the result; not at all under --progress-json, whose lines carry
    the text), under a heading that names the model when several answer."""

    def __init__(self, args: Namespace):
        self.several = len(args.model) > 1
        self.stream = None if args.progress_json else (sys.stderr if args.json else sys.stdout)
        self.progress = progress_printer(args) if args.progress_json else None
        self.side, self.printed = None, ""

    def __call__(self, event) -> None:
        if self.progress is not None:
            self.progress(event)
        if event.stage != CHAT_STAGE or self.stream is None:
            return
        if event.detail["side"] != self.side:
            self.side, self.printed = event.detail["side"], ""
            if self.several:
                print(f"── {event.detail['model']}", file=self.stream, flush=True)
        text = event.detail["text"]
        if text.startswith(self.printed):  # the shown text only grows, but for whitespace at its end
            print(text[len(self.printed):], end="", file=self.stream, flush=True)
            self.printed = text
        if event.detail.get("complete"):
            print(file=self.stream, flush=True)
            self.side = None


@command("chat")
def chat(args: Namespace) -> dict:
    from core.journey.chat import answer, ask, load_chat_model
    from core.sampling.generation import SamplingSettings

    settings = SamplingSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                                seed=args.seed)
    printer = _Printer(args)
    with open_store(args.home) as store:
        if args.question is not None:  # one question: one model in memory at a time
            answers = ask(store, args.model, args.question, system=args.system, settings=settings,
                          device=args.device, on_progress=printer)
            return {"chats": [{"question": args.question.strip(), "system": args.system, "answers": answers}]}
        # Questions read one by one: every model stays loaded to answer the next.
        models = [load_chat_model(store, name, device=args.device, on_progress=printer.progress) for name in args.model]
    if sys.stdin.isatty() and not args.json:
        print("Type a question and press Enter; each is asked afresh. Ctrl-D ends.", file=sys.stderr)
    chats = []
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        answers = []
        for side, chat_model in enumerate(models):
            event = lambda text, n, **more: printer(Progress(  # noqa: E731
                CHAT_STAGE, n, settings.max_new_tokens, {"side": side, "model": chat_model.name, "text": text, **more}))
            answers.append(answer(chat_model, question, system=args.system, settings=settings, on_text=event))
            event(answers[-1]["text"], settings.max_new_tokens, complete=True)
        chats.append({"question": question, "system": args.system, "answers": answers})
    if not chats:
        raise InputError("No question was read. Give one as an argument (superhf chat --model NAME \"Why?\"), or "
                         "type one per line on standard input.")
    return {"chats": chats}
