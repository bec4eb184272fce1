"""Sampling answers: the model's chat template, left padding, stopping at end-of-turn, extra
turns the model invents stripped off, seeded so a run can be repeated."""

from __future__ import annotations

import functools
import random
import re
from dataclasses import asdict, dataclass, replace
from typing import Optional, Sequence

from core.errors import InputError, ModelError
from core.models.loading import LoadedModel
from core.progress import CancelToken, ProgressCallback, report

# End-of-turn markers of the common chat formats; whichever the tokenizer knows stop sampling.
STOP_TOKENS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|eot_id|>", "<|end|>",
               "<end_of_turn>", "<|end_of_text|>", "</s>")
# A line that opens a new turn ("User:", "### Human:", "assistant:") ends the answer: the
# model has begun to write the user's next message itself.
INVENTED_TURN = re.compile(r"(?im)^[ \t]*(?:#+[ \t]*)?(?:user|human|assistant|system)[ \t]*:")
FALLBACK_TEMPLATE = "User: {prompt}\nAssistant:"
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class SamplingSettings:
    """How answers are sampled. Defaults follow the SuperHF reference implementation."""

    max_new_tokens: int = 64  # answers longer than this are cut (and flagged unfinished)
    temperature: float = 1.0  # 1.0 samples the model's own distribution; 0 decodes greedily
    top_p: float = 0.95  # nucleus sampling: drop the unlikely tail
    batch_size: Optional[int] = None  # sequences per forward pass; None: as many as memory holds
    seed: Optional[int] = None  # None: a fresh seed, recorded with the rows
    precision: str = "auto"  # auto: float32 or bfloat16, as measured faster here (core.models.precision)
    backend: str = "auto"  # auto: vLLM on a CUDA GPU where it is installed, else the built-in engine

    def __post_init__(self):
        if not 1 <= self.max_new_tokens <= 8192:
            raise InputError(f"max_new_tokens must be between 1 and 8192, not {self.max_new_tokens}.")
        if not self.temperature >= 0:
            raise InputError(f"temperature must be 0 (greedy) or above, not {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top_p must be in (0, 1], not {self.top_p}.")
        if self.batch_size is not None and not self.batch_size >= 1:
            raise InputError(f"batch_size must be at least 1, not {self.batch_size}.")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision}.")
        if self.backend not in ("auto", "torch", "vllm"):
            raise InputError(f"backend must be auto, torch or vllm, not {self.backend}.")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_seed(self) -> "SamplingSettings":
        """These settings with a concrete seed, drawn now if none was given, so that the
        seed stored beside the answers can repeat them."""
        return self if self.seed is not None else replace(self, seed=random.randrange(2**31))


@dataclass(frozen=True)
class Completion:
    prompt_index: int  # position of its prompt in the list given to sample()
    prompt: str
    text: str
    finished: bool  # stopped at end-of-turn (False: cut at max_new_tokens)
    new_tokens: int  # tokens sampled, up to and without the stop token
    # Sampled answers carry the token ids behind them, so training uses exactly what the model
    # produced; an answer that came from elsewhere (text only) leaves them None.
    prompt_ids: Optional[tuple[int, ...]] = None  # the prompt as fed to the model: BOS, chat template
    token_ids: Optional[tuple[int, ...]] = None  # the answer's sampled tokens, cut where ``text`` ends
    turn_cut: bool = False  # the model began another speaker's turn, cut off here: it ended its answer

    @property
    def ends_turn(self) -> bool:
        """Whether the answer ends the turn: its training target then ends with the end-of-turn
        token. Not so for an answer cut at the token limit."""
        return self.finished or self.turn_cut


def format_prompt(tokenizer, prompt: str) -> str:
    """The prompt as the model saw user turns in training: its chat template, if it has one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return FALLBACK_TEMPLATE.format(prompt=prompt)


@functools.lru_cache(maxsize=16)  # asked per prompt and per answer: two encodings each time
def _bos_ids(tokenizer, bos: Optional[int]) -> tuple[int, ...]:
    """[BOS] when the tokenizer's own encoding starts every text with it (Llama, Mistral, Gemma),
    else []. Texts here are encoded with ``add_special_tokens=False`` (chat templates write
    their special tokens themselves), so this is added where the text lacks it."""
    if bos is None:
        return ()
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    return (bos,) if with_special[:1] == [bos] and without[:1] != [bos] else ()


def bos_ids(tokenizer) -> list[int]:
    """[BOS] where the tokenizer uses one, else [] (see ``_bos_ids``)."""
    return list(_bos_ids(tokenizer, tokenizer.bos_token_id))


def with_bos(tokenizer, ids: Sequence[int]) -> list[int]:
    """``ids`` led by the tokenizer's BOS where it uses one and they do not start with it."""
    bos = bos_ids(tokenizer)
    return bos + list(ids) if bos and list(ids[:1]) != bos else list(ids)


