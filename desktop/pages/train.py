"""Train: SuperHF runs, started, followed, cancelled and resumed. Training runs as ``superhf
train`` in a child process (see desktop.jobs): the window stays alive whatever happens there."""

from __future__ import annotations

import json
import time

from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.journey.estimate import estimate_sentence
from core.journey.metric_words import iteration_line
from core.journey.run_verdict import run_verdict, time_limit_sentence
from core.protocol import started_run
from core.reward.verdict import verdict
from core.store.models import base_models
from core.store.prompts import training_sets
from core.store.reward_models import find_reward_model, reward_model_names
from core.store.runs import find_run, iterations, list_runs, measured_rounds
from core.settings import declared
from core.superhf.config import SuperHFConfig, defaults_for
from desktop.pages.base import Page, esc, fill_table, fit_rows, read_only_table, when
from desktop.pages.charts import MetricChart
from desktop.pages.settings_form import setting_args, setting_widget
from desktop.pages.tidy import TableTidy
from desktop.studio import show_error

PHASES = {"generating": "sampling answers", "scoring": "scoring answers", "updating": "updating the model",
          "evaluating": "evaluating", "saving checkpoint": "saving a checkpoint", "iteration": "iteration",
          "loading model": "loading the model"}
WITHIN = ("generating", "scoring", "updating")  # stages whose done/total count within one iteration


