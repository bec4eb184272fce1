"""Trying a model on your own question: a base model or a tuned run's latest checkpoint
answers it, with an optional system prompt, token by token. The text so far goes to a
callback after every token that changes it (``superhf chat`` prints it; in the app it travels
to the window as progress events), so an answer shows as it is written.

One answer at a time from one sequence, so this has its own short decoding loop rather than
the batch engine's (``core.sampling.decoder``, whose step hook does not see tokens); it draws
each token with the same ``nucleus_sample``, stops at the same end-of-turn tokens, and cuts a
turn the model invents for the user exactly as sampled answers are cut."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

from core.errors import InputError, NotFoundError
from core.progress import CancelToken, ProgressCallback, report
from core.sampling.generation import (
    FALLBACK_TEMPLATE,
    INVENTED_TURN,
    SamplingSettings,
    encode_prompt,
    stop_token_ids,
    strip_invented_turns,
    with_bos,
)
from core.store.database import Store
from core.store.models import find_model, model_row
from core.store.runs import find_run, last_checkpoint

CHAT_STAGE = "answering"  # the progress events that carry an answer's text so far
TURN_WORDS = ("user", "human", "assistant", "system")  # a line that may be opening an invented turn


@dataclass
class ChatModel:
    """A model ready to answer: what it is (``kind`` "model" or "run"), for a person."""

    name: str
    kind: str
    label: str  # "smollm2 (base model)", "first (tuned, round 5 of smollm2)"
    lm: object  # core.models.loading.LoadedModel


def load_chat_model(store: Store, name: str, *, device: Optional[str] = None,
                    on_progress: Optional[ProgressCallback] = None) -> ChatModel:
    """A run's policy as its latest checkpoint left it (LoRA merged, no reference copy kept),
    or a workspace model. A run is found first, as ``superhf export`` finds it."""
    run, model = find_run(store, name), find_model(store, name)
    if run is None and model is None:
        raise NotFoundError(f"No model or run named '{name}'. 'superhf model list' and 'superhf runs list' show "
                            "what there is.")
    if run is None:
        from core.models.importing import load_model

        return ChatModel(name, "model", f"{name} (base model)",
                         load_model(store, name, device=device, on_progress=on_progress))
    from core.superhf.run import run_policy

    checkpoint = last_checkpoint(store, run["id"])
    if checkpoint is None:
        raise InputError(f"Run '{name}' has no finished round yet, so there is no tuned model to ask. Continue it "
                         f"with 'superhf resume {name}', or ask its base model.")
    report(on_progress, "loading model", 0, 1, model=name)
    policy, config, _ = run_policy(store, run, device=device)
    lm = policy.lm
    if config.lora:
        lm.model = lm.model.merge_and_unload()  # one plain model answers faster than base + adapters
    lm.model.eval()
    base = model_row(store, run["model_id"])["name"]
    report(on_progress, "loading model", 1, 1, model=name)
    return ChatModel(name, "run", f"{name} (tuned, round {checkpoint['iteration']} of {base})", lm)


def chat_prompt_ids(tokenizer, question: str, system: Optional[str] = None) -> list[int]:
    """The question as sampling encodes a prompt (``encode_prompt``), after a system turn when
    one is given. A template that refuses a system turn (Gemma's) gets it at the head of the
    question instead; a model with no template gets it before the plain "User: ..." form."""
    system = (system or "").strip()
    if not system:
        return encode_prompt(tokenizer, question)
    if getattr(tokenizer, "chat_template", None):
        turns = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        try:
            text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        except Exception:  # noqa: BLE001 - the template refuses a system turn: fold it into the question
            return encode_prompt(tokenizer, f"{system}\n\n{question}")
    else:
        text = f"{system}\n\n{FALLBACK_TEMPLATE.format(prompt=question)}"
    return with_bos(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])


def shown_so_far(raw: str) -> tuple[str, bool]:
    """What to show of an answer being written, and whether the model has begun a turn of its
    own making (the answer then ends there). A last line that may yet become "User:" is held
    back until it is clearly not, so a cut turn never flashes on screen; so is a character
    still incomplete (a multi-byte one split across tokens)."""
    match = INVENTED_TURN.search(raw)
    if match:
        return raw[:match.start()].strip(), True
    text = raw.rstrip("\ufffd")
    head, newline, last = text.rpartition("\n")
    word = last.strip().lstrip("#").strip().lower()
    if word and any(w.startswith(word) for w in TURN_WORDS):
        text = head + newline
    return text.lstrip(), False


def answer(chat_model: ChatModel, question: str, *, system: Optional[str] = None,
           settings: SamplingSettings = SamplingSettings(max_new_tokens=256, temperature=0.7),
           on_text: Optional[Callable[[str, int], None]] = None, cancel: Optional[CancelToken] = None) -> dict:
    """The model's answer to ``question``. ``on_text(text_so_far, tokens)`` runs whenever the
    shown text changes; cancelling stops within one token."""
    import torch

    from core.sampling.decoder import model_cache, nucleus_sample

    question = (question or "").strip()
    if not question:
        raise InputError("The question is empty: type a question to ask.")
    lm = chat_model.lm
    ids = chat_prompt_ids(lm.tokenizer, question, system)
    limit = getattr(lm.model.config, "max_position_embeddings", None)
    if limit and len(ids) + settings.max_new_tokens > limit:
        raise InputError(f"The question is {len(ids)} tokens long; with {settings.max_new_tokens} new tokens that "
                         f"passes the model's limit of {limit}. Shorten it or lower the answer's length.")
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    stops = set(stop_token_ids(lm))
    device = next(lm.model.parameters()).device
    started, tokens, shown, finished = time.perf_counter(), [], "", False
    with torch.inference_mode():
        out = lm.model(input_ids=torch.tensor([ids], device=device), use_cache=True, logits_to_keep=1)
        for _ in range(settings.max_new_tokens):
            if cancel is not None:
                cancel.check()
            token = int(nucleus_sample(out.logits[:, -1], settings.temperature, settings.top_p)[0])
            if token in stops:
                finished = True
                break
            tokens.append(token)
            text, turn_ended = shown_so_far(lm.tokenizer.decode(tokens, skip_special_tokens=True))
            if text != shown and on_text is not None:
                on_text(text, len(tokens))
            shown = text
            if turn_ended:
                finished = True
                break
            out = lm.model(input_ids=torch.tensor([[token]], device=device), cache=model_cache(out), use_cache=True)
    final = strip_invented_turns(lm.tokenizer.decode(tokens, skip_special_tokens=True))
    return {"model": chat_model.name, "kind": chat_model.kind, "label": chat_model.label, "text": final,
            "finished": finished, "new_tokens": len(tokens), "seconds": round(time.perf_counter() - started, 3)}


def ask(store: Store, names: list[str], question: str, *, system: Optional[str] = None,
        settings: SamplingSettings = SamplingSettings(max_new_tokens=256, temperature=0.7),
        device: Optional[str] = None, on_progress: Optional[ProgressCallback] = None,
        cancel: Optional[CancelToken] = None) -> list[dict]:
    """Each of ``names`` (models or runs) answers ``question`` in turn, one loaded at a time so
    that two large models never need memory together. Progress events of stage ``answering``
    carry ``side`` (its index in ``names``), ``model`` and ``text``, the answer so far."""
    if not (question or "").strip():
        raise InputError("The question is empty: type a question to ask.")
    answers = []
    for side, name in enumerate(names):
        chat_model = load_chat_model(store, name, device=device, on_progress=on_progress)

        def on_text(text: str, tokens: int, side=side, name=name) -> None:
            report(on_progress, CHAT_STAGE, tokens, settings.max_new_tokens, side=side, model=name, text=text)

        try:
            answers.append(answer(chat_model, question, system=system, settings=settings, on_text=on_text,
                                  cancel=cancel))
        finally:
            del chat_model
        done = answers[-1]
        report(on_progress, CHAT_STAGE, settings.max_new_tokens, settings.max_new_tokens, side=side, model=name,
               text=done["text"], complete=True)
    return answers
