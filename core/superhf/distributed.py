"""Several processes (several GPUs, or CPU processes) through ``accelerate``. Launched with
``accelerate launch --multi_gpu ...`` or ``torchrun --nproc_per_node N ...``, each process
takes its share of an iteration's prompts, the model's gradients are averaged across them,
and the main process alone writes to the store and saves checkpoints. One process (the
desktop app, a plain ``superhf train``) needs none of this: ``Processes()`` is one process,
and each of its methods then does nothing beyond running the work it is given.

Why no DistributedDataParallel: DDP exchanges gradients inside every backward pass, so every
process must run the same number of backward passes. Ours cannot promise that: a process whose
prompts got only empty answers keeps fewer answers, and one that runs out of GPU memory halves
its micro-batch and runs more passes. Here each process computes its step's gradient on its
own, and the processes meet once per optimiser step, at a point every one of them reaches
(``Processes.together``), then exchange gradients once (``average_gradients``)."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")
SETTLED = "_superhf_settled"  # marks an error every process has already learned of together
BUCKET = 1 << 24  # gradient elements exchanged at once: bounds the extra memory of one exchange


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_launch() -> bool:
    """Whether this is the main one of the launched processes (or the only process)."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for(predicate, what: str, timeout: float = 300.0) -> None:
    """Poll until the main process has done ``what`` (say, created the run)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Waited {timeout:.0f} s for the main process to {what}.")
        time.sleep(0.2)


def make_accelerator(device: Optional[str]):
    """An ``Accelerator`` when launched on several processes, else None. It starts the
    processes' group (gloo on CPUs, NCCL on GPUs) and picks each one's device."""
    if launched_world_size() <= 1:
        return None
    import torch
    from accelerate import Accelerator

    return Accelerator(cpu=(device == "cpu") or not torch.cuda.is_available())


class ProcessFailed(RuntimeError):
    """Another process failed with an error that is not one of ours (its message is kept)."""

    def __init__(self, message: str, rank: int, kind: str):
        super().__init__(message)
        self.rank, self.kind = rank, kind


class Processes:
    """This process (``rank``) among the ``world`` launched together, and what they do
    together. Every meeting here is reached by every process at the same point of the run, so
    none can wait forever for another that took a different path or failed."""

    def __init__(self, rank: int = 0, world: int = 1):
        self.rank, self.world = rank, world

    @classmethod
    def of(cls, accelerator) -> "Processes":
        return cls() if accelerator is None else cls(accelerator.process_index, accelerator.num_processes)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def together(self, work: Callable[[], T], share: Callable[[T], Any] = lambda _: None) -> tuple[T, list]:
        """Run ``work()`` here, then meet the others: each learns whether every process
        succeeded, and what each shared (``share`` of its result). Returns (the result, the
        shares in rank order). When any failed, every process raises the first failure (of
        the lowest rank): its own error where it is its own, elsewhere an error of the same
        kind with the same message, so the main process can record it and all stop. An error
        the processes already raised together passes on without another meeting."""
        try:
            result = work()
        except BaseException as error:
            if self.world == 1 or getattr(error, SETTLED, False):
                raise
            self._meet(None, error)
            raise  # not reached: the meeting raises the first failure
        return result, self._meet(share(result), None) if self.world > 1 else [share(result)]

    def from_main(self, work: Callable[[], T]) -> T:
        """``work()`` on the main process alone; its result on every process (the others wait,
        and learn of its failure)."""
        return self.together(lambda: work() if self.main else None, lambda result: result)[1][0]

    def _meet(self, value, error: Optional[BaseException]) -> list:
        import torch.distributed as dist

        said = None if error is None else (type(error).__module__, type(error).__qualname__, str(error))
        everyone: list = [None] * self.world
        dist.all_gather_object(everyone, (value, said))
        failed = [(rank, said) for rank, (_, said) in enumerate(everyone) if said is not None]
        if failed:
            rank, said = failed[0]
            raised = error if rank == self.rank else _rebuilt(said, rank)
            setattr(raised, SETTLED, True)
            raise raised
        return [v for v, _ in everyone]

    def average_gradients(self, parameters, contributed: bool) -> None:
        """Every process's gradients become the mean over the processes that trained on answers
        at this step: one with none left (fewer kept answers than the others) takes part with
        zeros and is not counted, so the others' answers weigh as they would alone. A
        parameter that got no gradient anywhere keeps none (the optimiser then leaves it be)."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        params = list(parameters)
        device = params[0].device
        flags = torch.tensor([float(p.grad is not None) for p in params] + [float(contributed)], device=device)
        dist.all_reduce(flags)  # how many processes have each gradient; the last: how many trained
        counted = max(1.0, flags[-1].item())  # >= 1: the steps agreed are the most any process has
        for bucket in _buckets(params):
            flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in bucket])
            dist.all_reduce(flat)
            flat /= counted
            offset = 0
            for p in bucket:
                p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        for p, had in zip(params, flags[:-1].tolist()):
            if not had:
                p.grad = None

    def same_parameters(self, parameters) -> None:
        """The main process's values of ``parameters`` on every process (each loaded its own
        copy; the updates keep them equal from there)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for p in parameters:
            dist.broadcast(p.data, src=0)

    def after_failure(self, error: BaseException) -> None:
        """A failure every process learned of: the others wait here until the main process has
        recorded it (a launcher stops every process as soon as one exits)."""
        if self.world == 1 or not getattr(error, SETTLED, False):
            return
        import torch.distributed as dist

        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 - a process already gone: nothing left to wait for
            pass


def _buckets(params: list) -> list[list]:
    """Consecutive parameters of one dtype and device, about ``BUCKET`` elements at most each."""
    out: list[list] = []
    size = 0
    for p in params:
        if not out or size + p.numel() > BUCKET or (p.dtype, p.device) != (out[-1][0].dtype, out[-1][0].device):
            out.append([])
            size = 0
        out[-1].append(p)
        size += p.numel()
    return out


def _rebuilt(said: tuple[str, str, str], rank: int) -> BaseException:
    """Another process's error as this process raises it: ours (they carry the words a user
    reads) and Python's own by kind, anything else as ``ProcessFailed``."""
    import builtins

    import core.errors

    module, name, message = said
    home = {"core.errors": core.errors, "builtins": builtins}.get(module)
    kind = getattr(home, name, None) if home is not None else None
    if isinstance(kind, type) and issubclass(kind, BaseException):
        try:
            return kind(message)
        except TypeError:  # needs more than a message
            pass
    return ProcessFailed(message, rank, f"{module}.{name}")


