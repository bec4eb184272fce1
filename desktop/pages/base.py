"""What pages have in common: a title, a line saying what the page is for, and refresh()."""

from __future__ import annotations

import html
from datetime import datetime, timezone

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.studio import Studio, show_error


def esc(text) -> str:
    """User text (names, prompts, answers) shown in rich-text labels, as text."""
    return html.escape(str(text))


MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML


def show_markdown(view, text: str) -> None:
    """Model answers and guidelines as Markdown (lists, bold, code), any HTML in them shown as
    text: an answer never styles the page, and a link in it is not followed (the view would
    try to load it and go blank; nothing here goes online)."""
    view.setOpenLinks(False)
    view.document().setMarkdown(text, MARKDOWN)


def read_only_table(name: str, headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers), objectName=name)
    table.setHorizontalHeaderLabels(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.verticalHeader().hide()
    return table


def fit_rows(table: QTableWidget, most: int) -> QTableWidget:
    """Make a table as tall as its header and its rows, ``most`` rows at most (more scroll
    inside it), so a list of past things never pushes the page's own controls out of sight."""
    rows = max(1, min(most, table.rowCount()))
    high = table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize()
    table.setFixedHeight(high + 2 * table.frameWidth())
    return table


def when(stamp) -> str:
    """A stored time (UTC, ISO 8601) as the person's local date and minute; as stored if it is not one."""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp or "")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def fill_table(table: QTableWidget, rows: list[tuple]) -> None:
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table.setItem(i, j, QTableWidgetItem(str(value)))


class Page(QWidget):
    title = ""
    purpose = ""

    def __init__(self, studio: Studio):
        super().__init__()
        self.studio = studio
        # The page's content scrolls when the window is smaller than it needs (a laptop's
        # 768 lines), instead of squeezing charts and texts until they are unreadable.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(objectName="page-scroll", widgetResizable=True, frameShape=QFrame.NoFrame)
        content = QWidget(objectName="page-content")
        scroll.setWidget(content)
        outer.addWidget(scroll)
        self.layout_ = QVBoxLayout(content)
        self.layout_.setContentsMargins(24, 18, 24, 18)
        heading = QLabel(f"<h2>{self.title}</h2>", objectName="page-title")
        self.layout_.addWidget(heading)
        if self.purpose:
            line = QLabel(self.purpose, objectName="page-purpose", wordWrap=True)
            line.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.layout_.addWidget(line)
        studio.changed.connect(self._changed)

    def button_row(self, buttons: list[tuple[str, str, object]], layout=None) -> list[QPushButton]:
        """A row of (text, object name, slot) buttons, left-aligned, at the end of ``layout``
        (default: the page's)."""
        row = QHBoxLayout()
        made = []
        for text, name, slot in buttons:
            button = QPushButton(text, objectName=name)
            button.clicked.connect(slot)
            row.addWidget(button)
            made.append(button)
        row.addStretch()
        (layout if layout is not None else self.layout_).addLayout(row)
        return made

    def _changed(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        """Re-read what the page shows from the workspace (small reads only)."""

    def start(self, title: str, fn, on_done=None):
        """Run ``fn(store, on_progress, cancel)`` in a thread as the workspace's job (light work
        only: no torch); a failure is a dialog."""
        return self._started(self.studio.run_in_thread(title, fn), on_done)

    def command(self, title: str, args: list[str], on_done=None):
        """Run ``superhf ARGS`` in a child process as the workspace's job (model work); the
        result is its JSON; a failure is a dialog."""
        return self._started(self.studio.run_command(title, args), on_done)

    def _started(self, job, on_done):
        if job is None:
            show_error(self, f"“{self.studio.job.title}” is still running. Wait for it or cancel it first.")
            return None
        job.failed.connect(lambda message, details: show_error(self, message, details))
        if on_done is not None:
            job.succeeded.connect(on_done)
        return job
