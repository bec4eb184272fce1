"""The desktop ↔ engine protocol (core.protocol): what the CLI writes, the window reads back."""

from __future__ import annotations

import io
import json

import pytest

from core import protocol
from core.progress import Progress
from core.protocol import LogLine, ProgressWriter, Result, read_line, read_result


def test_progress_round_trips_through_a_line():
    events = [Progress("generating", 3, 8),
              Progress("iteration", 1, 4, {"metrics": {"reward_mean": 0.5, "warnings": []}}),
              Progress("loading model", 0, 1, {"model": "tiny", "notice": "Out of memory: batch halved ✓"})]
    for event in events:
        line = protocol.progress_line(event)
        assert "\n" not in line
        assert read_line(line) == event
        assert read_line(line.encode("utf-8") + b"\n") == event  # bytes, with the newline, as QProcess gives them


def test_the_line_format_is_flat_with_the_fixed_keys_first():
    line = protocol.progress_line(Progress("scoring", 1, 4, {"model": "m"}))
    assert line == '{"progress": "scoring", "done": 1, "total": 4, "model": "m"}'
    # a detail cannot replace the fixed keys
    assert json.loads(protocol.progress_line(Progress("s", 1, 2, {"done": 99})))["done"] == 1


def test_writer_writes_one_flushed_line_per_event():
    stream = io.StringIO()
    protocol.write_progress(Progress("saving checkpoint", 1, 1), stream)
    assert [read_line(x) for x in stream.getvalue().splitlines()] == [Progress("saving checkpoint", 1, 1)]


def test_a_flood_of_plain_steps_is_thinned_but_ends_details_and_new_stages_go_out():
    clock = [0.0]
    stream = io.StringIO()
    write = ProgressWriter(stream, clock=lambda: clock[0])
    written = []
    for done in range(0, 101):
        clock[0] += 0.001  # a thousand steps a second
        written.append(write(Progress("generating", done, 100)))
    write(Progress("generating", 50, 100, {"notice": "batch halved"}))
    write(Progress("scoring", 1, 4))
    write(Progress("scoring", 2, 4))  # within the interval of a new stage's line: thinned
    events = [read_line(x) for x in stream.getvalue().splitlines()]
    generating = [e for e in events if e.stage == "generating"]
    assert generating[0].done == 0 and generating[-2].done == 100  # the first and the last step
    assert 2 < len(generating) < 10  # one every 50 ms of the 100 ms, not a hundred
    assert generating[-1].detail == {"notice": "batch halved"}  # details are never dropped
    assert [e for e in events if e.stage == "scoring"] == [Progress("scoring", 1, 4)]
    assert written.count(True) == len(generating) - 1


def test_slow_steps_all_go_out():
    clock = [0.0]
    stream = io.StringIO()
    write = ProgressWriter(stream, clock=lambda: clock[0])
    for done in range(5):
        clock[0] += protocol.PROGRESS_INTERVAL * 1.01
        assert write(Progress("updating", done, 4))
    assert len(stream.getvalue().splitlines()) == 5


def test_cli_progress_printer_uses_the_protocol(capsys):
    from argparse import Namespace

    from core.cli.output import progress_printer

    emit = progress_printer(Namespace(progress_json=True))
    for done in range(0, 1001):
        emit(Progress("generating", done, 1000))
    emit(Progress("scoring", 1, 4))
    events = [read_line(x) for x in capsys.readouterr().err.splitlines()]
    assert all(isinstance(e, Progress) for e in events)
    assert len(events) < 100 and events[-1] == Progress("scoring", 1, 4)


@pytest.mark.parametrize("line", [
    "", "loading weights…", "error: No model named 'x'.", '{"progress": "generating", "done": 1, "to',
    '{"progress": "generating"}', '{"progress": 3, "done": 1, "total": 2}', '{"progress": "x", "done": "1", "total": 2}',
    '{"progress": "x", "done": true, "total": 2}', '["progress", 1, 2]', '{"not": "progress"}', "{", "\udcff",
    b'{"progress": "\xff\xfe', b"\x00\x01",
])
def test_malformed_lines_read_as_log_lines_never_raise(line):
    read = read_line(line)
    assert isinstance(read, LogLine)