# How each number of an iteration's metrics combines over the processes (``combine_metrics``).
SUMMED = ("samples", "kept", "sample_tokens_per_second", "head_start_kept")  # counts; throughputs at once
WEIGHTED = {  # means over the processes, weighted by what each mean is over
    "reward_mean": "samples", "mean_length": "samples", "cut_off_share": "samples",
    "kept_reward_mean": "kept", "kept_cut_off_share": "kept", "distinct_2": "kept", "self_bleu": "kept",
    "ce": "kept", "kl": "kept", "loss": "kept",  # each process's step losses, per answer it trained on
    "head_start_ce": "head_start_kept", "head_start_kl": "head_start_kept",
    "head_start_reward": "head_start_kept", "head_start_finished": "head_start_kept"}
POOLED_STD = {"reward_std": ("reward_mean", "samples"), "kept_reward_std": ("kept_reward_mean", "kept")}
LONGEST = ("seconds",)  # the processes work at once: a round takes as long as the slowest
SMALLEST = ("micro_batch",)
SAME = ("learning_rate", "head_start_answers", "head_start_steps")  # equal everywhere: the main's


def combine_metrics(per_process: list[dict]) -> dict:
    """One process's metrics from each process's (in rank order): counts and throughputs
    summed, means weighted by what they average, standard deviations pooled exactly, times
    the longest, notes joined; anything else (the example answer) the main process's."""
    if len(per_process) == 1:
        return dict(per_process[0])
    merged = dict(per_process[0])
    for key in merged:
        values = [p[key] for p in per_process]
        if key in SUMMED:
            merged[key] = sum(values)
        elif key in WEIGHTED:
            merged[key] = _weighted(values, [p[WEIGHTED[key]] for p in per_process])
        elif key in POOLED_STD:
            means, counts = ([p[k] for p in per_process] for k in POOLED_STD[key])
            merged[key] = _pooled_std(values, means, counts)
        elif key in LONGEST:
            merged[key] = max(values)
        elif key in SMALLEST:
            merged[key] = min(values)
        elif key == "example" and merged[key] is None:
            merged[key] = next((v for v in values if v is not None), None)
    if "notes" in merged:
        merged["notes"] = sorted({note for p in per_process for note in p.get("notes", [])})
    return merged


def has_rule(key: str) -> bool:
    """Whether ``combine_metrics`` says how ``key`` combines (else the main's value is kept)."""
    return key in (*SUMMED, *WEIGHTED, *POOLED_STD, *LONGEST, *SMALLEST, *SAME, "example", "notes")


def _weighted(values: list, weights: list) -> float:
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights)) / total if total else 0.0


def _pooled_std(stds: list, means: list, counts: list) -> float:
    """The sample standard deviation of all the values together, from each part's (n - 1 in
    the divisor, as ``core.metrics.std``)."""
    n = sum(counts)
    if n < 2:
        return 0.0
    mean = _weighted(means, counts)
    squares = sum((c - 1) * s * s + c * m * m for s, m, c in zip(stds, means, counts) if c)
    return max(0.0, (squares - n * mean * mean) / (n - 1)) ** 0.5
