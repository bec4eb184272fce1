"""Sampling answers: the model's chat template, left padding, stopping at end-of-turn, extra
turns the model invents stripped off, seeded so a run can be repeated."""

from __future__ import annotations

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
    precision: str = "auto"  # auto: bfloat16 where the hardware computes it natively
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


def format_prompt(tokenizer, prompt: str) -> str:
    """The prompt as the model saw user turns in training: its chat template, if it has one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return FALLBACK_TEMPLATE.format(prompt=prompt)


def stop_token_ids(lm: LoadedModel) -> list[int]:
    ids = set()
    eos = getattr(lm.model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    ids.add(lm.tokenizer.eos_token_id)
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
    from core.sampling.decoder import auto_batch_size, decode, model_in, sampling_dtype

    if n < 1:
        raise InputError(f"The number of answers per prompt must be at least 1, not {n}.")
    if not prompts:
        raise InputError("There are no prompts to answer.")
    cancel = cancel or CancelToken()
    settings = settings.with_seed()
    torch.manual_seed(settings.seed)
    encoded = [lm.tokenizer(format_prompt(lm.tokenizer, p), add_special_tokens=False)["input_ids"] for p in prompts]
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
    dtype = sampling_dtype(lm.device, lm.dtype, settings.precision)
    with torch.inference_mode(), model_in(lm.model, dtype) as model:
        size = settings.batch_size or auto_batch_size(model, dtype, max(map(len, encoded)) + settings.max_new_tokens)
        stats.update(backend="torch", dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
                     batch_size=min(size, len(jobs)))
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
            done = [_completion(lm, prompts, i, d) for i, d in zip(batch, decoded)]
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
        done = [_completion(lm, prompts, first + j, d) for j, per_prompt in enumerate(answers) for d in per_prompt]
        out.extend(done)
        if on_batch is not None:
            on_batch(done)
        report(on_progress, "generating", len(out), len(prompts) * n)
    return out


def _completion(lm: LoadedModel, prompts: Sequence[str], i: int, decoded) -> Completion:
    text = strip_invented_turns(lm.tokenizer.decode(decoded.tokens, skip_special_tokens=True))
    return Completion(i, prompts[i], text, decoded.finished, len(decoded.tokens))


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
