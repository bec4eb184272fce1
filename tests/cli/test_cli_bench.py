"""The benchmark commands where the benchmarks are left out (the desktop bundle)."""

import sys

from core.cli.main import main


def test_a_bench_command_without_the_benchmarks_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "core.bench.generate", None)  # as in the bundle: not there
    code = main(["--home", str(tmp_path / "home"), "bench", "generate"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "not part of the desktop bundle" in err[0] and "source checkout" in err[0]
