"""Renaming and deleting on a real SQLite workspace: what goes with what, the files removed
(never the user's own model folder), the ratings kept, and the refusals that store nothing."""

import os

import pytest

from core.errors import InputError, NotFoundError
from core.journey.renaming import rename
from core.journey.tidy import delete, plan_delete, remove_files
from core.store.prompt_edits import delete_prompts, edit_prompt, move_prompts
from core.store.prompts import prompts_of
from core.store.runs import create_run, run_lock
from tidy_workspace import seed


@pytest.fixture
def ws(store, tmp_path):
    return seed(store, tmp_path / "outside")


def names(store, table):
    return [r["name"] for r in store.all(f"SELECT name FROM {table} ORDER BY id")]


def test_deleting_a_run_takes_its_checkpoints_comparisons_and_export_record_and_keeps_the_rest(store, ws):
    plan = plan_delete(store, "run", "first")
    assert plan.refused is None
    assert "2 checkpoint(s)" in plan.text() and "1 blind comparison(s)" in plan.text()
    assert str(ws["export_dir"]) in plan.text()  # said to stay
    result = delete(store, "run", "first")
    assert names(store, "runs") == []
    for table in ("checkpoints", "iterations", "comparisons", "exports"):
        assert store.count(table) == 0, table
    assert not (store.workspace.checkpoints_dir / "first").exists()
    assert ws["export_dir"].is_dir()  # the user's exported copy stays
    assert store.count("ratings") == 1 and names(store, "reward_models") == ["taste", "taste"]
    assert result["not_removed"] == []


def test_deleting_a_model_takes_its_runs_and_answers_and_its_workspace_folder_but_not_the_ratings(store, ws):
    text = plan_delete(store, "model", "owned").text()
    assert "'first'" in text and "2 answer(s)" in text and "every rating you gave" in text
    delete(store, "model", "owned")
    assert names(store, "models") == ["mine"]
    assert store.count("runs") == 0 and store.count("generations") == 0 and store.count("exports") == 0
    assert not ws["owned_dir"].exists() and not (store.workspace.checkpoints_dir / "first").exists()
    rating = store.one("SELECT * FROM ratings")
    assert rating["chosen"] == "Hi!" and rating["generation_a"] is None  # kept, with its own texts
    assert store.one("PRAGMA foreign_key_check") is None


def test_a_model_used_where_it_is_keeps_the_users_folder(store, ws):
    delete(store, "reward", "taste")  # built on it: they go first
    plan = plan_delete(store, "model", "mine")
    assert plan.files == [] and "it is yours" in plan.text()
    delete(store, "model", "mine")
    assert names(store, "models") == ["owned"]
    assert (ws["mine_dir"] / "config.json").is_file()


def test_a_model_with_reward_models_built_on_it_is_refused_and_nothing_goes(store, ws):
    with pytest.raises(InputError, match=r"'taste'.*superhf reward delete taste"):
        delete(store, "model", "mine")
    assert names(store, "models") == ["owned", "mine"] and ws["mine_dir"].is_dir()


def test_a_run_that_is_training_cannot_be_deleted_nor_its_model(store, ws):
    with run_lock(store, "first"):  # what a training process holds
        for kind, name in (("run", "first"), ("model", "owned")):
            with pytest.raises(InputError, match="training right now"):
                delete(store, kind, name)
        with pytest.raises(InputError, match="training right now"):
            rename(store, "run", "first", "second")
    assert names(store, "runs") == ["first"] and store.count("checkpoints") == 2
    assert ws["owned_dir"].is_dir() and all(p.is_dir() for p in ws["checkpoints"])


def test_deleting_one_reward_version_keeps_the_run_without_it(store, ws):
    text = plan_delete(store, "reward", "taste", version=2).text()
    assert "'first'" in text and "not resumed" in text
    delete(store, "reward", "taste", version=2)
    assert [r["version"] for r in store.all("SELECT version FROM reward_models")] == [1]
    assert not (store.workspace.reward_models_dir / "taste-v2").exists()
    assert (store.workspace.reward_models_dir / "taste-v1").is_dir()
    assert store.one("SELECT reward_model_id FROM runs")["reward_model_id"] is None


def test_a_prompt_set_used_by_a_run_is_refused_then_deleted_once_the_run_is_gone(store, ws):
    with pytest.raises(InputError, match="superhf runs delete first"):
        delete(store, "prompts", "set")
    assert store.count("prompts") == 3
    delete(store, "run", "first")
    delete(store, "prompts", "set")
    assert store.count("prompt_sets") == 0 and store.count("prompts") == 0 and store.count("ratings") == 1


def test_deleting_an_export_removes_its_folder_unless_kept(store, ws):
    export_id = store.one("SELECT id FROM exports")["id"]
    delete(store, "export", export_id, keep_files=True)
    assert store.count("exports") == 0 and ws["export_dir"].is_dir()
    with pytest.raises(NotFoundError, match="exports list"):
        delete(store, "export", export_id)


