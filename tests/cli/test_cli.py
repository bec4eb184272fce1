"""The ``superhf`` console script, run as a user runs it: a subprocess with a workspace of
its own. Errors must exit non-zero with exactly one line on stderr and store nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import last_json, superhf, write_jsonl
from core.store.database import open_store

TABLES = ("models", "prompt_sets", "prompts", "generations", "ratings")


def counts(home: Path) -> dict[str, int]:
    with open_store(home) as store:
        return {t: store.count(t) for t in TABLES}


def ok(*args: str, home: Path):
    result = superhf(*args, home=home)
    assert result.returncode == 0, f"superhf {' '.join(args)} failed: {result.stderr}"
    return result


def assert_one_line_error(result, *words: str, code: int | None = None) -> str:
    assert result.returncode != 0
    if code is not None:
        assert result.returncode == code
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def import_tiny(home: Path, folder: Path) -> None:
    ok("model", "import", str(folder), "--name", "tiny", home=home)


# ---------------------------------------------------------------- success paths

def test_model_import_then_list(home, tiny_model_dir):
    result = ok("--json", "model", "import", str(tiny_model_dir), "--name", "tiny", home=home)
    model = last_json(result)["model"]
    assert model["name"] == "tiny" and model["kind"] == "folder"
    assert model["architecture"] == "LlamaForCausalLM" and model["parameters"] > 0
    assert result.stdout.strip().count("\n") == 0  # with --json, stdout is the JSON alone

    listed = last_json(ok("--json", "model", "list", home=home))
    assert [m["name"] for m in listed["models"]] == ["tiny"]
    assert Path(listed["models"][0]["path"]) == tiny_model_dir.resolve()

    plain = ok("model", "list", home=home)  # without --json: a line for a person, no JSON
    assert plain.stdout.startswith("tiny\t")
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain.stdout.strip().splitlines()[-1])


def test_home_option_beats_the_environment(home, tmp_path, tiny_model_dir):
    other = tmp_path / "other"
    ok("--home", str(other), "model", "import", str(tiny_model_dir), "--name", "tiny", home=home)
    assert counts(other)["models"] == 1
    assert counts(home)["models"] == 0


def test_prompts_import(home, tmp_path):
    path = write_jsonl(tmp_path / "questions.jsonl",
                       [{"prompt": "What is 2+2?"}, {"prompt": "Name a colour."}, {"prompt": "Hi"}])
    result = ok("--json", "prompts", "import", str(path), "--set", "demo", "--split", "train", home=home)
    assert last_json(result) == {"set": "demo", "added": 3, "added_train": 3, "added_eval": 0,
                                 "skipped": 0, "total": 3}
    again = last_json(ok("--json", "prompts", "import", str(path), "--set", "demo", home=home))
    assert (again["added"], again["skipped"]) == (0, 3)
    assert counts(home)["prompts"] == 3
    plain = ok("prompts", "import", str(path), home=home)  # default set name: the file's
    assert "questions" in plain.stdout and "added 3" in plain.stdout
    sets = last_json(ok("--json", "prompts", "list", home=home))["sets"]
    assert {s["name"]: (s["train"] or 0) + (s["eval"] or 0) for s in sets} == {"demo": 3, "questions": 3}


def test_generate_writes_stores_and_repeats_with_a_seed(home, tmp_path, tiny_model_dir):
    import_tiny(home, tiny_model_dir)
    prompts = ["Tell me a story.", "What is the weather?"]
    ok("prompts", "import", str(write_jsonl(tmp_path / "p.jsonl", [{"prompt": p} for p in prompts])),
       "--set", "demo", home=home)
    out = tmp_path / "out.jsonl"
    args = ["generate", "--model", "tiny", "--prompts", "demo", "--answers", "2", "--max-new-tokens", "8",
            "--seed", "3"]

    first = ok("--json", *args, "--out", str(out), home=home)
    summary = last_json(first)
    assert len(first.stdout.strip().splitlines()) == 1  # the JSON alone; progress went to stderr
    assert (summary["generated"], summary["prompts"], summary["seed"]) == (4, 2, 3)
    assert summary["out"] == str(out) and len(summary["generation_ids"]) == 4
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 4
    assert all(set(r) == {"prompt", "completion", "model"} for r in records)
    assert all(r["model"] == "tiny" and isinstance(r["completion"], str) for r in records)
    assert sorted(r["prompt"] for r in records) == sorted(prompts * 2)
    with open_store(home) as store:
        stored = store.all("SELECT prompt, completion, prompt_id FROM generations ORDER BY id")
    assert [(s["prompt"], s["completion"]) for s in stored] == [(r["prompt"], r["completion"]) for r in records]
    assert all(s["prompt_id"] is not None for s in stored)  # linked to the stored set

    # again with the same seed, answers on stdout this time: the same answers
    second = ok("--json", *args, home=home)
    lines = second.stdout.strip().splitlines()
    assert len(lines) == 5 and last_json(second)["generated"] == 4
    again = [json.loads(line) for line in lines[:-1]]
    assert again == records
    assert counts(home)["generations"] == 8


def test_ratings_import_and_export(home, tmp_path):
    ratings = write_jsonl(tmp_path / "ratings.jsonl", [
        {"prompt": "p", "chosen": "good", "rejected": "bad"},
        {"prompt": "p", "chosen": "x", "rejected": "y", "outcome": "tie"},
        {"prompt": "q", "completion": "fine", "rating": 4},
    ])
    assert last_json(ok("--json", "ratings", "import", str(ratings), home=home))["added"] == 3
    assert last_json(ok("--json", "ratings", "import", str(ratings), home=home))["skipped"] == 3

    csv_out, jsonl_out = tmp_path / "out.csv", tmp_path / "out.jsonl"
    assert last_json(ok("--json", "ratings", "export", str(csv_out), home=home))["exported"] == 3
    assert csv_out.read_text(encoding="utf-8").splitlines()[0].startswith("prompt,")
    ok("ratings", "export", str(jsonl_out), home=home)
    assert len(jsonl_out.read_text(encoding="utf-8").splitlines()) == 3

    with open_store(home) as store:
        mine = {r["fingerprint"] for r in store.all("SELECT fingerprint FROM ratings")}
    for out in (csv_out, jsonl_out):
        fresh = tmp_path / f"fresh{out.suffix}"
        assert last_json(ok("--json", "--home", str(fresh), "ratings", "import", str(out), home=home))["added"] == 3
        with open_store(fresh) as store:
            assert {r["fingerprint"] for r in store.all("SELECT fingerprint FROM ratings")} == mine


# ---------------------------------------------------------------- errors

def test_missing_model_path(home, tmp_path):
    missing = tmp_path / "no-such-model"
    result = superhf("--json", "model", "import", str(missing), home=home)
    assert_one_line_error(result, "no-such-model", code=1)
    assert json.loads(result.stdout) == {"error": result.stderr.strip()[len("error: "):], "exit_code": 1}  # --json
    assert counts(home)["models"] == 0


def test_pickle_only_folder_is_refused(home, tmp_path, tiny_model_dir):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny_model_dir / "config.json", folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02not really a pickle")
    result = superhf("model", "import", str(folder), home=home)
    assert_one_line_error(result, "pickle", "safetensors", code=1)
    assert counts(home)["models"] == 0


def test_generate_with_unknown_model(home, tmp_path, tiny_model_dir):
    import_tiny(home, tiny_model_dir)
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "hello"}])
    out = tmp_path / "out.jsonl"
    result = superhf("generate", "--model", "ghost", "--prompts", str(prompts), "--answers", "1",
                     "--max-new-tokens", "4", "--out", str(out), home=home)
    line = assert_one_line_error(result, "ghost", code=1)
    assert "tiny" in line  # names the models there are
    assert not out.exists()
    assert counts(home)["generations"] == 0


def test_generate_with_unknown_prompt_set(home):
    result = superhf("generate", "--model", "tiny", "--prompts", "nothing-here", "--answers", "1", home=home)
    assert_one_line_error(result, "nothing-here", code=1)
    assert counts(home)["generations"] == 0


def test_malformed_ratings_file(home, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"prompt": "p", "chosen": "a", "rejected": "b"},
        {"prompt": "q", "completion": "c", "rating": 5},
        {"prompt": "r", "completion": "d", "rating": 9},
    ])
    assert_one_line_error(superhf("ratings", "import", str(path), home=home), "bad.jsonl", "line 3", code=1)
    assert counts(home)["ratings"] == 0


def test_malformed_prompts_file(home, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": "broken"\n', encoding="utf-8")
    assert_one_line_error(superhf("prompts", "import", str(path), home=home), "prompts.jsonl", "line 2", code=1)
    assert counts(home)["prompts"] == 0 and counts(home)["prompt_sets"] == 0


@pytest.mark.parametrize("argv", [
    ["generate", "--model", "tiny", "--prompts", "x", "--answers", "abc"],
    ["generate", "--prompts", "x"],
    ["prompts", "import", "p.txt", "--split", "test"],
    ["frobnicate"],
    [],
], ids=["not-int", "missing-required", "bad-choice", "unknown-command", "no-command"])
def test_usage_errors_exit_2_with_one_line(home, argv):
    result = superhf(*argv, home=home)
    assert_one_line_error(result, "superhf", code=2)
    assert result.stdout == ""
    assert not (home / "superhf.db").exists()  # refused before the workspace was opened
