"""The command line as people expect it: global options before or after the command, errors
as JSON in --json mode, --version, exit codes in --help, and read-only commands that refuse a
workspace that does not exist instead of creating an empty one."""

import json

import pytest

import core
from core.cli.main import NEEDS_WORKSPACE, build_parser, main


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_global_options_work_before_and_after_the_command(tmp_path, capsys):
    home = tmp_path / "ws"
    assert main(["--home", str(home), "prompts", "list", "--json"]) == 1  # no workspace there yet
    assert main(["rate", "next", "--n", "1", "--home", str(home), "--json", "--device", "cpu"]) == 1  # no model
    assert (home / "superhf.db").is_file()  # rate next may start a workspace; --home after the command counted
    capsys.readouterr()
    assert main(["prompts", "list", "--home", str(home), "--json"]) == 0
    assert last_json(capsys.readouterr().out) == {"sets": []}
    args = build_parser().parse_args(["runs", "list", "--home", "h", "--device", "cpu", "--progress-json"])
    assert (args.home, args.device, args.progress_json, args.json) == ("h", "cpu", True, False)
    args = build_parser().parse_args(["--home", "h", "--json", "runs", "list"])
    assert (args.home, args.device, args.json) == ("h", None, True)  # before the command still counts


def test_errors_in_json_mode_are_json_on_stdout_with_the_line_on_stderr(tmp_path, capsys):
    home = tmp_path / "ws"
    assert main(["--home", str(home), "prompts", "import", str(tmp_path / "missing.jsonl"), "--json"]) == 1
    captured = capsys.readouterr()
    error = last_json(captured.out)
    assert error["exit_code"] == 1 and "missing.jsonl" in error["error"]
    assert captured.err.startswith("error: ") and error["error"] in captured.err
    assert main(["prompts", "list", "--home", str(home)]) == 0  # without --json, no JSON line
    assert not capsys.readouterr().out.lstrip().startswith("{")


def test_a_command_line_not_understood_exits_2_and_says_so_in_json_too(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["superhf", "model", "lisst", "--json"])
    with pytest.raises(SystemExit) as e:
        main(["model", "lisst", "--json"])
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert last_json(captured.out)["exit_code"] == 2 and "lisst" in captured.err


def test_version_and_exit_codes_in_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"superhf {core.__version__}"
    for argv in (["--help"], ["runs", "show", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "exit codes: 0 done; 1 refused or failed" in text and "130 stopped" in text


@pytest.mark.parametrize("argv", [["model", "list"], ["doctor"], ["runs", "show", "r"], ["export", "r", "out"],
                                  ["reward", "list"], ["rate", "stats"]])
def test_read_only_commands_refuse_a_workspace_that_does_not_exist(tmp_path, capsys, argv):
    home = tmp_path / "typo"
    assert " ".join(argv[:2]) in NEEDS_WORKSPACE or argv[0] in NEEDS_WORKSPACE
    assert main(["--home", str(home), *argv]) == 1
    assert f"There is no workspace at {home}" in capsys.readouterr().err
    assert not home.exists()  # nothing created


def test_status_says_where_the_workspace_stands_and_the_next_step(home, tmp_path, capsys):
    from core.store.database import open_store

    with open_store(home):
        pass
    assert main(["status", "--home", str(home), "--json"]) == 0
    captured = capsys.readouterr()
    state = last_json(captured.out)
    assert state["models"] == [] and state["next"]["page"] == "model"
    assert "models: none" in captured.err and "next: Choose a model to start from" in captured.err
    (tmp_path / "p.txt").write_text("One prompt.\nAnother prompt.\n")
    assert main(["prompts", "import", str(tmp_path / "p.txt"), "--split", "train", "--home", str(home)]) == 0
    capsys.readouterr()
    assert main(["status", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "prompts: 2 to train on, 0 to evaluate with" in out and "reward model: none yet" in out


def test_one_name_per_concept_with_former_spellings_understood_but_not_listed(capsys):
    parser = build_parser()
    assert parser.parse_args(["rate", "next", "--pairs", "3"]).pairs == 3
    assert parser.parse_args(["rate", "next", "--n", "3"]).pairs == 3  # the former spelling
    assert parser.parse_args(["rate", "next"]).pairs == 10
    assert parser.parse_args(["generate", "--model", "m", "--prompts", "p", "--n", "5"]).answers == 5
    assert parser.parse_args(["generate", "--model", "m", "--prompts", "p"]).answers == 2
    assert parser.parse_args(["compare", "prepare", "run-1", "--eval-prompts", "8"]).eval_prompts == 8
    assert parser.parse_args(["bench", "generate", "--prompt-count", "4"]).prompt_count == 4
    for argv in (["rate", "next", "--help"], ["generate", "--help"], ["bench", "generate", "--help"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        listed = capsys.readouterr().out
        assert "--n " not in listed and "--n N" not in listed
    with pytest.raises(SystemExit):
        parser.parse_args(["compare", "prepare", "run-1", "--prompts", "8"])  # a count is never --prompts
    capsys.readouterr()
