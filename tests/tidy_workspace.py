"""A workspace with one of everything, written as rows and small files (no model weights): for
the tests of renaming and deleting (core, CLI and app)."""

from __future__ import annotations

from pathlib import Path

from core.store.comparisons import add_comparisons
from core.store.database import Store, now, to_json
from core.store.exports import record_export
from core.store.generations import add_generations
from core.store.models import insert_model
from core.store.prompts import add_prompts
from core.store.ratings import add_ratings, pair
from core.store.reward_models import insert_reward_model
from core.store.runs import create_run, record_iteration


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    return path


def seed(store: Store, outside: Path) -> dict:
    """Models 'owned' (a folder the workspace made) and 'mine' (the user's folder, used where it
    is), a reward model 'taste' (2 versions) on 'mine', a prompt set 'set' (train and eval), a
    run 'first' of 'owned' with two checkpoints, a comparison and an export, a pair rating and
    an answer 'owned' wrote. Returns the ids and paths."""
    ws = store.workspace
    owned_dir = _folder(ws.models_dir / "owned")
    mine_dir = _folder(outside / "my-model")
    stamp = now()
    owned = insert_model(store, {"name": "owned", "kind": "gguf", "source": str(outside / "x.gguf"),
                                 "path": str(owned_dir), "created_at": stamp})
    mine = insert_model(store, {"name": "mine", "kind": "folder", "source": str(mine_dir), "path": str(mine_dir),
                                "created_at": stamp})
    rewards = []
    for version in (1, 2):
        folder = _folder(ws.reward_models_dir / f"taste-v{version}")
        rewards.append(insert_reward_model(store, {"name": "taste", "version": version, "base_model_id": mine,
                                                   "path": str(folder), "created_at": stamp}))
    add_prompts(store, [("Say hi.", "train"), ("Say bye.", "train"), ("Judge me.", "eval")], "set")
    set_id = store.one("SELECT id FROM prompt_sets WHERE name = 'set'")["id"]
    run = create_run(store, name="first", model_id=owned, reward_model_id=rewards[1], prompt_set_id=set_id,
                     config={"iterations": 2})
    checkpoints = []
    for i in (1, 2):
        folder = _folder(ws.checkpoints_dir / "first" / f"iter-{i:04d}")
        record_iteration(store, run["id"], i, {"reward": 0.1 * i}, str(folder))
        checkpoints.append(folder)
    add_comparisons(store, [{"run_id": run["id"], "iteration": 2, "prompt": "Judge me.", "base": "b",
                             "tuned": "t", "tuned_on_left": 1, "created_at": stamp}])
    export_dir = _folder(outside / "exported")
    record_export(store, {"run_id": run["id"], "model_id": None, "path": str(export_dir),
                          "settings": to_json({"format": "safetensors"}), "created_at": stamp})
    answers = [{"model_id": owned, "prompt": "Say hi.", "completion": c, "finished": 1, "new_tokens": 2,
                "settings": "{}", "created_at": stamp} for c in ("Hi!", "Go away.")]
    add_generations(store, answers)
    add_ratings(store, [pair("Say hi.", "Hi!", "Go away.")], source="app",
                generations=[(answers[0]["id"], answers[1]["id"])])
    return {"owned": owned, "mine": mine, "owned_dir": owned_dir, "mine_dir": mine_dir, "rewards": rewards,
            "run": run["id"], "checkpoints": checkpoints, "export_dir": export_dir, "set_id": set_id}
