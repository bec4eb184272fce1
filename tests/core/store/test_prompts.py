"""Prompt sets: importing JSONL, CSV and plain text, the train/eval split, re-imports, and
malformed files that must be refused whole."""

from __future__ import annotations

import re

import pytest

from conftest import write_jsonl
from core.errors import InputError, NotFoundError
from core.store.prompts import auto_split, import_prompts, list_sets, parse_prompts, prompts_of


def counts(store) -> tuple[int, int]:
    return store.count("prompt_sets"), store.count("prompts")


def texts(store, set_name: str) -> list[str]:
    return [row["text"] for row in prompts_of(store, set_name)]


def splits(store, set_name: str) -> dict[str, str]:
    return {row["text"]: row["split"] for row in prompts_of(store, set_name)}


# ---------------------------------------------------------------- formats

def test_import_jsonl(store, tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text('{"prompt": "What is 2+2?"}\n\n{"prompt": "  Name a colour.  "}\n'
                    '{"prompt": "Write a haiku", "extra": 1}\n', encoding="utf-8")
    result = import_prompts(store, path)
    assert result["set"] == "questions"  # named after the file
    assert result["added"] == 3 and result["skipped"] == 0 and result["total"] == 3
    assert result["added_train"] + result["added_eval"] == 3
    assert texts(store, "questions") == ["What is 2+2?", "Name a colour.", "Write a haiku"]
    assert [s["name"] for s in list_sets(store)] == ["questions"]


def test_import_csv_with_bom_crlf_and_quoted_fields(store, tmp_path):
    path = tmp_path / "sheet.csv"
    content = ('prompt,note\r\n'
               '"Hello, world",x\r\n'
               '"A prompt\nover two lines",\r\n'
               '"She said ""hi""",y\r\n'
               ',\r\n')  # an empty row is skipped, not an error
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))  # Excel writes a BOM
    result = import_prompts(store, path, set_name="sheet")
    assert result["added"] == 3
    assert texts(store, "sheet") == ["Hello, world", "A prompt\nover two lines", 'She said "hi"']


def test_import_plain_text_one_prompt_per_non_empty_line(store, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("first prompt\n\n   \n  second prompt  \r\nthird\n", encoding="utf-8")
    result = import_prompts(store, path)
    assert result["added"] == 3
    assert texts(store, "lines") == ["first prompt", "second prompt", "third"]


def test_set_name_can_be_given_and_files_add_to_it(store, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "one"}, {"prompt": "two"}])
    b = tmp_path / "b.txt"
    b.write_text("two\nthree\n", encoding="utf-8")
    import_prompts(store, a, set_name="mine")
    result = import_prompts(store, b, set_name="mine")
    assert (result["added"], result["skipped"], result["total"]) == (1, 1, 3)
    assert texts(store, "mine") == ["one", "two", "three"]
    assert counts(store) == (1, 3)


# ---------------------------------------------------------------- splits

def test_forced_split_puts_every_prompt_there(store, tmp_path):
    rows = [{"prompt": f"p{i}"} for i in range(30)] + [{"prompt": "tagged", "split": "train"}]
    path = write_jsonl(tmp_path / "all.jsonl", rows)
    result = import_prompts(store, path, split="eval")
    assert (result["added_eval"], result["added_train"]) == (31, 0)
    assert set(splits(store, "all").values()) == {"eval"}  # the forced split beats the field
    assert len(prompts_of(store, "all", "eval")) == 31
    assert prompts_of(store, "all", "train") == []


def test_per_row_split_field_jsonl_and_csv(store, tmp_path):
    untagged = [f"untagged {i}" for i in range(20)]
    jsonl = write_jsonl(tmp_path / "tagged.jsonl",
                        [{"prompt": "e1", "split": "eval"}, {"prompt": "t1", "split": "train"},
                         {"prompt": "e2", "split": " eval "}, {"prompt": "n1", "split": None}]
                        + [{"prompt": t} for t in untagged])
    import_prompts(store, jsonl)
    got = splits(store, "tagged")
    assert (got["e1"], got["t1"], got["e2"]) == ("eval", "train", "eval")
    for text in ["n1", *untagged]:  # no split given: the hash decides
        assert got[text] == auto_split(text)

    csv_path = tmp_path / "tagged.csv"
    csv_path.write_text("prompt,split\nc1,eval\nc2,train\nc3,\n", encoding="utf-8")
    import_prompts(store, csv_path, set_name="csvset")
    got = splits(store, "csvset")
    assert (got["c1"], got["c2"], got["c3"]) == ("eval", "train", auto_split("c3"))


def test_automatic_split_is_stable_across_files_and_orders(store, tmp_path):
    prompts = [f"Question number {i}: explain topic {i * 7 % 13}." for i in range(200)]
    forward = write_jsonl(tmp_path / "forward.jsonl", [{"prompt": p} for p in prompts])
    backward = tmp_path / "backward.txt"
    backward.write_text("\n".join(reversed(prompts)) + "\n", encoding="utf-8")
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("prompt\n" + "\n".join(prompts[1::2] + prompts[::2]) + "\n", encoding="utf-8")
    for path in (forward, backward, shuffled):
        import_prompts(store, path)
    first = splits(store, "forward")
    assert splits(store, "backward") == first
    assert splits(store, "shuffled") == first
    assert first == {p: auto_split(p) for p in prompts}
    n_eval = sum(s == "eval" for s in first.values())
    assert 5 <= n_eval <= 40  # about one in ten, and both sides are used
    assert set(dict(parse_prompts(backward)).values()) == {None}  # the parse leaves the split to the store


