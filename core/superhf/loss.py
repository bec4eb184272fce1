"""The SuperHF fine-tuning objective (Mukobi et al., 2023), on exact masks.

For each kept completion: cross-entropy on its tokens (and, where the model ended its turn,
the end-of-turn token appended to it, so the model learns to stop; never to an answer cut at
the token limit, which would teach it to stop mid-sentence), plus ``kl_coefficient`` times
the token-level KL(reference || policy) over the full vocabulary at the same positions.

Faults of the reference implementation we do not copy: its prompt mask let some prompt
tokens into the loss under left padding, its KL mask was off by one position, and it
appended no EOS. Here position t's logits predict token t+1, and both terms are masked by
whether token t+1 is a completion token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from core.sampling.generation import position_ids


@dataclass
class Batch:
    input_ids: torch.Tensor  # (B, T) prompt + completion + EOS, left-padded
    attention_mask: torch.Tensor  # (B, T) 1 on real tokens
    completion_mask: torch.Tensor  # (B, T) 1 where the token belongs to the completion (its EOS included)

    def to(self, device) -> "Batch":
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.completion_mask.to(device))

    @property
    def position_ids(self) -> torch.Tensor:
        """(B, T) each token's position in its own row, as sampling fed it: left padding shifts none."""
        return position_ids(self.attention_mask)

    @property
    def predicting(self) -> int:
        """How many trailing positions predict a completion token: under left padding every
        completion ends its row, so the loss needs the logits of these last positions only."""
        columns = self.completion_mask.any(0).nonzero()
        width = self.input_ids.shape[1]
        return width if not len(columns) else min(width, width - int(columns[0]) + 1)


def batch_logits(model, batch: Batch) -> torch.Tensor:
    """(B, K, V) logits of ``model`` on ``batch`` at its last K = ``batch.predicting``
    positions: the training and reference passes both run this, with the positions sampling
    used, so absolute-position models (GPT-2) see a padded row as they saw it while it was
    sampled. The prompt's positions predict nothing the loss reads: their output projection
    over the whole vocabulary (a fifth of a small model's work) is skipped."""
    width, keep = batch.input_ids.shape[1], batch.predicting
    # picked by index, a contiguous copy (as the sampler does): an int K slices the hidden states
    # with strides, which bfloat16 matmuls on a CPU copy slowly
    last = torch.arange(width - keep, width, device=batch.input_ids.device) if keep < width else 0
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids, logits_to_keep=last).logits


def targets_and_mask(batch: Batch, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For logits of ``batch``'s last K positions (K = T: all of them): the token each but the
    last position predicts, and 1 where that token belongs to a completion. Position t's
    logits predict token t+1."""
    first = batch.input_ids.shape[1] - logits.shape[1] + 1
    return batch.input_ids[:, first:], batch.completion_mask[:, first:]


def build_batch(prompt_ids: Sequence[Sequence[int]], completion_ids: Sequence[Sequence[int]],
                eos_id: Optional[int], pad_id: int, ends_turn: Optional[Sequence[bool]] = None) -> Batch:
    """Token ids of formatted prompts and of completions -> a left-padded batch. Completion i
    ends with ``eos_id`` where ``ends_turn[i]`` (all of them when it is None); an answer cut
    at the token limit gets none."""
    ends = [eos_id is not None and (ends_turn is None or bool(ends_turn[i])) for i in range(len(prompt_ids))]
    rows = [list(p) + list(c) + [eos_id] * e for p, c, e in zip(prompt_ids, completion_ids, ends)]
    marks = [[0] * len(p) + [1] * (len(c) + e) for p, c, e in zip(prompt_ids, completion_ids, ends)]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    completion = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, m) in enumerate(zip(rows, marks)):
        ids[i, width - len(r):] = torch.tensor(r)
        attention[i, width - len(r):] = 1
        completion[i, width - len(r):] = torch.tensor(m)
    return Batch(ids, attention, completion)


def _mean(per_token: torch.Tensor, mask: torch.Tensor, per_answer: bool) -> torch.Tensor:
    """Mean of (B, T-1) ``per_token`` over the masked tokens; ``per_answer``: each row's own
    token mean first, then the mean over rows, so every answer weighs the same."""
    if per_answer:
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)).mean()
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


def superhf_loss(policy_logits: torch.Tensor, reference_logits: Optional[torch.Tensor], batch: Batch,
                 kl_coefficient: float, per_answer: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, ce, kl); each a scalar averaged over completion tokens (``per_answer``: over each
    answer's tokens, then over answers). Logits are (B, K, V): those of the batch's last K
    positions (``batch_logits``), or of all T."""
    targets, mask = targets_and_mask(batch, policy_logits)  # (B, K-1): position t predicts token t+1
    mask = mask.to(policy_logits.dtype)
    log_p = F.log_softmax(policy_logits[:, :-1].float(), dim=-1)  # (B, K-1, V)
    ce = _mean(-log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1), mask, per_answer)
    if reference_logits is None:  # cross-entropy alone (supervised fine-tuning)
        return ce, ce.detach(), torch.zeros((), device=ce.device)
    # KL(ref || policy) = sum_v p_ref(v) (log p_ref(v) - log p_policy(v)), per position.
    log_ref = F.log_softmax(reference_logits[:, :-1].float(), dim=-1)
    kl_per_token = (log_ref.exp() * (log_ref - log_p)).sum(-1)  # (B, K-1)
    kl = _mean(kl_per_token, mask, per_answer)
    return ce + kl_coefficient * kl, ce.detach(), kl.detach()