def position_ids(attention_mask):
    """Each token's position within its own text, from a left-padded batch's attention mask
    (B, T): padding shifts none, so a model with absolute positions (GPT-2) reads a padded row
    as it reads the row alone. Pads get 0. Training and reward passes feed these; the sampler
    (``core.sampling.decoder``, which this module imports) computes the same."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """The token ids the model is fed for ``prompt``: its formatted text, led by BOS where the
    tokenizer uses one. Sampling, training and scoring all encode prompts this way."""
    return with_bos(tokenizer, tokenizer(format_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"])


END_MARKER = "Zq7 answer ends here"  # a reply no template changes, to see what the template puts after it


def end_of_turn_id(tokenizer) -> Optional[int]:
    """The token that ends the model's turn (see ``_end_of_turn_id``), worked out once per
    tokenizer and template: it is asked for every training batch and renders the template."""
    return _end_of_turn_id(tokenizer, getattr(tokenizer, "chat_template", None))


@functools.lru_cache(maxsize=16)
def _end_of_turn_id(tokenizer, template: Optional[str]) -> Optional[int]:
    """The token that ends the model's turn: the one its chat template writes right after an
    assistant's reply (``<|im_end|>`` for ChatML, ``<end_of_turn>`` for Gemma, ``<|end|>`` for
    Phi-3, ``<|eot_id|>`` for Llama 3, ``</s>`` for Llama 2 and Mistral); without a chat
    template, or where the template puts no special token there, the tokenizer's EOS."""
    if template:
        try:
            text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"},
                                                  {"role": "assistant", "content": END_MARKER}], tokenize=False)
        except Exception:  # noqa: BLE001 - a template that refuses this exchange: fall back to EOS
            text = ""
        at = text.find(END_MARKER)
        if at >= 0:
            special = set(tokenizer.all_special_ids) | {tokenizer.convert_tokens_to_ids(t) for t in STOP_TOKENS
                                                        if t in tokenizer.get_vocab()}
            for token in tokenizer(text[at + len(END_MARKER):], add_special_tokens=False)["input_ids"]:
                if token in special:
                    return token
                if tokenizer.decode([token]).strip():
                    break  # text before any special token: the template ends turns with plain text
    return tokenizer.eos_token_id


