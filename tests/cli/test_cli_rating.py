"""Guided rating from the command line: pairs say which answers ended, 'both-bad' and
'write' answers with undo, the history of ratings (list, change, delete) and the rating
guidelines; mistakes end in a message that names the way out, and change nothing."""

import json

from core.cli.main import main
from core.store.database import open_store
from core.store.ratings import add_ratings, pair, score


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def run(home, capsys, *argv) -> tuple[int, dict]:
    code = main(["--home", str(home), "--json", *argv])
    return code, last_json(capsys.readouterr().out)


def test_pairs_can_be_answered_both_bad_or_with_a_written_answer_and_undone(ready_home, capsys):
    code, shown = run(ready_home, capsys, "rate", "next", "--pairs", "2", "--max-new-tokens", "6", "--device", "cpu")
    assert code == 0 and len(shown["pairs"]) == 2
    first, second = shown["pairs"]
    assert isinstance(first["a_ended"], bool) and isinstance(first["b_ended"], bool)
    assert run(ready_home, capsys, "rate", "answer", str(first["id"]), "both-bad")[0] == 0
    code, error = run(ready_home, capsys, "rate", "answer", str(second["id"]), "write")
    assert code == 1 and "box is empty" in error["error"]
    code, result = run(ready_home, capsys, "rate", "answer", str(second["id"]), "write", "--text", "My own answer.")
    assert code == 0 and result["choice"] == "write"
    code, listed = run(ready_home, capsys, "ratings", "list", "--limit", "4")  # newest first: these four
    assert sorted(r["source"] for r in listed["ratings"]) == ["both-bad", "both-bad", "written", "written"]
    assert run(ready_home, capsys, "rate", "undo", str(first["id"]))[0] == 0
    assert {r["source"] for r in run(ready_home, capsys, "ratings", "list", "--limit", "4")[1]["ratings"]} == {
        "written", "test"}  # the both-bad scores are gone; older ratings show in their place
    code, error = run(ready_home, capsys, "rate", "undo", str(first["id"]))
    assert code == 1 and "no answer to take back" in error["error"]


def test_the_history_lists_changes_and_deletes_ratings(home, capsys):
    with open_store(home) as store:
        add_ratings(store, [pair("What is tea?", "A drink.", "Rocks."), score("Why?", "Because.", 2)], source="app")
    code, listed = run(home, capsys, "ratings", "list", "--search", "tea")
    assert code == 0 and [r["prompt"] for r in listed["ratings"]] == ["What is tea?"]
    tea = listed["ratings"][0]["id"]
    assert run(home, capsys, "ratings", "change", str(tea), "b")[1] == {"rating": tea, "merged": False}
    changed = run(home, capsys, "ratings", "list", "--kind", "pair")[1]["ratings"][0]
    assert (changed["a"], changed["b"]) == ("Rocks.", "A drink.")
    scored = run(home, capsys, "ratings", "list", "--kind", "score")[1]["ratings"][0]["id"]
    code, error = run(home, capsys, "ratings", "change", str(scored), "9")
    assert code == 1 and "1 to 5" in error["error"]
    assert run(home, capsys, "ratings", "delete", str(scored))[0] == 0
    code, error = run(home, capsys, "ratings", "delete", str(scored))
    assert code == 1 and "ratings list" in error["error"]
    assert [r["id"] for r in run(home, capsys, "ratings", "list")[1]["ratings"]] == [tea]


def test_guidelines_are_set_from_a_file_shown_and_cleared(home, tmp_path, capsys):
    code, error = run(home, capsys, "guidelines", "show")
    assert code == 1 and "no workspace" in error["error"]  # read-only: a mistyped --home creates nothing
    with open_store(home):
        pass
    assert run(home, capsys, "guidelines", "show")[1] == {"guidelines": ""}
    text = tmp_path / "guide.md"
    text.write_text("Prefer answers that **finish**.\n", encoding="utf-8")
    assert run(home, capsys, "guidelines", "set", str(text))[0] == 0
    assert run(home, capsys, "guidelines", "show")[1] == {"guidelines": "Prefer answers that **finish**."}
    code, error = run(home, capsys, "guidelines", "set", str(tmp_path / "missing.md"))
    assert code == 1 and "Nothing was changed" in error["error"]
    assert run(home, capsys, "guidelines", "show")[1]["guidelines"].startswith("Prefer")
    assert run(home, capsys, "guidelines", "clear")[0] == 0
    assert run(home, capsys, "guidelines", "show")[1] == {"guidelines": ""}
