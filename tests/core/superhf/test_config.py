"""Each training setting declared once: SuperHFConfig's (and RewardSettings') fields carry their
help, limits, CLI flag and form place; the CLI and the checks are built from them."""

from __future__ import annotations

import dataclasses

import pytest

from core.cli.main import build_parser
from core.cli.options import config_from_args
from core.errors import InputError
from core.reward.config import RewardSettings
from core.settings import Setting, declared
from core.superhf.config import SuperHFConfig

TRAIN = ["train", "--model", "m", "--reward", "r", "--prompts", "p"]


@pytest.mark.parametrize("cls", [SuperHFConfig, RewardSettings])
def test_every_field_has_a_declaration(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert [f.name for f, _ in declared(cls)] == names
    for f, spec in declared(cls):
        assert isinstance(spec, Setting) and spec.help and "\n" not in spec.help, f.name
        assert spec.form in (None, "basic", "advanced"), f.name
        assert not spec.form or spec.label, f"{f.name}: a form row needs a label"
        assert spec.flag is None or spec.flag.startswith("--"), f.name
    flags = [spec.flag for _, spec in declared(cls) if spec.flag]
    assert len(flags) == len(set(flags))


def test_todays_flags_keep_their_names():
    flags = {f.name: spec.flag for f, spec in declared(SuperHFConfig)}
    assert {k: v for k, v in flags.items() if v} == {
        "iterations": "--iterations", "prompts_per_iteration": "--prompts-per-iteration",
        "superbatch_size": "--superbatch", "kl_coefficient": "--kl", "learning_rate": "--lr", "lora": "--full",
        "max_new_tokens": "--max-new-tokens", "seed": "--seed",
        "minutes": "--minutes", "epochs": "--epochs", "head_start": "--head-start", "answer_weight": "--answer-weight"}  # new with the alignment work
    assert {f.name: spec.flag for f, spec in declared(RewardSettings) if spec.flag} == {"mode": "--mode",
                                                                                      "seed": "--seed"}


def _help(*command: str) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*command, "--help"])
    assert e.value.code == 0


def test_train_help_lists_each_declared_flag(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per option
    _help("train")
    shown = capsys.readouterr().out
    for f, spec in declared(SuperHFConfig):
        if spec.flag:
            assert spec.flag in shown, spec.flag
            assert f"(default {f.default})" in shown or f.name in ("iterations", "lora"), f.name
    _help("reward", "train")
    shown = capsys.readouterr().out
    for _, spec in declared(RewardSettings):
        if spec.flag:
            assert spec.flag in shown, spec.flag


def test_parsed_options_become_the_config():
    args = build_parser().parse_args([*TRAIN, "--iterations", "2", "--superbatch", "6", "--kl", "0.1",
                                      "--lr", "1e-2", "--full", "--seed", "7"])
    config = config_from_args(SuperHFConfig, args)
    assert config == SuperHFConfig(iterations=2, superbatch_size=6, kl_coefficient=0.1, learning_rate=1e-2,
                                   lora=False, seed=7)
    assert config_from_args(SuperHFConfig, build_parser().parse_args([*TRAIN, "--iterations", "1"])).lora
    reward = config_from_args(RewardSettings, build_parser().parse_args(["reward", "train", "--mode", "lora"]))
    assert reward == RewardSettings(mode="lora")


@pytest.mark.parametrize("option, value, words", [
    ("--iterations", "0", "--iterations must be at least 1"),
    ("--superbatch", "1", "--superbatch must be at least 2"),
    ("--kl", "-1", "--kl must be 0 or more"),
    ("--lr", "5", "--lr must be between 0 and 1"),
    ("--max-new-tokens", "0", "--max-new-tokens must be at least 1"),
])
def test_a_value_out_of_limits_names_the_flag(option, value, words):
    argv = [*TRAIN, "--iterations", "1", option, value] if option != "--iterations" else [*TRAIN, option, value]
    with pytest.raises(InputError) as e:
        config_from_args(SuperHFConfig, build_parser().parse_args(argv))
    assert str(e.value).startswith(words)


def test_in_python_the_error_names_the_field_and_limits_come_from_the_declaration():
    with pytest.raises(InputError, match="superbatch_size must be at least 2"):
        SuperHFConfig(superbatch_size=1)
    assert SuperHFConfig(superbatch_size=1, ablation=True).superbatch_size == 1
    with pytest.raises(InputError, match="top_p must be between 0 and 1"):
        SuperHFConfig(top_p=0)
    with pytest.raises(InputError, match="'fast' or 'lora'"):
        RewardSettings(mode="slow")
    with pytest.raises(InputError, match="head_lr must be above 0"):
        RewardSettings(head_lr=0)


def test_the_config_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, core.superhf.config, core.reward.config, core.cli.options; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