def stop_token_ids(lm: LoadedModel) -> list[int]:
    ids = set()
    eos = getattr(lm.model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    ids.add(lm.tokenizer.eos_token_id)
    ids.add(end_of_turn_id(lm.tokenizer))
    vocab = lm.tokenizer.get_vocab()
    ids.update(vocab[t] for t in STOP_TOKENS if t in vocab)
    ids.discard(None)
    return sorted(ids)


def strip_invented_turns(text: str) -> str:
    """Cut the answer where the model starts writing another speaker's turn."""
    match = INVENTED_TURN.search(text)
    if match:
        text = text[: match.start()]
    return text.strip()


def sample(lm: LoadedModel, prompts: Sequence[str], n: int, settings: SamplingSettings = SamplingSettings(),
           *, on_progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
           on_batch=None, stats: Optional[dict] = None) -> list[Completion]:
    """Sample ``n`` answers to each prompt; returns them prompt by prompt.

    ``on_batch(completions)`` is called after each batch, so callers can store work as it is
    done rather than lose it all if the process dies. Cancelling takes effect within one
    decode step. ``stats``, when given, receives what was done: dtype, batch size, forward
    passes, seconds and answer tokens.
    """
    import time

    import torch

    from core.sampling.vllm import vllm_sampler
    from core.sampling.decoder import auto_batch_size, decode, model_in, sampling_precision

    if n < 1:
        raise InputError(f"The number of answers per prompt must be at least 1, not {n}.")
    if not prompts:
        raise InputError("There are no prompts to answer.")
    cancel = cancel or CancelToken()
    settings = settings.with_seed()
    torch.manual_seed(settings.seed)
    encoded = [encode_prompt(lm.tokenizer, p) for p in prompts]
    _check_lengths(lm, encoded, settings.max_new_tokens)
    jobs = [i for i in range(len(prompts)) for _ in range(n)]  # the prompt of each answer
    stops = stop_token_ids(lm)
    out: list[Completion] = []
    report(on_progress, "generating", 0, len(jobs))
    stats = {} if stats is None else stats
    started = time.perf_counter()
    external = vllm_sampler(lm, settings.backend, lambda text: report(on_progress, "generating", 0, len(jobs),
                                                                       notice=text))
    if external is not None:
        out = _sample_with(external, lm, prompts, encoded, n, settings, stops, on_progress, cancel, on_batch)
        stats.update(backend="vllm", seconds=time.perf_counter() - started, tokens=sum(c.new_tokens for c in out))
        return out
    choice = sampling_precision(lm.device, lm.dtype, settings.precision, folder=lm.path)
    dtype = choice.torch_dtype
    with torch.inference_mode(), model_in(lm.model, dtype) as model:
        size = settings.batch_size or auto_batch_size(model, dtype, max(map(len, encoded)) + settings.max_new_tokens)
        stats.update(backend="torch", dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
                     precision_reason=choice.reason, batch_size=min(size, len(jobs)))
        start = 0
        while start < len(jobs):
            cancel.check()
            batch = jobs[start: start + size]
            firsts = sorted(set(batch))
            repeats = [batch.count(i) for i in firsts]

            def on_step(finished: int) -> None:
                cancel.check()
                report(on_progress, "generating", len(out) + finished, len(jobs))

            try:
                decoded = decode(model, [encoded[i] for i in firsts], repeats, pad_id=_pad_id(lm), stop_ids=stops,
                                 max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                 top_p=settings.top_p, on_step=on_step, stats=stats)
            except torch.OutOfMemoryError:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if size == 1:
                    raise ModelError("Out of memory while sampling even one answer at a time. Lower "
                                     "--max-new-tokens or choose a smaller model.") from None
                size //= 2  # the same batch again, in halves
                report(on_progress, "generating", len(out), len(jobs),
                       notice=f"Out of memory while sampling: batch halved to {size}.")
                continue
            start += len(batch)
            done = [_completion(lm, prompts, encoded, i, d) for i, d in zip(batch, decoded)]
            out.extend(done)
            if on_batch is not None:
                on_batch(done)
            report(on_progress, "generating", len(out), len(jobs))
    stats.update(seconds=time.perf_counter() - started, tokens=sum(c.new_tokens for c in out))
    return out


def _sample_with(external, lm: LoadedModel, prompts, encoded, n, settings, stops, on_progress, cancel,
                 on_batch) -> list[Completion]:
    """Sampling through an external engine (vLLM), a few prompts at a time so that progress
    shows, cancelling works and finished batches can be stored."""
    out: list[Completion] = []
    step = max(1, 256 // n)
    for first in range(0, len(prompts), step):
        cancel.check()
        answers = external(encoded[first:first + step], n, settings, stops)
        done = [_completion(lm, prompts, encoded, first + j, d) for j, per_prompt in enumerate(answers)
                for d in per_prompt]
        out.extend(done)
        if on_batch is not None:
            on_batch(done)
        report(on_progress, "generating", len(out), len(prompts) * n)
    return out


def _completion(lm: LoadedModel, prompts: Sequence[str], encoded: Sequence[Sequence[int]], i: int,
                decoded) -> Completion:
    tokenizer = lm.tokenizer
    raw = tokenizer.decode(decoded.tokens, skip_special_tokens=True)
    ids = list(decoded.tokens)
    match = INVENTED_TURN.search(raw)
    if match:  # the answer ends where its text before the invented turn ends
        ids = tokens_of_prefix(tokenizer, ids, raw[:match.start()].rstrip())
    return Completion(i, prompts[i], strip_invented_turns(raw), decoded.finished, len(decoded.tokens),
                      tuple(encoded[i]), tuple(ids), match is not None)


def tokens_of_prefix(tokenizer, tokens: Sequence[int], prefix: str) -> list[int]:
    """The sampled ``tokens`` that spell ``prefix`` (a prefix of their decoded text): the
    longest run of them whose text lies within it, then, where a token straddles its end, the
    rest of it encoded afresh (a few characters at most)."""
    decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    low, high = 0, len(tokens)
    while low < high:  # the longest run of tokens whose text is a prefix of ``prefix``
        mid = (low + high + 1) // 2
        if prefix.startswith(decode(tokens[:mid])):
            low = mid
        else:
            high = mid - 1
    head = list(tokens[:low])
    rest = prefix[len(decode(head)):]
    return head + (tokenizer(rest, add_special_tokens=False)["input_ids"] if rest else [])


def _pad_id(lm: LoadedModel) -> int:
    pad = lm.tokenizer.pad_token_id
    return pad if pad is not None else lm.tokenizer.eos_token_id or 0


def _check_lengths(lm: LoadedModel, encoded: list[list[int]], max_new_tokens: int) -> None:
    limit = getattr(lm.model.config, "max_position_embeddings", None)
    if not limit:
        return
    for i, ids in enumerate(encoded):
        if len(ids) + max_new_tokens > limit:
            raise InputError(f"Prompt {i + 1} is {len(ids)} tokens long; with {max_new_tokens} new tokens "
                             f"that passes the model's limit of {limit}. Shorten it or lower --max-new-tokens.")
