"""Checkpoints of a SuperHF run: written whole into a temporary folder, then renamed into
place, so a run killed at any moment leaves either the old checkpoint or the new one.
Only safetensors and ``torch.load(weights_only=True)``: no pickle that can run code."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch

from core.superhf.policy import Policy
from core.store.atomic import atomic_folder, check_room
from core.store.database import Store
from core.store.runs import drop_old_checkpoints

TRAINER_FILE = "trainer.pt"
META_FILE = "checkpoint.json"


def checkpoint_dir(store: Store, run_name: str, iteration: int) -> Path:
    return store.workspace.checkpoints_dir / run_name / f"iter-{iteration:04d}"


def save_checkpoint(store: Store, run_name: str, iteration: int, policy: Policy, optimizer, scheduler,
                    meta: dict) -> Path:
    target = checkpoint_dir(store, run_name, iteration)
    target.parent.mkdir(parents=True, exist_ok=True)
    # the trained weights and AdamW's two moments of each: gigabytes when all weights are tuned
    trained = sum(p.numel() * p.element_size() for p in policy.trainable_parameters())
    check_room(target.parent, 3 * trained + 16 * 2**20, f"the checkpoint of round {iteration}")
    # a folder already there was written before a crash, never recorded: this one replaces it
    with atomic_folder(target, scratch=store.workspace.tmp_dir, prefix="checkpoint-") as tmp:
        policy.save(tmp)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(),
                    "iteration": iteration}, tmp / TRAINER_FILE)
        (tmp / META_FILE).write_text(json.dumps({"iteration": iteration, **meta}, indent=2))
    return target


def load_trainer_state(folder: Path, optimizer, scheduler) -> int:
    state = torch.load(folder / TRAINER_FILE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(_as_tuple(state["python_rng"]))
    return int(state["iteration"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def prune_checkpoints(store: Store, run_id: int, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints of a run (rows first, then files)."""
    for path in drop_old_checkpoints(store, run_id, keep):
        shutil.rmtree(path, ignore_errors=True)
