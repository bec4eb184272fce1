"""The desktop entry point. For now one window that shows the workspace's contents; the
whole journey (model, prompts, rate, reward, train, compare, export) comes with the GUI issue."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QVBoxLayout, QWidget

from core.store import open_store


class MainWindow(QMainWindow):
    def __init__(self, home=None):
        super().__init__()
        self.setWindowTitle("SuperHF Studio")
        self.resize(720, 480)
        with open_store(home) as store:  # a few counts: milliseconds
            counts = {t: store.count(t) for t in ("models", "prompts", "generations", "ratings")}
            where = store.workspace.home
        self.summary = QLabel(
            f"<h2>SuperHF Studio</h2><p>Workspace: {where}</p>"
            f"<p>{counts['models']} models, {counts['prompts']} prompts, {counts['generations']} answers, "
            f"{counts['ratings']} ratings.</p>"
            "<p>The guided pages come next. Meanwhile the <code>superhf</code> command does the work.</p>")
        self.summary.setTextFormat(Qt.RichText)
        self.summary.setWordWrap(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.summary)
        layout.addStretch()
        self.setCentralWidget(body)


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow()
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