def test_a_file_that_cannot_be_removed_is_reported_and_the_rows_still_go(store, ws, monkeypatch):
    import shutil

    real = shutil.rmtree

    def stuck(path, *args, **kwargs):
        if str(path).endswith("first"):
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", stuck)
    result = delete(store, "run", "first")
    assert store.count("runs") == 0
    assert result["not_removed"] == [f"{store.workspace.checkpoints_dir / 'first'}: Permission denied"]


def test_the_app_sets_folders_aside_at_once_and_removes_them_later(store, ws):
    folder = ws["owned_dir"]
    result = delete(store, "model", "owned", remove=False)
    assert names(store, "models") == ["mine"]
    assert not folder.exists()  # its name is free at once: a new import may take it
    aside = [p for p in result["set_aside"] if p.parent == folder.parent]
    assert len(aside) == 1 and aside[0].name.startswith(".owned") and aside[0].is_dir()
    assert result["removed"] == [] and result["not_removed"] == []
    folder.mkdir()  # something new under the old name, before the removal runs
    removed, failed = remove_files(result["set_aside"])
    assert failed == [] and str(aside[0]) in removed
    assert not aside[0].exists() and not (store.workspace.checkpoints_dir / "first").exists()
    assert folder.is_dir()  # the new folder is not touched


def test_renaming_a_run_moves_its_checkpoints_and_frees_the_old_name(store, ws):
    rename(store, "run", "first", "second")
    folder = store.workspace.checkpoints_dir
    assert not (folder / "first").exists() and (folder / "second" / "iter-0002").is_dir()
    paths = [r["path"] for r in store.all("SELECT path FROM checkpoints ORDER BY iteration")]
    assert paths == [str(folder / "second" / "iter-0001"), str(folder / "second" / "iter-0002")]


def test_renaming_a_reward_model_moves_every_version(store, ws):
    rename(store, "reward", "taste", "kind")
    rows = store.all("SELECT name, path FROM reward_models ORDER BY version")
    assert [r["name"] for r in rows] == ["kind", "kind"]
    assert all(os.path.isdir(r["path"]) and "kind-v" in r["path"] for r in rows)
    assert not list(store.workspace.reward_models_dir.glob("taste-v*"))


@pytest.mark.parametrize("kind,old,table", [("model", "owned", "models"), ("prompts", "set", "prompt_sets"),
                                            ("run", "first", "runs"), ("reward", "taste", "reward_models")])
def test_an_empty_name_is_refused_in_plain_words(store, ws, kind, old, table):
    with pytest.raises(InputError, match="1 to"):
        rename(store, kind, old, "  ")
    assert old in names(store, table)


def test_renaming_to_a_taken_name_stores_nothing(store, ws):
    with pytest.raises(InputError, match="A model named 'mine' exists already"):
        rename(store, "model", "owned", "mine")
    rename(store, "prompts", "set", "other")
    from core.store.prompts import add_prompts

    add_prompts(store, [("x", "train")], "set")
    with pytest.raises(InputError, match="A prompt set named 'set' exists already"):
        rename(store, "prompts", "other", "set")
    assert names(store, "models") == ["owned", "mine"] and sorted(names(store, "prompt_sets")) == ["other", "set"]
    create_run(store, name="second", model_id=ws["owned"], reward_model_id=None, prompt_set_id=None, config={})
    with pytest.raises(InputError, match="A run named 'second' exists already"):
        rename(store, "run", "first", "second")
    assert (store.workspace.checkpoints_dir / "first" / "iter-0001").is_dir()


def test_a_prompt_set_is_edited_moved_and_pruned(store, ws):
    ids = {p["text"]: p["id"] for p in prompts_of(store, "set")}
    edit_prompt(store, "set", ids["Say hi."], "  Say hello.  ")
    assert move_prompts(store, "set", [ids["Say hi."], ids["Judge me."]], "eval") == 1  # one changed side
    assert delete_prompts(store, "set", [ids["Say bye."]]) == 1
    assert [(p["text"], p["split"]) for p in prompts_of(store, "set")] == [("Say hello.", "eval"),
                                                                           ("Judge me.", "eval")]
    with pytest.raises(InputError, match="cannot be empty"):
        edit_prompt(store, "set", ids["Judge me."], " ")
    with pytest.raises(InputError, match="has this prompt already"):
        edit_prompt(store, "set", ids["Judge me."], "Say hello.")
    with pytest.raises(NotFoundError, match="prompts show set"):
        move_prompts(store, "set", [ids["Say bye."]], "train")
    with pytest.raises(InputError, match="'train' or 'eval'"):
        move_prompts(store, "set", [ids["Judge me."]], "test")
    assert [p["text"] for p in prompts_of(store, "set")] == ["Say hello.", "Judge me."]
