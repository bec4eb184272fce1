"""One optimiser step of SuperHF on a minibatch of kept completions, split into micro-batches
whose gradients add up to the whole minibatch's. When the GPU runs out of memory the
micro-batch is halved and the step tried again: the run goes on, and says so. Across
processes, each computes its gradient alone, then all meet once per step (the smallest
micro-batch is agreed, gradients averaged) whatever number of micro-batches each ran."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from core.errors import ModelError
from core.sampling.generation import Completion, encode_prompt, end_of_turn_id, format_prompt
from core.superhf.policy import Policy
from core.superhf.config import SuperHFConfig
from core.superhf.distributed import Processes
from core.superhf.loss import Batch, batch_logits, build_batch, superhf_loss


@dataclass
class MicroBatch:
    size: int  # completions per forward pass; starts at the minibatch size
    notes: list[str] = field(default_factory=list)  # what was halved, for the run's log
    processes: Processes = field(default_factory=Processes)  # who agree on the size and average gradients


def training_ids(tokenizer, completion: Completion) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) to train on: for a sampled answer, exactly the tokens the model
    was fed and sampled; for one that came as text alone, its encoding after the prompt's."""
    if completion.prompt_ids is not None and completion.token_ids is not None:
        return list(completion.prompt_ids), list(completion.token_ids)
    text = completion.text
    if text and not text[0].isspace() and not format_prompt(tokenizer, completion.prompt)[-1:].isspace():
        text = " " + text  # "Assistant:" is followed by a space in what the model writes
    return encode_prompt(tokenizer, completion.prompt), tokenizer(text, add_special_tokens=False)["input_ids"]


def completion_batch(tokenizer, completions: Sequence[Completion]) -> Batch:
    """Completions as a training batch: prompt and answer ids, and the model's end-of-turn
    token after the answers that ended their turn (not after those cut at the token limit)."""
    eot = end_of_turn_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eot or 0)
    pairs = [training_ids(tokenizer, c) for c in completions]
    return build_batch([p for p, _ in pairs], [a for _, a in pairs], eot, pad, [c.ends_turn for c in completions])


def _batches(policy: Policy, chunk: Sequence[Completion], size: int) -> list[Batch]:
    tok = policy.lm.tokenizer
    return [completion_batch(tok, chunk[start:start + size]).to(policy.lm.device)
            for start in range(0, len(chunk), size)]


def optimise_step(policy: Policy, chunk: Sequence[Completion], config: SuperHFConfig, optimizer, scheduler,
                  micro: MicroBatch, with_kl: bool = True) -> tuple[float, float]:
    """Update the policy on ``chunk``; returns its (CE, KL), averaged over completion tokens.
    ``with_kl=False``: cross-entropy alone, without the reference model's forward pass.
    ``scheduler``: None keeps the learning rate as it is (the head start's steps).
    Across processes (``micro.processes``) every one takes each step, an empty ``chunk``
    where it has no answers left; a failure on any stops all of them here with its message."""
    processes = micro.processes
    (ce_sum, kl_sum), sizes = processes.together(
        lambda: _gradients(policy, chunk, config, optimizer, micro, with_kl), lambda _: micro.size)
    micro.size = min(sizes)  # one process ran out of memory: all use its size from the next step on
    processes.average_gradients(policy.trainable_parameters(), contributed=bool(chunk))
    torch.nn.utils.clip_grad_norm_(policy.trainable_parameters(), 1.0)  # after averaging: the same everywhere
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return ce_sum, kl_sum


def _gradients(policy: Policy, chunk: Sequence[Completion], config: SuperHFConfig, optimizer, micro: MicroBatch,
               with_kl: bool) -> tuple[float, float]:
    """This process's gradient of the loss on ``chunk`` (none for an empty one), micro-batch by
    micro-batch, halving the micro-batch when memory runs out; returns (CE, KL)."""
    while True:
        optimizer.zero_grad(set_to_none=True)
        if not chunk:
            return 0.0, 0.0
        try:
            batches = _batches(policy, chunk, micro.size)
            per_answer = config.answer_weight == "answers"
            total = sum(int(b.completion_mask[:, 1:].sum()) for b in batches)
            ce_sum = kl_sum = 0.0
            for batch in batches:
                logits = batch_logits(policy.model, batch)
                reference = policy.reference_logits(batch) if with_kl else None
                loss, ce, kl = superhf_loss(logits, reference, batch, config.kl_coefficient, per_answer=per_answer)
                # each micro-batch's share of the whole minibatch's loss: its tokens, or its answers
                share = (len(batch.input_ids) / len(chunk) if per_answer
                         else int(batch.completion_mask[:, 1:].sum()) / total)
                (loss * share).backward()
                ce_sum, kl_sum = ce_sum + ce.item() * share, kl_sum + kl.item() * share
            break
        except torch.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if micro.size == 1:
                raise ModelError("Out of memory even with one completion at a time. Lower --max-new-tokens, "
                                 "use LoRA rather than full fine-tuning, or choose a smaller model.") from None
            micro.size //= 2
            micro.notes.append(f"Out of memory while updating: micro-batch halved to {micro.size}.")
    return ce_sum, kl_sum
