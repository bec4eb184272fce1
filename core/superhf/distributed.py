"""Several processes (several GPUs, or CPU processes) through ``accelerate``. Launched with
``accelerate launch --multi_gpu ...`` or ``torchrun --nproc_per_node N ...``, each process
takes its share of an iteration's prompts, the model's gradients are averaged across them,
and the main process alone writes to the store and saves checkpoints. One process (the
desktop app, a plain ``superhf train``) needs none of this and gets ``None``."""

from __future__ import annotations

import os
from typing import Optional


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
    """An ``Accelerator`` when launched on several processes, else None."""
    if launched_world_size() <= 1:
        return None
    import torch
    from accelerate import Accelerator

    return Accelerator(cpu=(device == "cpu") or not torch.cuda.is_available())


def average_metrics(per_process: list[dict]) -> dict:
    """Numbers averaged over the processes; anything else taken from the main one."""
    merged = dict(per_process[0])
    for key, value in merged.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = sum(p[key] for p in per_process) / len(per_process)
    merged["notes"] = sorted({note for p in per_process for note in p.get("notes", [])})
    merged["processes"] = len(per_process)
    return merged
