"""The bad-input table: every entry point of the CLI, fed what a person might feed it by
mistake. Each case must end in one line on stderr that says what is wrong (the expected
words), a non-zero exit status, and a store exactly as it was before."""

import hashlib
import json
import resource
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest
from conftest import superhf, write_jsonl
from synthetic import banana_ratings


def store_digest(home: Path) -> str:
    """Every row of every table of the workspace's database."""
    conn = sqlite3.connect(str(home / "superhf.db"))
    try:
        digest = hashlib.sha256()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            digest.update(t.encode())
            for row in conn.execute(f"SELECT * FROM [{t}] ORDER BY rowid"):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_model_dir):
    """One workspace for the whole table: the tiny model, prompts, ratings, a reward model."""
    root = tmp_path_factory.mktemp("bad-inputs")
    home = root / "home"
    superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home, check=True)
    superhf("prompts", "import", str(write_jsonl(root / "p.jsonl", [{"prompt": f"Q{i}?"} for i in range(8)])),
            "--set", "qs", home=home, check=True)
    ratings = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in banana_ratings(24)]
    superhf("ratings", "import", str(write_jsonl(root / "r.jsonl", ratings)), home=home, check=True)
    superhf("reward", "train", home=home, check=True)
    return root, home


def model_copy(root: Path, tiny: Path, name: str) -> Path:
    target = root / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(tiny, target)
    return target


def _truncated(root, tiny):
    folder = model_copy(root, tiny, "truncated")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return ["model", "import", str(folder), "--name", "cut"]


def _config(model_type):
    def make(root, tiny):
        folder = model_copy(root, tiny, f"config-{model_type}")
        config = json.loads((folder / "config.json").read_text())
        config["model_type"] = model_type
        (folder / "config.json").write_text(json.dumps(config))
        return ["model", "import", str(folder), "--name", f"m-{model_type}"]
    return make


def _pickle_only(root, tiny):
    folder = model_copy(root, tiny, "pickled")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    return ["model", "import", str(folder), "--name", "pickled"]


def _file(name: str, data: bytes | str, command: str = "prompts"):
    def make(root, _tiny):
        path = root / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        if command == "prompts":
            return ["prompts", "import", str(path), "--set", "bad"]
        return ["ratings", "import", str(path)]
    return make


def _fake_gguf(root, _tiny):
    (root / "fake.gguf").write_bytes(b"not really a gguf file at all")
    return ["model", "import", str(root / "fake.gguf"), "--name", "fake"]


def _args(*args):
    return lambda root, tiny: list(args)


def _empty_folder(root, _tiny):
    (root / "empty").mkdir(exist_ok=True)
    return ["model", "import", str(root / "empty"), "--name", "empty"]


def _export_into_full_folder(root, _tiny):
    full = root / "full"
    full.mkdir(exist_ok=True)
    (full / "keep.txt").write_text("mine")
    return ["export", "tiny", str(full)]