class TrainPage(Page):
    title = "5  Train"
    purpose = ("SuperHF: the model answers each training prompt several times, the reward model picks the best "
               "answer, and the model learns from those picks, while staying close to where it started.")

    def __init__(self, studio):
        super().__init__(studio)
        d = defaults_for("cpu")  # until the hardware is known (set_hardware)
        top = QHBoxLayout()
        form = QFormLayout()
        self.model, self.reward, self.prompt_set = QComboBox(), QComboBox(), QComboBox()
        form.addRow("Model to tune", self.model)
        form.addRow("Reward model", self.reward)
        self.gate = QLabel(objectName="train-gate", wordWrap=True, visible=False)  # is it better than chance?
        form.addRow("", self.gate)
        self.reward.currentTextChanged.connect(self._show_gate)
        form.addRow("Prompt set", self.prompt_set)
        # the settings' controls, built from their declarations in SuperHFConfig, keyed by field name
        shown = [(f.name, spec) for f, spec in declared(SuperHFConfig) if spec.form]
        self.fields = {name: setting_widget(SuperHFConfig, name, getattr(d, name)) for name, _ in shown}
        for name, spec in shown:
            if spec.form == "basic":
                form.addRow(spec.label, self.fields[name])
        # the short names the desktop tests and the GUI benchmark use
        self.iterations, self.prompts = self.fields["iterations"], self.fields["prompts_per_iteration"]
        self.superbatch, self.max_tokens = self.fields["superbatch_size"], self.fields["max_new_tokens"]
        self.name = QLineEdit(placeholderText="automatic")
        form.addRow("Run name", self.name)
        top.addLayout(form, 1)
        self.show_advanced = QCheckBox("Show advanced settings", objectName="show-advanced")
        form.addRow("", self.show_advanced)
        self.advanced = QGroupBox("Advanced", visible=False)
        adv = QFormLayout(self.advanced)
        advanced = [(name, spec) for name, spec in shown if spec.form == "advanced"]
        for name, spec in sorted(advanced, key=lambda item: isinstance(self.fields[item[0]], QCheckBox)):
            checkbox = isinstance(self.fields[name], QCheckBox)  # checkboxes last, their text their label
            adv.addRow("" if checkbox else spec.label, self.fields[name])
        self.show_advanced.toggled.connect(self.advanced.setVisible)
        top.addWidget(self.advanced, 1)
        self.layout_.addLayout(top)

        controls = QHBoxLayout()
        self.start_button = QPushButton("Start training", objectName="start-training")
        self.cancel_button = QPushButton("Cancel", objectName="cancel-training", enabled=False)
        # stopped runs to resume: shown only when there is one
        self.resume_label = QLabel("  Stopped runs:", visible=False)
        self.resume_runs = QComboBox(objectName="resumable-runs", visible=False)
        self.resume_button = QPushButton("Resume", objectName="resume-training", visible=False)
        self.start_button.clicked.connect(self.start_training)
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(lambda: self.resume(self.resume_runs.currentData()))
        for w in (self.start_button, self.cancel_button, self.resume_label, self.resume_runs, self.resume_button):
            controls.addWidget(w)
        controls.addStretch()
        self.layout_.addLayout(controls)
        self.estimate = QLabel(objectName="train-estimate", wordWrap=True)  # before a run: how long it will take
        self.progress = QProgressBar(objectName="train-progress", textVisible=True, visible=False)  # while one runs
        self.phase = QLabel("Not running.", objectName="train-phase")
        self.verdict = QLabel(objectName="train-verdict", wordWrap=True, visible=False)  # after: what changed
        self.verdict.setStyleSheet("background: #eef5ee; padding: 6px; border-radius: 4px;")
        self.warning = QLabel(objectName="train-warning", wordWrap=True, visible=False)
        self.warning.setStyleSheet("color: #8a3b00; background: #fff3e0; padding: 6px; border-radius: 4px;")
        for w in (self.estimate, self.progress, self.phase, self.verdict, self.warning):
            self.layout_.addWidget(w)
        # the workspace's runs, five rows at most (the rest scroll): choosing one shows it in the
        # charts and the Log below; Rename… and Delete… act on it. Hidden while there is none.
        self.runs_box = QWidget(objectName="train-runs", visible=False)
        box = QVBoxLayout(self.runs_box)
        box.setContentsMargins(0, 6, 0, 0)
        box.addWidget(QLabel("<b>Runs in this workspace</b> — choose one to see its rounds below"))
        self.runs_table = read_only_table("runs", ["Run", "Status", "Rounds done", "Reward model", "Started"])
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.runs_table.itemSelectionChanged.connect(self._run_chosen)
        box.addWidget(self.runs_table)
        self.tidy = TableTidy(self, self.runs_table, "run")  # its checkpoints and comparisons go with it
        self.tidy.renamed = self._run_renamed
        self.button_row([("Rename…", "rename-run", self.tidy.ask_rename),
                         ("Delete…", "delete-run", self.tidy.ask_delete)], box)
        self.layout_.addWidget(self.runs_box)
        self.measured: list[dict] = []  # the rounds this workspace measured for the chosen model
        self.model.currentTextChanged.connect(self._read_measured)
        for box in self.fields.values():
            if isinstance(box, (QSpinBox, QDoubleSpinBox)):
                box.valueChanged.connect(self._show_estimate)

        charts = QHBoxLayout()
        self.reward_chart = MetricChart("Reward", [("reward_mean", "all answers"), ("kept_reward_mean", "kept"),
                                                   ("eval_reward", "evaluation prompts")])
        self.kl_chart = MetricChart("KL to the start", [("kl", "KL (nats/token)")])
        self.diversity_chart = MetricChart("Diversity", [("distinct_2", "distinct-2")])
        for chart in (self.reward_chart, self.kl_chart, self.diversity_chart):
            charts.addWidget(chart)
        self.layout_.addLayout(charts, 2)
        bottom = QHBoxLayout()
        kept = QVBoxLayout()
        kept.addWidget(QLabel("<b>Latest kept answer</b>"))
        self.example = QPlainTextEdit(objectName="kept-example", readOnly=True, minimumHeight=140)
        kept.addWidget(self.example)
        logs = QVBoxLayout()
        logs.addWidget(QLabel("<b>Log</b>"))
        self.log = QPlainTextEdit(objectName="train-log", readOnly=True, maximumBlockCount=2000, minimumHeight=140)
        logs.addWidget(self.log)
        bottom.addLayout(kept, 1)
        bottom.addLayout(logs, 1)
        self.layout_.addLayout(bottom, 1)
        self.job = None
        self.run_name = None
        self.shown = None  # the run the charts and the Log show
        self.started_at = 0.0
        self.live_log = False  # the Log holds this session's output, not a stored run's rounds
        self.refresh()

    def set_hardware(self, device: str) -> None:
        """Offer the sizes that suit the hardware found, unless the person changed them."""
        cpu, here = defaults_for("cpu"), defaults_for(device)
        for key, box in self.fields.items():
            if isinstance(box, (QSpinBox, QDoubleSpinBox)) and box.value() == getattr(cpu, key):
                box.setValue(getattr(here, key))

    # -- workspace state
    def _show_gate(self, name: str) -> None:
        """What the chosen reward model knows of the user's taste, in plain words; when it may be
        no better than chance, how many more ratings would likely help. Starting stays allowed."""
        if not name:
            self.gate.setVisible(False)
            return
        with self.studio.store() as store:
            judged = verdict(find_reward_model(store, name))
        more = f" About {judged['more_ratings']} more ratings would likely do." if judged["more_ratings"] else ""
        sure = "" if judged["better_than_chance"] else "<b>It may not know your taste yet.</b> "
        self.gate.setText(f"{sure}{judged['message']} {judged['advice']}{more}")
        self.gate.setVisible(True)

    def refresh(self) -> None:
        with self.studio.store() as store:
            models = [r["name"] for r in base_models(store)]
            rewards = reward_model_names(store)
            sets = training_sets(store)
            runs = list_runs(store)
        for combo, items in ((self.model, models), (self.reward, rewards), (self.prompt_set, sets)):
            keep = combo.currentText()
            combo.clear()
            combo.addItems(items)
            if keep in items:
                combo.setCurrentText(keep)
        self.resume_runs.clear()
        for r in runs:
            if r["status"] != "finished":
                self.resume_runs.addItem(f"{r['name']} ({r['status']})", r["name"])
        running = self.job is not None and self.job.running
        stopped = self.resume_runs.count() > 0
        for w in (self.resume_label, self.resume_runs, self.resume_button):
            w.setVisible(stopped)
        self.resume_button.setEnabled(stopped and not running)
        ready = bool(models and rewards and sets)
        self.start_button.setEnabled(ready and not running)
        self.start_button.setToolTip("" if ready else "Needs a model, a reward model and training prompts first.")
        self._read_measured(self.model.currentText())
        names = [r["name"] for r in runs]
        if not running and self.run_name is None and runs:
            self.show_run(self.shown if self.shown in names else names[-1])  # else the newest: oldest first
        elif not running and self.shown is not None and self.shown not in names:
            self._show_nothing()  # the run shown was deleted
        self._fill_runs(runs)

    def _fill_runs(self, runs: list[dict]) -> None:
        """The runs table, the run shown selected in it (without showing it again)."""
        table = self.runs_table
        table.blockSignals(True)
        fill_table(table, [(r["name"], r["status"], f"{r['done'] or 0} of {r['iterations'] or '?'}",
                            f"{r['reward']} v{r['reward_version']}" if r["reward"] else "(deleted)",
                            when(r["created_at"])) for r in runs])
        table.clearSelection()
        row = next((i for i, r in enumerate(runs) if r["name"] == self.shown), -1)
        if row >= 0:
            table.selectRow(row)
        table.blockSignals(False)
        fit_rows(table, 5)
        self.runs_box.setVisible(bool(runs))

    def _run_chosen(self) -> None:
        """A run chosen in the table is shown, unless one is training here (its charts stay)."""
        rows = self.runs_table.selectionModel().selectedRows()
        running = self.job is not None and self.job.running
        if rows and not running:
            self.show_run(self.runs_table.item(rows[0].row(), 0).text())

    def _run_renamed(self, old: str, new: str) -> None:
        if self.shown == old:
            self.shown = new
        if self.run_name == old:
            self.run_name = new

    def _show_nothing(self) -> None:
        for chart in (self.reward_chart, self.kl_chart, self.diversity_chart):
            chart.clear()
        self.shown = None
        self.phase.setText("Not running.")
        self.example.clear()
        self.warning.hide()
        self.verdict.hide()
        if not self.live_log:
            self.log.clear()

    def _read_measured(self, model: str) -> None:
        """The rounds measured for ``model`` here (a small read), for the estimate."""
        if not model:
            self.measured = []
        else:
            with self.studio.store() as store:
                self.measured = measured_rounds(store, model)
        self._show_estimate()

    def _show_estimate(self) -> None:
        """How long a run with the settings shown will take on this computer; hidden while one
        runs (the progress line has its own estimate then) or when none can start."""
        running = self.job is not None and self.job.running
        config = {name: box.value() for name, box in self.fields.items() if isinstance(box, (QSpinBox, QDoubleSpinBox))}
        self.estimate.setText(estimate_sentence(config, self.measured))
        self.estimate.setVisible(not running and self.start_button.isEnabled())

    def show_run(self, name: str) -> None:
        """Draw a stored run's iterations (the charts of a run that ended or was interrupted);
        its Log shows each stored round's figures, unless this session's output is there."""
        with self.studio.store() as store:
            row = find_run(store, name)
            its = iterations(store, row["id"]) if row else []
        self.shown = name if row is not None else None
        for chart in (self.reward_chart, self.kl_chart, self.diversity_chart):
            chart.clear()
        for it in its:
            self._plot(it["iteration"], it)
        if row is not None and self.job is None:
            done = max((it["iteration"] for it in its), default=0)
            config = json.loads(row["config"])
            total = config.get("iterations")
            self.phase.setText(f"Run “{name}”: {row['status']}, {done} of {total} iterations done.")
            last = its[-1] if its else {}
            if last.get("example"):
                self.example.setPlainText(f"Prompt: {last['example']['prompt']}\n\n{last['example']['completion']}")
            if last.get("warnings"):
                self._warn(last["warnings"][-1])
            self._show_verdict(its if row["status"] == "finished" else [], config)
            if not self.live_log:
                self.log.setPlainText("\n".join(
                    [f"Run “{name}” as stored, round by round:"] + [iteration_line(it["iteration"], total, it) for it in its]
                    + ["", "Runs started from this app also keep their full log in studio.log, in the workspace folder."]))

    def _show_verdict(self, its: list[dict], config: dict) -> None:
        """What a finished run changed, in plain words (hidden for a run that did not finish)."""
        said = [time_limit_sentence(config, its), run_verdict(its, config.get("prompts_per_iteration"))] if its else []
        self.verdict.setText(" ".join(s for s in said if s))
        self.verdict.setVisible(bool(its))

    def offer_resume(self) -> None:
        """At start-up: a run that was interrupted (the app or the computer stopped) is offered."""
        with self.studio.store() as store:
            stopped = [r for r in list_runs(store) if r["status"] in ("running", "failed", "cancelled")]
        if not stopped or self.studio.busy:
            return
        run = stopped[-1]  # the most recent interruption
        box = QMessageBox(QMessageBox.Question, "SuperHF Studio",
                          f"Training run “{run['name']}” stopped before it finished ({run['status']}). Resume it "
                          "from its last finished iteration?", QMessageBox.Yes | QMessageBox.No, self)
        box.setObjectName("resume-offer")
        box.accepted.connect(lambda: (self.studio.navigate.emit("train"), self.resume(run["name"])))
        box.open()

    # -- running
    def _args(self) -> list[str]:
        args = ["train", "--model", self.model.currentText(), "--reward", self.reward.currentText(),
                "--prompts", self.prompt_set.currentText(), *setting_args(SuperHFConfig, self.fields)]
        if self.name.text().strip():
            args += ["--name", self.name.text().strip()]
        return args

    def start_training(self) -> None:
        for chart in (self.reward_chart, self.kl_chart, self.diversity_chart):
            chart.clear()
        if not self.live_log:  # a stored run's rounds give way to the new run's output (a resumed run keeps them)
            self.log.clear()
        self._launch("Training", self._args())

    def resume(self, name) -> None:
        if name:
            self.show_run(name)
            self._launch(f"Resuming {name}", ["resume", name])

    def _launch(self, title: str, args: list[str]) -> None:
        job = self.studio.run_command(title, args)
        if job is None:
            show_error(self, f"“{self.studio.job.title}” is still running. Wait for it or cancel it first.")
            return
        self.job, self.run_name, self.started_at = job, None, time.monotonic()
        self.warning.hide()
        self.verdict.hide()
        self.live_log = True
        self.log.appendPlainText(f"— {title} —")
        job.progress.connect(self._progress)
        job.log_line.connect(self._log_line)
        job.succeeded.connect(self._finished)
        job.cancelled.connect(lambda: self._ended("Cancelled. Finished iterations are stored; resume to go on."))
        job.failed.connect(lambda message, details: (self._ended(message), show_error(self, message, details)))
        self.cancel_button.setEnabled(True)
        self.phase.setText("Starting: loading the model…")
        self.progress.setRange(0, 0)
        self.progress.show()
        self.refresh()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.phase.setText("Stopping…")

    def _log_line(self, line: str) -> None:
        self.log.appendPlainText(line)
        if line.startswith("warning: "):
            self._warn(line[len("warning: "):])

    def _warn(self, text: str) -> None:
        self.warning.setText(f"⚠ {esc(text)}")
        self.warning.show()

    def _progress(self, event) -> None:
        run = started_run(event)  # the engine names the run it trains before it begins
        if run is not None:
            self.run_name = self.shown = run["run"]
            return
        if event.detail.get("notice"):
            self.log.appendPlainText(f"note: {event.detail['notice']}")
        if event.stage == "iteration":
            self._iteration = (event.done, event.total)
            if event.detail.get("metrics"):
                m = event.detail["metrics"]
                self._plot(event.done, m)
                if m.get("example"):
                    self.example.setPlainText(f"Prompt: {m['example']['prompt']}\n\n{m['example']['completion']}")
                for w in m.get("warnings", []):
                    self._warn(w)
        done, total = getattr(self, "_iteration", (0, 0))
        if total:
            part = (event.done / event.total if event.stage in WITHIN and event.total else
                    0.95 if event.stage in ("evaluating", "saving checkpoint") else 0.0)
            fraction = min(1.0, (done + part) / total)
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * fraction))
            elapsed = time.monotonic() - self.started_at
            left = elapsed / fraction * (1 - fraction) if fraction > 0.02 else None
            eta = f", about {_duration(left)} left" if left is not None else ""
            phase = PHASES.get(event.stage, event.stage)
            step = f" {event.done} / {event.total}" if event.stage in WITHIN else ""
            self.phase.setText(f"Iteration {min(done + 1, total)} of {total}: {phase}{step}{eta}")

    def _plot(self, iteration: int, metrics: dict) -> None:
        if iteration > 0 or metrics.get("eval_reward") is not None:
            self.reward_chart.add(iteration, metrics)
        if iteration > 0:
            self.kl_chart.add(iteration, metrics)
            self.diversity_chart.add(iteration, metrics)

    def _finished(self, result: dict) -> None:
        its = result.get("iterations", [])
        self._ended(f"Finished: {len(its) - 1} iterations stored.")
        with self.studio.store() as store:
            row = find_run(store, result.get("run", ""))
        self._show_verdict(its, json.loads(row["config"]) if row else {})

    def _ended(self, text: str) -> None:
        self.phase.setText(text)
        self.progress.hide()  # no bar beside "finished" or "cancelled": the line says it
        self.cancel_button.setEnabled(False)
        self.job = None
        self._iteration = (0, 0)
        self.refresh()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