def test_a_small_set_keeps_every_prompt_for_training_and_a_known_prompt_keeps_its_side(store):
    from core.store.prompts import EVAL_SHARE, MIN_SET_FOR_EVAL, add_prompts, parse_typed

    hashed_eval = [t for t in (f"Question {i}?" for i in range(200)) if auto_split(t) == "eval"][:2]
    add_prompts(store, parse_typed("\n".join(hashed_eval)), "typed")
    assert set(splits(store, "typed").values()) == {"train"}  # 2 typed prompts: none held back
    add_prompts(store, [(t, None) for t in (f"Question {i}?" for i in range(200))], "big")
    big = splits(store, "big")
    assert all(big[t] == "train" for t in hashed_eval)  # the same text keeps the side it has elsewhere
    others = {t: s for t, s in big.items() if t not in hashed_eval}
    assert others == {t: auto_split(t) for t in others} and "eval" in others.values()
    assert MIN_SET_FOR_EVAL == EVAL_SHARE == 10


# ---------------------------------------------------------------- re-imports

@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".txt"])
def test_reimporting_the_same_file_adds_nothing(store, tmp_path, suffix):
    prompts = ["alpha", "beta", "gamma", "delta"]
    path = tmp_path / f"again{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, [{"prompt": p} for p in prompts])
    elif suffix == ".csv":
        path.write_text("prompt\n" + "\n".join(prompts) + "\n", encoding="utf-8")
    else:
        path.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    first = import_prompts(store, path)
    before = counts(store)
    second = import_prompts(store, path)
    assert first["added"] == 4
    assert (second["added"], second["added_train"], second["added_eval"]) == (0, 0, 0)
    assert (second["skipped"], second["total"]) == (4, 4)
    assert counts(store) == before == (1, 4)


def test_reimport_with_another_split_does_not_move_prompts(store, tmp_path):
    path = write_jsonl(tmp_path / "fixed.jsonl", [{"prompt": "stay"}, {"prompt": "put"}])
    import_prompts(store, path, split="train")
    result = import_prompts(store, path, split="eval")
    assert result["added"] == 0
    assert set(splits(store, "fixed").values()) == {"train"}


# ---------------------------------------------------------------- malformed files

GOOD = '{"prompt": "good one"}\n{"prompt": "good two"}\n'

MALFORMED = [  # (file name, bytes, line number or None)
    ("bad_json.jsonl", GOOD + '{"prompt": "unclosed"\n', 3),
    ("not_object.jsonl", GOOD + '["a list"]\n', 3),
    ("no_field.jsonl", GOOD + '{"text": "wrong key"}\n', 3),
    ("empty_prompt.jsonl", GOOD + '{"prompt": "   "}\n', 3),
    ("number_prompt.jsonl", GOOD + '{"prompt": 42}\n', 3),
    ("bad_split.jsonl", GOOD + '{"prompt": "c", "split": "test"}\n', 3),
    ("number_split.jsonl", GOOD + '{"prompt": "c", "split": 1}\n', 3),
    ("blank_then_bad.jsonl", GOOD + '\n{"prompt": ""}\n', 4),
    ("too_many.csv", "prompt\ngood one\n\"x\",\"y\"\n", 3),
    ("no_column.csv", "text\ngood one\n", 2),
    ("unterminated.csv", 'prompt\ngood one\n"never closed\n', 3),
    ("stray_quote.csv", 'prompt\ngood one\n"bad"quote\n', 3),
    ("latin1.txt", b"good one\ncaf\xe9\n", None),
    ("notes.md", "good one\n", None),
    ("empty.jsonl", "", None),
    ("blank.txt", "\n   \n\n", None),
]


@pytest.fixture
def seeded(store, tmp_path):
    """A store that already holds a set 'main', so a refused import has something to spoil."""
    import_prompts(store, write_jsonl(tmp_path / "seed.jsonl", [{"prompt": "seed"}]), set_name="main")
    return store


@pytest.mark.parametrize("name,content,line", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_file_is_refused_whole(seeded, tmp_path, name, content, line):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    before = counts(seeded)
    for set_name in ("main", None):  # into an existing set, and into a new one
        with pytest.raises(InputError) as e:
            import_prompts(seeded, path, set_name=set_name)
        message = str(e.value)
        assert name in message
        if line is not None:
            assert re.search(rf"\bline {line}\b", message), message
        assert counts(seeded) == before
    assert texts(seeded, "main") == ["seed"]


def test_missing_file_is_not_found(seeded, tmp_path):
    before = counts(seeded)
    with pytest.raises(NotFoundError, match="nowhere.jsonl"):
        import_prompts(seeded, tmp_path / "nowhere.jsonl", set_name="main")
    assert counts(seeded) == before


def test_invalid_forced_split_is_refused(seeded, tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [{"prompt": "fine"}])
    before = counts(seeded)
    with pytest.raises(InputError, match="test"):
        import_prompts(seeded, path, split="test")
    assert counts(seeded) == before


def test_unknown_set_names_the_known_ones(seeded):
    with pytest.raises(NotFoundError) as e:
        prompts_of(seeded, "absent")
    assert "absent" in str(e.value) and "main" in str(e.value)