TRAIN = ["train", "--model", "tiny", "--reward", "reward", "--prompts", "qs"]
PAIR = {"prompt": "p", "chosen": "a", "rejected": "b"}
CASES = [
    # model folders and files
    ("empty model folder", _empty_folder, "no config.json"),
    ("pickle weights only", _pickle_only, "pickle"),
    ("truncated safetensors", _truncated, "cut short"),
    ("unknown architecture", _config("no-such-architecture"), "cannot be read"),
    ("not a causal LM", _config("vit"), "not a text-generation"),
    ("a GGUF that is not one", _fake_gguf, "not a GGUF"),
    ("a model path that does not exist", _args("model", "import", "/nonexistent/model"), "No such"),
    ("a model name taken", lambda root, tiny: ["model", "import", str(tiny), "--name", "tiny"], "exists"),
    # prompt files
    ("prompts not UTF-8", _file("latin.txt", "caf\xe9 au lait?\n".encode("latin-1")), "not UTF-8"),
    ("prompt field missing", _file("nofield.jsonl", '{"question": "hi"}\n'), "'prompt' is missing"),
    ("prompt not text", _file("number.jsonl", '{"prompt": 5}\n'), "must be text"),
    ("empty prompt file", _file("empty.jsonl", ""), "no records"),
    ("broken JSON line", _file("broken.jsonl", '{"prompt": "ok"}\n{"prompt": \n'), "line 2"),
    ("unknown split", _file("split.jsonl", '{"prompt": "hi", "split": "test"}\n'), "split must be"),
    ("CSV without a prompt column", _file("cols.csv", "question\nhi\n"), "'prompt' is missing"),
    ("unknown file type", _file("prompts.docx", "hi"), "unknown file type"),
    ("a huge line", _file("huge.txt", "x" * 200_001 + "\n"), "the most is"),
    ("JSON that is not an object", _file("list.jsonl", '["hi"]\n'), "JSON object"),
    # rating files
    ("rating without rejected", _file("r1.jsonl", '{"prompt": "p", "chosen": "a"}\n', "ratings"), "rejected"),
    ("score out of range", _file("r2.jsonl", '{"prompt": "p", "completion": "a", "rating": 7}\n', "ratings"),
     "1 to 5"),
    ("score not a number", _file("r3.jsonl", '{"prompt": "p", "completion": "a", "rating": "good"}\n', "ratings"),
     "1 to 5"),
    ("empty rating file", _file("r4.jsonl", "\n\n", "ratings"), "no records"),
    ("chosen equals rejected", _file("r5.jsonl", '{"prompt": "p", "chosen": "a", "rejected": "a"}\n', "ratings"),
     "same text"),
    ("unknown outcome", _file("r6.jsonl", json.dumps({**PAIR, "outcome": "maybe"}) + "\n", "ratings"), "outcome"),
    ("a pair and a score in one line",
     _file("r7.jsonl", json.dumps({**PAIR, "completion": "c", "rating": 3}) + "\n", "ratings"), "both"),
    ("one bad line among good ones",
     _file("r8.jsonl", json.dumps(PAIR) + "\n" + json.dumps({**PAIR, "rating": 9}) + "\n", "ratings"), "line 2"),
    # settings
    ("zero iterations", _args(*TRAIN, "--iterations", "0"), "at least 1"),
    ("superbatch of one", _args(*TRAIN, "--iterations", "1", "--superbatch", "1"), "at least 2"),
    ("negative KL", _args(*TRAIN, "--iterations", "1", "--kl", "-1"), "0 or more"),
    ("absurd learning rate", _args(*TRAIN, "--iterations", "1", "--lr", "5"), "between 0 and 1"),
    ("an unknown reward model", _args("train", "--model", "tiny", "--reward", "nope", "--prompts", "qs",
                                      "--iterations", "1"), "No reward model"),
    ("a bad run name", _args(*TRAIN, "--iterations", "1", "--name", "../../etc"), "letters, digits"),
    ("no answers per prompt", _args("generate", "--model", "tiny", "--prompts", "qs", "--answers", "0"), "at least 1"),
    ("absurd answer length", _args("generate", "--model", "tiny", "--prompts", "qs", "--max-new-tokens", "100000"),
     "8192"),
    ("top-p above one", _args("generate", "--model", "tiny", "--prompts", "qs", "--top-p", "2"), "top_p"),
    ("negative temperature", _args("generate", "--model", "tiny", "--prompts", "qs", "--temperature", "-1"),
     "temperature"),
    ("resume a run that does not exist", _args("resume", "nope"), "No run"),
    # export targets
    ("export into a non-empty folder", _export_into_full_folder, "not empty"),
    ("export where nothing can be written", _args("export", "tiny", "/proc/superhf-export"), "choose a folder"),
]


@pytest.mark.parametrize("name, make, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_in_one_line_and_stores_nothing(shared, tiny_model_dir, name, make, expected):
    root, home = shared
    args = make(root, tiny_model_dir)
    before = store_digest(home)
    result = superhf(*args, home=home)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, f"{name}: accepted\n{result.stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: {result.stderr}"
    assert expected in lines[0], f"{name}: {lines[0]}"
    assert store_digest(home) == before, f"{name}: the store changed"


def test_a_full_disk_during_export_is_said_in_plain_words(shared, tmp_path):
    """A disk filling up, simulated with a file-size limit on the process."""
    import os
    import subprocess
    import sys

    _, home = shared
    before = store_digest(home)

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
        # room for the database (about 120 kB here) to work, none for the model's weights (about 200 kB)
        resource.setrlimit(resource.RLIMIT_FSIZE, (160_000, 160_000))

    env = dict(os.environ, SUPERHF_HOME=str(home))
    result = subprocess.run([str(Path(sys.executable).parent / "superhf"), "export", "tiny", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, preexec_fn=small_disk, timeout=300)
    assert result.returncode == 1 and "The disk is full" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and store_digest(home) == before


def test_workspaces_that_cannot_be_used(tmp_path, tiny_model_dir):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    cases = [(not_a_folder, "is a file"), (Path("/proc/superhf-home"), "Cannot create the workspace")]
    newer, corrupt = tmp_path / "newer", tmp_path / "corrupt"
    (tmp_path / "p.txt").write_text("A prompt.\n")
    superhf("prompts", "import", str(tmp_path / "p.txt"), home=newer, check=True)  # makes the workspace
    conn = sqlite3.connect(str(newer / "superhf.db"))
    conn.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    corrupt.mkdir()
    (corrupt / "superhf.db").write_bytes(b"this is not a database, just bytes" * 100)
    cases += [(newer, "newer version"), (corrupt, "cannot be opened")]
    for home, expected in cases:
        db = home / "superhf.db"
        before = db.read_bytes() if db.is_file() else None
        result = superhf("model", "import", str(tiny_model_dir), "--name", "tiny", home=home)
        assert result.returncode != 0 and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert (db.read_bytes() if db.is_file() else None) == before
