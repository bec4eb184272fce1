"""``superhf reward ...`` and ``superhf rate ...`` through the real console script."""

import json

from conftest import last_json, superhf, write_jsonl
from synthetic import banana_ratings


def rating_file(path, rows):
    return write_jsonl(path, [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])


def test_train_score_and_list_reward_models(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    superhf("ratings", "import", str(rating_file(tmp_path / "r.jsonl", banana_ratings(60))), home=home, check=True)
    trained = superhf("--json", "reward", "train", "--name", "taste", home=home, check=True)
    row = last_json(trained)
    assert row["name"] == "taste" and row["version"] == 1 and row["accuracy"] >= 0.9
    assert "Held-out accuracy" in trained.stderr

    answers = write_jsonl(tmp_path / "answers.jsonl", [
        {"prompt": "Q?", "completion": "a banana is it the", "model": "tiny"},
        {"prompt": "Q?", "completion": "a cat is it the", "model": "tiny"}])
    out = tmp_path / "scored.jsonl"
    superhf("reward", "score", "--reward", "taste", "--in", str(answers), "--out", str(out), home=home, check=True)
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert [s["model"] for s in scored] == ["tiny", "tiny"]  # other fields kept
    assert scored[0]["reward"] > scored[1]["reward"]

    listed = last_json(superhf("--json", "reward", "list", home=home, check=True))["reward_models"]
    assert [(r["name"], r["version"], r["mode"]) for r in listed] == [("taste", 1, "fast")]


def test_reward_errors_are_one_line(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    no_ratings = superhf("reward", "train", home=home)
    assert no_ratings.returncode == 1
    assert no_ratings.stderr.strip().splitlines() == [no_ratings.stderr.strip()]
    assert "no ratings yet" in no_ratings.stderr
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "Q?"}])
    missing = superhf("reward", "score", "--reward", "nope", "--in", str(bad), "--out", str(tmp_path / "o.jsonl"),
                      home=home)
    assert missing.returncode == 1 and "'completion' is missing" in missing.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_rate_next_answer_and_stats(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"Prompt {i}?"} for i in range(3)])
    superhf("prompts", "import", str(prompts), "--split", "train", home=home, check=True)
    shown = superhf("rate", "next", "--pairs", "2", "--max-new-tokens", "6", "--seed", "1", home=home, check=True)
    pairs = [json.loads(line) for line in shown.stdout.splitlines()]
    assert len(pairs) == 2 and all({"id", "prompt", "a", "b", "guess"} <= set(p) for p in pairs)
    answered = last_json(superhf("--json", "rate", "answer", str(pairs[0]["id"]), "a", home=home, check=True))
    assert answered["choice"] == "a" and answered["agreed"] is None  # no reward model guessed yet
    again = superhf("rate", "answer", str(pairs[0]["id"]), "b", home=home)
    assert again.returncode == 1 and "rated already" in again.stderr
    stats = last_json(superhf("--json", "rate", "stats", home=home, check=True))
    assert stats["answered"] == 0


def test_reward_train_json_carries_the_cross_validated_accuracy_and_its_interval(home, tiny_model_dir, tmp_path):
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    superhf("ratings", "import", str(rating_file(tmp_path / "r.jsonl", banana_ratings(40))), home=home, check=True)
    row = last_json(superhf("--json", "reward", "train", home=home, check=True))
    assert row["accuracy_pairs"] == row["heldout_pairs"] == 40 and row["train_pairs"] == 40
    assert row["accuracy_low"] < row["accuracy"] <= row["accuracy_high"]
    assert row["accuracy_method"] == "5-fold cross-validation by prompt"
