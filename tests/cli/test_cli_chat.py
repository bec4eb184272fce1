"""``superhf chat``: the answer is printed as it is written and whole at the end under --json,
questions come from the command line or one per line from standard input, the app reads the
text so far from progress lines, and mistakes end in a message that says what to do."""

import io
import json

from core.cli.main import main

SEEDED = ["--max-new-tokens", "12", "--temperature", "1", "--seed", "3", "--device", "cpu"]


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_one_question_prints_the_answer_as_it_is_written_and_whole_in_json(home, tiny_model, capsys):
    assert main(["--home", str(home), "chat", "--model", tiny_model, "Why is the sky blue?", *SEEDED]) == 0
    printed = capsys.readouterr().out
    assert main(["--home", str(home), "--json", "chat", "--model", tiny_model, "Why is the sky blue?", *SEEDED]) == 0
    out, err = capsys.readouterr()
    chat = last_json(out)["chats"][0]
    (answer,) = chat["answers"]
    assert chat["question"] == "Why is the sky blue?" and answer["model"] == tiny_model and answer["text"]
    assert printed.strip() == answer["text"]
    assert err.strip().endswith(answer["text"])  # streamed on stderr under --json (after any library's lines)


def test_the_app_reads_the_answer_so_far_from_progress_lines(home, tiny_model, capsys):
    code = main(["--home", str(home), "--json", "--progress-json", "chat", "--model", tiny_model, "--model",
                 tiny_model, "--system", "Be brief.", "Hello?", *SEEDED])
    out, err = capsys.readouterr()
    assert code == 0
    events = [json.loads(line) for line in err.splitlines() if line.startswith('{"progress": "answering"')]
    texts = [e["text"] for e in events if e["side"] == 0]
    assert len(texts) > 2 and texts[-1] == last_json(out)["chats"][0]["answers"][0]["text"]
    assert events[-1]["side"] == 1 and events[-1]["complete"]
    assert not any(texts[-1] in line for line in err.splitlines() if not line.startswith("{"))  # no raw text


def test_questions_are_read_one_per_line_from_standard_input(home, tiny_model, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Why is the sky blue?\n\nWhat is tea?\n"))
    assert main(["--home", str(home), "--json", "chat", "--model", tiny_model, *SEEDED]) == 0
    chats = last_json(capsys.readouterr().out)["chats"]
    assert [c["question"] for c in chats] == ["Why is the sky blue?", "What is tea?"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["--home", str(home), "--json", "chat", "--model", tiny_model, *SEEDED]) == 1
    assert "No question was read" in last_json(capsys.readouterr().out)["error"]


def test_mistakes_say_what_to_do(home, tiny_model, tmp_path, capsys):
    def error(*argv) -> str:
        assert main(["--json", *argv]) == 1
        return last_json(capsys.readouterr().out)["error"]

    assert "superhf runs list" in error("--home", str(home), "chat", "--model", "nope", "Hi?")
    assert "question is empty" in error("--home", str(home), "chat", "--model", tiny_model, " ")
    assert "max_new_tokens must be between" in error("--home", str(home), "chat", "--model", tiny_model,
                                                     "--max-new-tokens", "0", "Hi?")
    assert "There is no workspace" in error("--home", str(tmp_path / "typo"), "chat", "--model", tiny_model, "Hi?")
