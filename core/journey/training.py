"""Starting a SuperHF run from the names a person gives: which model, which reward model,
which prompts. The run itself is ``core.superhf.run``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from core.errors import NotFoundError
from core.store.database import Store
from core.store.models import get_model
from core.store.prompts import find_set_id, import_prompts
from core.store.reward_models import find_reward_model
from core.store.runs import create_run


def start_run(store: Store, *, model: str, reward: str, prompts: str, config: dict, name: Optional[str] = None) -> dict:
    """A new run from names as the user gives them: a model, a reward model (its newest
    version) and a prompt set or a prompts file (imported into a set named after it)."""
    model_row = get_model(store, model)
    reward_row = find_reward_model(store, reward)
    path = Path(prompts).expanduser()
    set_name = import_prompts(store, path)["set"] if path.is_file() else prompts
    set_id = find_set_id(store, set_name)
    if set_id is None:
        raise NotFoundError(f"No prompt set or file named '{prompts}'. Import prompts first: superhf prompts import FILE")
    return create_run(store, name=name, model_id=model_row["id"], reward_model_id=reward_row["id"],
                      prompt_set_id=set_id, config=config)