def test_log_lines_know_errors_and_warnings():
    assert read_line("error: The disk is full.").error == "The disk is full."
    assert read_line("warning: reward fell").warning == "reward fell"
    plain = read_line("iteration 1/3: reward 0.5")
    assert plain.error is None and plain.warning is None and plain.text == "iteration 1/3: reward 0.5"


def test_the_result_is_the_last_line_of_stdout():
    result = {"run": {"name": "r"}, "iterations": [1, 2], "note": "é"}
    stdout = '{"prompt": "a", "completion": "b"}\n' + protocol.result_line(result) + "\n"
    assert read_result(stdout) == Result(result)
    assert read_result(stdout.encode("utf-8")) == Result(result)
    assert read_result("done, no JSON\n") == Result({"output": "done, no JSON"})
    assert read_result("") is None and read_result(b"\n \n") is None
    assert read_line(protocol.result_line(result), stdout=True) == Result(result)
    assert read_line("plain text", stdout=True) == LogLine("plain text")
    assert read_line("{broken", stdout=True) == LogLine("{broken")


def test_the_run_event_names_the_run_and_its_id():
    event = protocol.run_event("my-run", 7)
    assert event.stage == protocol.RUN_STAGE == "run"
    read = read_line(protocol.progress_line(event))
    assert read == event and protocol.started_run(read) == {"run": "my-run", "run_id": 7}
    assert json.loads(protocol.progress_line(event)) == {"progress": "run", "done": 0, "total": 0,
                                                         "run": "my-run", "run_id": 7}
    assert protocol.started_run(Progress("generating", 1, 2)) is None
    assert protocol.started_run(Progress("run", 0, 0, {"run_id": 7})) is None  # no name: not the event


def test_the_run_event_is_not_shown_on_a_terminal(capsys, monkeypatch):
    from argparse import Namespace

    from core.cli.output import progress_printer

    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    progress_printer(Namespace(progress_json=False))(protocol.run_event("r", 1))
    assert capsys.readouterr().err == ""


def test_exit_statuses_match_the_cli():
    assert (protocol.EXIT_OK, protocol.EXIT_FAILED, protocol.EXIT_USAGE, protocol.EXIT_BUG,
            protocol.EXIT_CANCELLED) == (0, 1, 2, 3, 130)


def test_the_protocol_imports_neither_qt_nor_torch():
    import subprocess
    import sys

    code = ("import sys, core.protocol; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'PySide6', 'transformers', 'numpy')]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("argv", [["train", "--model", "m", "--reward", "r", "--prompts", "p", "--iterations", "1"],
                                  ["resume", "my-run"]])
def test_train_and_resume_name_their_run_before_training_begins(home, monkeypatch, capsys, argv):
    """The CLI side: the run event goes out (after the sentence a person reads) before any training."""
    import core.journey.training
    import core.store.runs
    import core.superhf.run
    from core.cli.main import main

    from core.store.database import open_store

    with open_store(home):
        pass  # a workspace to resume in (resume refuses a --home without one)
    row = {"name": "my-run", "id": 7, "model_id": 1, "reward_model_id": None, "config": "{}"}  # as a stored run
    monkeypatch.setattr(core.journey.training, "start_run", lambda store, **kw: row)
    monkeypatch.setattr("core.cli.commands.training._estimate", lambda store, run: "It will take about a minute.")
    monkeypatch.setattr(core.store.runs, "get_run", lambda store, name: row)

    def fake_training(store, name, device=None, on_progress=None):
        print("TRAINING", file=__import__("sys").stderr)
        return {"run": name, "iterations": []}

    monkeypatch.setattr(core.superhf.run, "run_superhf", fake_training)
    assert main(["--home", str(home), "--json", "--progress-json", *argv]) == 0
    out, err = capsys.readouterr()
    read = [read_line(x) for x in err.splitlines()]
    runs = [protocol.started_run(e) for e in read if isinstance(e, Progress)]
    assert runs == [{"run": "my-run", "run_id": 7}]
    texts = [e.text for e in read if isinstance(e, LogLine)]
    named = next(i for i, t in enumerate(texts) if t.startswith("Run 'my-run'"))
    assert named < texts.index("TRAINING")  # the sentence a person reads, then training
    event_at = next(i for i, e in enumerate(read) if isinstance(e, Progress) and protocol.started_run(e))
    assert event_at < read.index(LogLine("TRAINING"))
    result = read_result(out).value
    assert (result["run"], result["iterations"]) == ("my-run", []) and isinstance(result["verdict"], str)
