"""Ratings files: pairwise and 1-5 ratings from JSONL and CSV, tie normalisation,
re-imports, malformed files refused whole, and export / import round trips."""

from __future__ import annotations

import csv
import json
import re

import pytest

from conftest import write_jsonl
from core.errors import InputError, NotFoundError
from core.store.ratings import export_ratings, import_ratings
from core.store.database import open_store


def fingerprints(store) -> set[str]:
    return {r["fingerprint"] for r in store.all("SELECT fingerprint FROM ratings")}


def rows(store) -> list[dict]:
    return store.all("SELECT kind, prompt, chosen, rejected, outcome, completion, score FROM ratings ORDER BY id")


PAIRS = [
    {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon."},
    {"prompt": "Capital of France?", "chosen": "It is Paris.", "rejected": "Paris.", "outcome": "chosen"},
    {"prompt": "Say hi", "chosen": "hi", "rejected": "hello", "outcome": "tie"},
    {"prompt": "Say hi", "chosen": "yo", "rejected": "hey", "outcome": "skip"},
]
SCORES = [
    {"prompt": "Write a haiku", "completion": "Leaves fall, quiet pond", "rating": 4},
    {"prompt": "Write a haiku", "completion": "no", "rating": 1},
    {"prompt": "Tell a joke", "completion": "Why did the chicken...", "rating": 5},
]


# ---------------------------------------------------------------- importing

def test_import_pairwise_jsonl(store, tmp_path):
    result = import_ratings(store, write_jsonl(tmp_path / "pairs.jsonl", PAIRS))
    assert (result["read"], result["added"], result["skipped"]) == (4, 4, 0)
    stored = rows(store)
    assert [r["kind"] for r in stored] == ["pair"] * 4
    assert [r["outcome"] for r in stored] == ["chosen", "chosen", "tie", "skip"]
    assert (stored[0]["chosen"], stored[0]["rejected"]) == ("Paris.", "Lyon.")  # a win keeps its order
    assert all(r["score"] is None and r["completion"] is None for r in stored)


def test_import_scalar_jsonl(store, tmp_path):
    result = import_ratings(store, write_jsonl(tmp_path / "scores.jsonl", SCORES + [
        {"prompt": "Tell a joke", "completion": "Knock knock", "rating": 2.0},  # a whole float is fine
    ]))
    assert result["added"] == 4
    stored = rows(store)
    assert [r["kind"] for r in stored] == ["score"] * 4
    assert [r["score"] for r in stored] == [4, 1, 5, 2]
    assert stored[0]["completion"] == "Leaves fall, quiet pond"
    assert all(r["chosen"] is None for r in stored)


def test_import_csv_mixed_with_text_ratings(store, tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text(
        "prompt,chosen,rejected,outcome,completion,rating\r\n"
        '"Capital, please",Paris,Lyon,,,\r\n'
        "Say hi,hi,hello,tie,,\r\n"
        'Write a haiku,,,,"Leaves fall,\nquiet pond",4\r\n'
        "Tell a joke,,,, Knock knock , 2 \r\n", encoding="utf-8")
    result = import_ratings(store, path)
    assert result["added"] == 4
    stored = rows(store)
    assert stored[0] == {"kind": "pair", "prompt": "Capital, please", "chosen": "Paris", "rejected": "Lyon",
                         "outcome": "chosen", "completion": None, "score": None}
    assert (stored[1]["outcome"], stored[1]["chosen"], stored[1]["rejected"]) == ("tie", "hello", "hi")
    assert stored[2]["kind"] == "score" and stored[2]["completion"] == "Leaves fall,\nquiet pond"
    assert stored[2]["score"] == 4 and isinstance(stored[2]["score"], int)  # "4" became a number
    assert stored[3]["score"] == 2


def test_ties_are_order_normalised(store, tmp_path):
    path = write_jsonl(tmp_path / "ties.jsonl", [
        {"prompt": "p", "chosen": "a", "rejected": "b", "outcome": "tie"},
        {"prompt": "p", "chosen": "b", "rejected": "a", "outcome": "tie"},
        {"prompt": "p", "chosen": "b", "rejected": "a", "outcome": "skip"},
        {"prompt": "p", "chosen": "a", "rejected": "b", "outcome": "skip"},
        {"prompt": "p", "chosen": "a", "rejected": "b"},  # a win: order matters
        {"prompt": "p", "chosen": "b", "rejected": "a"},
    ])
    result = import_ratings(store, path)
    assert (result["read"], result["added"], result["skipped"]) == (6, 4, 2)
    assert store.count("ratings") == 4
    (tie,) = [r for r in rows(store) if r["outcome"] == "tie"]
    assert (tie["chosen"], tie["rejected"]) == ("a", "b")


def test_reimport_adds_nothing(store, tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", PAIRS + SCORES)
    first = import_ratings(store, path)
    before = fingerprints(store)
    second = import_ratings(store, path)
    assert first["added"] == 7
    assert (second["read"], second["added"], second["skipped"]) == (7, 0, 7)
    assert store.count("ratings") == 7 and fingerprints(store) == before
    # the same ratings in the other format are the same ratings
    csv_path = tmp_path / "all.csv"
    export_ratings(store, csv_path)
    assert import_ratings(store, csv_path)["added"] == 0
    assert store.count("ratings") == 7


# ---------------------------------------------------------------- malformed files

GOOD_LINES = [PAIRS[0], SCORES[0]]

BAD_JSONL = {  # name: (bad record, words the message must hold)
    "rating_zero": ({"prompt": "p", "completion": "c", "rating": 0}, ["rating"]),
    "rating_six": ({"prompt": "p", "completion": "c", "rating": 6}, ["rating"]),
    "rating_half": ({"prompt": "p", "completion": "c", "rating": 3.5}, ["rating"]),
    "rating_text": ({"prompt": "p", "completion": "c", "rating": "abc"}, ["rating"]),
    "rating_bool": ({"prompt": "p", "completion": "c", "rating": True}, ["rating"]),
    "rating_missing": ({"prompt": "p", "completion": "c"}, ["rating"]),
    "completion_missing": ({"prompt": "p", "rating": 3}, ["completion"]),
    "both_kinds": ({"prompt": "p", "chosen": "a", "rejected": "b", "rating": 3}, ["both"]),
    "neither_kind": ({"prompt": "p", "answer": "a"}, ["chosen"]),
    "no_prompt": ({"chosen": "a", "rejected": "b"}, ["prompt"]),
    "empty_prompt": ({"prompt": " ", "completion": "c", "rating": 3}, ["prompt"]),
    "no_rejected": ({"prompt": "p", "chosen": "a"}, ["rejected"]),
    "bad_outcome": ({"prompt": "p", "chosen": "a", "rejected": "b", "outcome": "win"}, ["outcome", "win"]),
}


@pytest.fixture
def seeded(store, tmp_path):
    """A store holding one rating already, so a refused file has something to spoil."""
    import_ratings(store, write_jsonl(tmp_path / "seed.jsonl", [PAIRS[3]]))
    return store


def assert_refused(store, path, line: int, words: list[str]) -> None:
    before = fingerprints(store)
    with pytest.raises(InputError) as e:
        import_ratings(store, path)
    message = str(e.value)
    assert path.name in message
    assert re.search(rf"\bline {line}\b", message), message
    for word in words:
        assert word in message, message
    assert fingerprints(store) == before and store.count("ratings") == 1


@pytest.mark.parametrize("case", list(BAD_JSONL))
def test_malformed_jsonl_is_refused_whole(seeded, tmp_path, case):
    bad, words = BAD_JSONL[case]
    path = write_jsonl(tmp_path / f"{case}.jsonl", GOOD_LINES + [bad] + [SCORES[1]])
    assert_refused(seeded, path, 3, words)


@pytest.mark.parametrize("bad_row,words", [
    ("Tell a joke,,,,ok,0", ["rating"]),
    ("Tell a joke,,,,ok,abc", ["rating", "abc"]),
    ("Tell a joke,,,,ok,4.5", ["rating"]),
    ("Tell a joke,a,b,,ok,4", ["both"]),
    ("Tell a joke,a,b,maybe,,", ["outcome", "maybe"]),
    (",a,b,,,", ["prompt"]),
    ("Tell a joke,,,,,", ["chosen"]),
], ids=["zero", "text", "half", "both", "outcome", "no_prompt", "neither"])
def test_malformed_csv_is_refused_whole(seeded, tmp_path, bad_row, words):
    path = tmp_path / "sheet.csv"
    path.write_text("prompt,chosen,rejected,outcome,completion,rating\n"
                    "Capital of France?,Paris.,Lyon.,,,\n"
                    "Write a haiku,,,,Leaves fall,4\n"
                    f"{bad_row}\n", encoding="utf-8")
    assert_refused(seeded, path, 4, words)


def test_bad_json_line_is_refused(seeded, tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in GOOD_LINES) + '{"prompt": "p", "chosen":\n',
                    encoding="utf-8")
    assert_refused(seeded, path, 3, ["JSON"])


def test_plain_text_and_missing_files_are_refused(seeded, tmp_path):
    text = tmp_path / "ratings.txt"
    text.write_text("good answer\n", encoding="utf-8")
    with pytest.raises(InputError, match="ratings.txt"):
        import_ratings(seeded, text)
    with pytest.raises(NotFoundError, match="absent.jsonl"):
        import_ratings(seeded, tmp_path / "absent.jsonl")
    assert seeded.count("ratings") == 1


# ---------------------------------------------------------------- exporting

def test_export_formats(store, tmp_path):
    import_ratings(store, write_jsonl(tmp_path / "in.jsonl", PAIRS + SCORES))
    assert export_ratings(store, tmp_path / "out.jsonl")["exported"] == 7
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0] == PAIRS[0]  # a plain win has no outcome field: the usual preference format
    assert lines[2] == {"prompt": "Say hi", "chosen": "hello", "rejected": "hi", "outcome": "tie"}
    assert lines[4] == SCORES[0]
    assert export_ratings(store, tmp_path / "out.csv")["exported"] == 7
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert set(table[0]) >= {"prompt", "chosen", "rejected", "completion", "rating"}
    assert table[4]["rating"] == "4" and table[4]["chosen"] == ""


TRICKY = [
    {"prompt": 'Quote "this", please', "chosen": "line one\nline two", "rejected": "tab\there"},
    {"prompt": "Ünïcödé ✓ 日本語", "chosen": "😀", "rejected": "b", "outcome": "tie"},
    {"prompt": "=1+1", "completion": " leading and trailing spaces ", "rating": 3},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_then_import_into_fresh_workspace(store, tmp_path, suffix):
    import_ratings(store, write_jsonl(tmp_path / "in.jsonl", PAIRS + SCORES + TRICKY))
    out = tmp_path / f"export{suffix}"
    assert export_ratings(store, out)["exported"] == 10
    with open_store(tmp_path / "other") as other:
        result = import_ratings(other, out)
        assert (result["read"], result["added"]) == (10, 10)
        assert fingerprints(other) == fingerprints(store)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_round_trip_keeps_unusual_line_breaks(store, tmp_path, suffix):
    """Model output can hold U+2028, U+2029, U+0085 or Windows line ends. JSON does not
    escape the first three (with ensure_ascii=False) and CSV does not quote them, yet
    str.splitlines() splits on them; and a CSV quoted field must keep its \\r\\n."""
    import_ratings(store, write_jsonl(tmp_path / "in.jsonl", [
        {"prompt": "p\u2028q", "chosen": "a\u0085b", "rejected": "c"},
        {"prompt": "r", "completion": "para\u2029graph", "rating": 5},
        {"prompt": "windows", "completion": "carriage\r\nreturn", "rating": 2},
        {"prompt": "old mac", "completion": "lone\rreturn", "rating": 1},
    ]))
    out = tmp_path / f"seps{suffix}"
    export_ratings(store, out)
    with open_store(tmp_path / "other") as other:
        import_ratings(other, out)
        assert rows(other) == rows(store)


def test_export_to_missing_folder_is_a_clear_error(store, tmp_path):
    import_ratings(store, write_jsonl(tmp_path / "in.jsonl", PAIRS))
    target = tmp_path / "no" / "such" / "dir" / "out.jsonl"
    with pytest.raises(NotFoundError) as e:
        export_ratings(store, target)
    assert str(target.parent) in str(e.value)
    assert not (tmp_path / "no").exists()
    with pytest.raises(InputError, match="out.txt"):
        export_ratings(store, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()
