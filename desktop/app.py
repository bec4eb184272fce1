"""The desktop entry point: ``superhf-studio`` opens the main window on the workspace
(``--home`` or SUPERHF_HOME, else the user's data folder). The bundled executable also runs
the command line when its first argument is ``--superhf-cli`` (the training child process)."""

from __future__ import annotations

import argparse
import sys


def stylesheet() -> str:
    from core.resources import resources_dir

    path = resources_dir() / "style.qss"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--superhf-cli"]:  # the bundle's engine child processes, and the CLI from the bundle
        from core.cli.main import main as cli_main

        return cli_main(argv[1:])
    if argv[:1] == ["--self-test"]:
        from core.cli.main import main as cli_main

        return cli_main(["selftest"])
    parser = argparse.ArgumentParser(prog="superhf-studio", description="SuperHF Studio")
    parser.add_argument("--home", help="workspace folder")
    args, qt_args = parser.parse_known_args(argv)
    from desktop.startup import display_problem

    problem = display_problem(qt_args=qt_args)
    if problem:  # Qt would abort with a message about platform plugins instead
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from desktop.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("SuperHF Studio")
    app.setStyleSheet(stylesheet())
    window = MainWindow(args.home)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
