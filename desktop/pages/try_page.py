"""Try: ask your own question and see the base model's and a tuned run's answers side by
side as they are written. The answering runs in the engine's child process (``superhf chat``),
whose progress lines carry each answer so far; Stop ends it. A question worth training on
joins a prompt set with one click, and the two answers can be rated like any pair.

The columns say which model wrote which: the page is for seeing what tuning changed. So a
rating given here is not blind: it teaches the reward model like any other rating, and the
Compare page's blind win rate stays the measure of whether the tuned model is better."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTextBrowser,
)

from core.journey.chat import CHAT_STAGE
from core.store.models import base_models
from core.store.prompts import add_prompts, list_sets
from core.store.ratings import add_ratings, pair
from core.store.runs import checkpointed_runs, list_runs
from desktop.pages.base import Page, esc, show_markdown
from desktop.studio import guard, show_error

NO_RUN = "(none: the base model alone)"
NO_MODEL = "Import a model first (page 1); then ask it anything here."
NO_RUN_YET = "Ask the base model anything. Once a run has trained (page 5), its answer shows beside the base model's."
READY = "Type a question and press Ask."
NOT_BLIND = ("You can see which model wrote which, so this rating is not blind: it teaches the reward model like "
             "any other rating, but only the Compare page (6) measures whether the tuned model is better.")


class TryPage(Page):
    title = "Try"
    purpose = ("Ask your own question. The base model and a tuned run answer side by side as they write; Stop ends "
               "them. Keep a good question in a prompt set, or rate the two answers.")

    def __init__(self, studio):
        super().__init__(studio)
        row = QHBoxLayout()
        self.base, self.run = QComboBox(objectName="try-base"), QComboBox(objectName="try-run")
        self.run.currentIndexChanged.connect(lambda _: self._run_chosen())
        self.base.currentIndexChanged.connect(lambda _: self._ready_line())
        self.max_tokens = QSpinBox(objectName="try-max-tokens", minimum=16, maximum=2048, value=256, singleStep=64)
        for text, widget in (("Base model:", self.base), ("Tuned run:", self.run), ("Longest answer:", self.max_tokens)):
            row.addWidget(QLabel(text))
            row.addWidget(widget)
        row.addWidget(QLabel("tokens"))
        row.addStretch()
        self.layout_.addLayout(row)
        self.system = QLineEdit(objectName="try-system", placeholderText="Optional system prompt, such as: Answer "
                                "in one short paragraph.")
        self.layout_.addWidget(self.system)
        self.question = QPlainTextEdit(objectName="try-question", placeholderText="Your question (Ctrl+Enter asks)")
        self.question.setMaximumHeight(90)
        self.layout_.addWidget(self.question)
        buttons = QHBoxLayout()
        self.ask_button = QPushButton("Ask", objectName="try-ask")
        self.ask_button.clicked.connect(self.ask)
        self.stop_button = QPushButton("Stop", objectName="try-stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel(objectName="try-status", wordWrap=True)
        for widget in (self.ask_button, self.stop_button):
            buttons.addWidget(widget)
        buttons.addWidget(self.status, 1)
        self.layout_.addLayout(buttons)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.setContext(Qt.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.ask)
        grid = QGridLayout()
        self.headings = [QLabel(objectName="try-left-heading"), QLabel(objectName="try-right-heading")]
        self.views = [QTextBrowser(objectName="try-left"), QTextBrowser(objectName="try-right")]
        for i, (heading, view) in enumerate(zip(self.headings, self.views)):
            grid.addWidget(heading, 0, i)
            grid.addWidget(view, 1, i)
        self.layout_.addLayout(grid, 1)
        self._keep_row()
        self._rate_row()
        self.job = None
        self.seed: int | None = None  # set: the answers are drawn the same every time (tests)
        self.asked: dict | None = None  # the question asked, its system prompt and the answers once whole
        self.refresh()
        self._clear_answers()

    def _keep_row(self) -> None:
        row = QHBoxLayout()
        self.sets = QComboBox(objectName="try-set", editable=True)
        self.sets.lineEdit().setPlaceholderText("a prompt set (type a new name to start one)")
        self.add_button = QPushButton("Add the question to this prompt set", objectName="try-add")
        self.add_button.clicked.connect(self.add_to_set)
        row.addWidget(QLabel("Keep the question:"))
        row.addWidget(self.sets, 1)
        row.addWidget(self.add_button)
        self.layout_.addLayout(row)

    def _rate_row(self) -> None:
        row = QHBoxLayout()
        self.rate_buttons = []
        for text, choice in (("← Left is better", "left"), ("Tie", "tie"), ("Right is better →", "right")):
            button = QPushButton(text, objectName=f"try-rate-{choice}", enabled=False)
            button.clicked.connect(lambda _=False, c=choice: self.rate(c))
            row.addWidget(button)
            self.rate_buttons.append(button)
        self.rate_note = QLabel(NOT_BLIND, objectName="try-rate-note", wordWrap=True)
        row.addWidget(self.rate_note, 1)
        self.layout_.addLayout(row)

    # -- what there is to ask

    def refresh(self) -> None:
        with self.studio.store() as store:
            models = [m["name"] for m in base_models(store)]
            tuned = set(checkpointed_runs(store))
            self.run_models = {r["name"]: r["model"] for r in list_runs(store) if r["name"] in tuned}
            sets = [s["name"] for s in list_sets(store)]
        _refill(self.base, models)
        _refill(self.run, [*reversed(self.run_models), NO_RUN])  # the newest run first
        _refill(self.sets, sets)
        self.run.setEnabled(bool(self.run_models))
        self._ready_line()

    def _run_chosen(self) -> None:
        base = self.run_models.get(self.run.currentText())
        if base and self.base.findText(base) >= 0:  # the run's own base model beside it
            self.base.setCurrentText(base)
        self._ready_line()

    def _ready_line(self) -> None:
        busy = self.job is not None and self.job.running
        self.ask_button.setEnabled(bool(self.base.count()) and not busy)
        self.headings[0].setText(f"<b>{esc(self.base.currentText() or 'Base model')}</b> (base model)")
        run = self._run_name()
        self.headings[1].setText(f"<b>{esc(run)}</b> (tuned)" if run else "<b>Tuned run</b>")
        hint = (NO_MODEL if not self.base.count() else NO_RUN_YET if not self.run_models else READY)
        if not busy and (self.status.text() in (NO_MODEL, NO_RUN_YET, READY, "")):  # a result's line stays
            self.status.setText(hint)

    def _run_name(self) -> str:
        text = self.run.currentText()
        return text if text in self.run_models else ""

    def _clear_answers(self) -> None:
        self.views[0].setPlainText("")
        self.views[0].setPlaceholderText("The base model's answer shows here as it is written.")
        self.views[1].setPlainText("")
        self.views[1].setPlaceholderText("The tuned run's answer shows here as it is written." if self.run_models
                                         else "No tuned run yet: train one (page 5) to compare its answers here.")

    # -- asking

    def ask(self) -> None:
        question = self.question.toPlainText().strip()
        if not question:
            show_error(self, "Type a question first, then press Ask.")
            return
        if not self.base.count():
            show_error(self, "There is no model to ask yet. Import one on the Model page (1).")
            return
        names = [self.base.currentText()] + ([self._run_name()] if self._run_name() else [])
        system = self.system.text().strip()
        args = ["chat", *[a for name in names for a in ("--model", name)], "--max-new-tokens",
                str(self.max_tokens.value()), *([f"--system={system}"] if system else []),
                *(["--seed", str(self.seed)] if self.seed is not None else []), "--", question]
        job = self.command("Answering your question", args, self._answered)
        if job is None:
            return
        self.job = job
        self.asked = {"question": question, "system": system, "models": names, "answers": None}
        self._clear_answers()
        job.progress.connect(self._progress)
        job.cancelled.connect(lambda: self.status.setText("Stopped. The answers end where they were; ask again to "
                                                          "start afresh."))
        job.failed.connect(lambda *_: self.status.setText("The answering stopped with an error: see its message."))
        job.ended.connect(self._ended)
        self.stop_button.setEnabled(True)
        self.ask_button.setEnabled(False)
        self._set_rating(False)
        self.status.setText(f"Loading {names[0]}…")

    def _progress(self, event) -> None:
        if event.stage == "loading model":
            self.status.setText(f"Loading {event.detail.get('model', 'the model')}…")
        elif event.stage == CHAT_STAGE and isinstance(event.detail.get("text"), str):
            side = min(int(event.detail.get("side", 0)), 1)
            show_markdown(self.views[side], event.detail["text"])
            if not event.detail.get("complete"):
                self.status.setText(f"{event.detail.get('model')} is writing…")

    def _answered(self, result) -> None:
        answers = [a["text"] for a in result["chats"][0]["answers"]]
        for view, text in zip(self.views, answers):
            show_markdown(view, text)
        self.asked["answers"] = answers
        if len(answers) < 2:
            self.status.setText("Done.")
        elif self.asked["system"]:
            self.status.setText("Done. Answers written under a system prompt are not rated: training prompts have "
                                "none, so the rating would teach the reward model about another question.")
        elif answers[0] == answers[1]:
            self.status.setText("Done. Both answers are the same: there is nothing to rate.")
        else:
            self.status.setText("Done. Which answer is better?")
            self._set_rating(True)

    def _ended(self) -> None:
        self.stop_button.setEnabled(False)
        self._ready_line()

    def stop(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    # -- keeping the question, rating the answers

    def add_to_set(self) -> None:
        question = self.question.toPlainText().strip()
        name = self.sets.currentText().strip()
        if not question:
            show_error(self, "Type a question first: it is the question box's text that is added.")
            return
        if not name:
            show_error(self, "Choose a prompt set, or type a name to start a new one.")
            return
        with self.studio.store() as store:
            added = guard(self, add_prompts, store, [(question, None)], name)
        if added is None:
            return
        if added["added"]:
            split = "evaluation" if added["added_eval"] else "training"
            self.status.setText(f"Added to “{esc(name)}” for {split} ({added['total']} prompts in the set).")
        else:
            self.status.setText(f"“{esc(name)}” has this question already.")
        self.studio.changed.emit()

    def rate(self, choice: str) -> None:
        asked = self.asked
        if asked is None or not asked["answers"] or len(asked["answers"]) < 2:
            return
        left, right = asked["answers"]
        better, worse = (right, left) if choice == "right" else (left, right)
        row = pair(asked["question"], better, worse, "tie" if choice == "tie" else "chosen")
        with self.studio.store() as store:
            if guard(self, add_ratings, store, [row], source="app") is None:
                return
        self._set_rating(False)
        self.status.setText("Rating stored with your others; the next reward model learns from it.")
        self.studio.changed.emit()

    def _set_rating(self, enabled: bool) -> None:
        for button in self.rate_buttons:
            button.setEnabled(enabled)


def _refill(combo: QComboBox, items: list[str]) -> None:
    """New items, keeping the choice where it is still there."""
    keep = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    if keep in items:
        combo.setCurrentText(keep)
    combo.blockSignals(False)
