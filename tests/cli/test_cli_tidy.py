"""Tidying from the command line: rename and delete models, prompt sets, reward models, runs
and exports; a delete says what goes and asks (or needs --yes); a prompt set is shown, edited,
pruned and moved between training and evaluation. Refusals change nothing."""

import io
import json

import pytest

from core.cli.main import main
from core.store.database import open_store
from tidy_workspace import seed


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def run(home, capsys, *argv) -> tuple[int, dict]:
    code = main(["--home", str(home), "--json", *argv])
    return code, last_json(capsys.readouterr().out)


@pytest.fixture
def ws(home, tmp_path):
    with open_store(home) as store:
        return seed(store, tmp_path / "outside")


def count(home, table) -> int:
    with open_store(home) as store:
        return store.count(table)


def test_a_delete_in_json_mode_needs_yes_and_stores_nothing_without(home, ws, capsys):
    code = main(["--home", str(home), "--json", "runs", "delete", "first"])
    captured = capsys.readouterr()
    assert code == 1 and "--yes" in last_json(captured.out)["error"]
    assert "2 checkpoint(s)" in captured.err  # what would go was said first
    assert count(home, "runs") == 1 and ws["checkpoints"][0].is_dir()
    code, result = run(home, capsys, "runs", "delete", "first", "--yes")
    assert code == 0 and result["deleted"] == "run 'first'" and not ws["checkpoints"][0].exists()
    assert count(home, "runs") == 0 and count(home, "ratings") == 1


def test_a_person_is_asked_and_no_keeps_everything(home, ws, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main(["--home", str(home), "model", "delete", "owned"]) == 130
    captured = capsys.readouterr()
    assert "Delete model 'owned'?" in captured.out and "Nothing was deleted" in captured.err
    assert count(home, "models") == 2 and ws["owned_dir"].is_dir()
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main(["--home", str(home), "model", "delete", "owned"]) == 0
    assert count(home, "models") == 1 and not ws["owned_dir"].exists() and count(home, "runs") == 0


def test_refusals_say_what_to_do(home, ws, capsys):
    code, error = run(home, capsys, "model", "delete", "mine", "--yes")
    assert code == 1 and "superhf reward delete taste" in error["error"]
    code, error = run(home, capsys, "prompts", "delete", "set", "--yes")
    assert code == 1 and "superhf runs delete first" in error["error"]
    code, error = run(home, capsys, "model", "rename", "owned", "mine")
    assert code == 1 and "exists already" in error["error"]
    code, error = run(home, capsys, "runs", "rename", "first", "a b")
    assert code == 1 and "letters, digits" in error["error"]
    code, error = run(home, capsys, "reward", "delete", "nope", "--yes")
    assert code == 1 and "Known: taste" in error["error"]
    assert count(home, "models") == 2 and count(home, "prompts") == 3 and ws["mine_dir"].is_dir()


def test_renames_and_reward_and_export_deletes(home, ws, capsys):
    assert run(home, capsys, "model", "rename", "owned", "base")[1] == {"kind": "model", "old": "owned", "new": "base"}
    assert run(home, capsys, "runs", "rename", "first", "tuned")[0] == 0
    assert run(home, capsys, "reward", "rename", "taste", "kind")[0] == 0
    assert run(home, capsys, "prompts", "rename", "set", "support")[0] == 0
    code, listed = run(home, capsys, "exports", "list")
    assert code == 0 and [(e["run"], e["path"]) for e in listed["exports"]] == [("tuned", str(ws["export_dir"]))]
    assert run(home, capsys, "reward", "delete", "kind", "--version", "1", "--yes")[0] == 0
    assert run(home, capsys, "exports", "delete", str(listed["exports"][0]["id"]), "--yes", "--with-folder")[0] == 0
    assert not ws["export_dir"].exists() and count(home, "exports") == 0
    with open_store(home) as store:
        assert [r["name"] for r in store.all("SELECT name FROM runs")] == ["tuned"]
        assert [(r["name"], r["version"]) for r in store.all("SELECT name, version FROM reward_models")] == [("kind", 2)]


def test_a_prompt_set_is_shown_edited_moved_and_pruned(home, ws, capsys):
    code, shown = run(home, capsys, "prompts", "show", "set")
    ids = {p["text"]: p["id"] for p in shown["prompts"]}
    assert code == 0 and [p["split"] for p in shown["prompts"]] == ["train", "train", "eval"]
    assert run(home, capsys, "prompts", "edit", "set", str(ids["Say hi."]), "Say hello.")[0] == 0
    code, moved = run(home, capsys, "prompts", "move", "set", "--to", "eval", str(ids["Say hi."]))
    assert code == 0 and moved["moved"] == 1
    code, error = run(home, capsys, "prompts", "remove", "set", "999", "--yes")
    assert code == 1 and "prompts show set" in error["error"]
    assert run(home, capsys, "prompts", "remove", "set", str(ids["Say bye."]), "--yes")[1]["deleted"] == 1
    assert [(p["text"], p["split"]) for p in run(home, capsys, "prompts", "show", "set")[1]["prompts"]] == [
        ("Say hello.", "eval"), ("Judge me.", "eval")]


def test_tidy_commands_refuse_a_workspace_that_does_not_exist(tmp_path, capsys):
    code = main(["--home", str(tmp_path / "nowhere"), "--json", "runs", "delete", "x", "--yes"])
    assert code == 1 and "no workspace" in last_json(capsys.readouterr().out)["error"]
    assert not (tmp_path / "nowhere").exists()


def test_an_export_is_forgotten_but_its_folder_kept_unless_asked(home, ws, capsys):
    code, listed = run(home, capsys, "exports", "list")
    assert run(home, capsys, "exports", "delete", str(listed["exports"][0]["id"]), "--yes")[0] == 0
    assert ws["export_dir"].is_dir() and count(home, "exports") == 0  # the user's copy stays, as in the app
