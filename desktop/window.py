"""The main window: a page per step of the journey, chosen in the sidebar; a status bar with
the device, the memory and the running job; the menus desktop users expect."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from core import protocol
from desktop.jobs import Job
from desktop.pages import PAGES
from desktop.studio import Studio


class MainWindow(QMainWindow):
    def __init__(self, home: Optional[str | Path] = None):
        super().__init__()
        self.studio = Studio(home, self)
        self.setWindowTitle("SuperHF Studio")
        self.resize(1180, 760)
        self.setMinimumSize(900, 600)

        self.nav = QListWidget(objectName="nav")
        self.nav.setFixedWidth(190)
        self.stack = QStackedWidget()
        self.pages = {}
        for key, title, cls in PAGES:
            page = cls(self.studio)
            self.pages[key] = page
            self.stack.addWidget(page)
            item = QListWidgetItem(title)
            item.setData(Qt.UserRole, key)
            self.nav.addItem(item)
        self.nav.currentRowChanged.connect(self._show_row)
        self.studio.navigate.connect(self.show_page)
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(body)
        self._status_bar()
        self._menus()
        self.studio.job_started.connect(self._job_started)
        self.studio.job_ended.connect(self._job_ended)
        self.nav.setCurrentRow(0)
        QTimer.singleShot(0, self._after_start)

    # -- navigation
    def show_page(self, key: str) -> None:
        for i in range(self.nav.count()):
            if self.nav.item(i).data(Qt.UserRole) == key:
                self.nav.setCurrentRow(i)
                return

    def _show_row(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        page = self.stack.currentWidget()
        if hasattr(page, "refresh"):
            page.refresh()

    def current_key(self) -> str:
        return self.nav.currentItem().data(Qt.UserRole)

    # -- status bar
    def _status_bar(self) -> None:
        bar = self.statusBar()
        self.job_label = QLabel("Ready", objectName="job-label")
        self.job_progress = QProgressBar(objectName="job-progress", maximumWidth=220, textVisible=True)
        self.job_progress.hide()
        self.cancel_button = QPushButton("Cancel", objectName="cancel-job")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(lambda: self.studio.job and self.studio.job.cancel())
        self.device_label = QLabel("", objectName="device-label")
        self.memory_label = QLabel("", objectName="memory-label")
        bar.addWidget(self.job_label, 1)
        bar.addWidget(self.job_progress)
        bar.addWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.memory_label)
        self._memory_timer = QTimer(self, interval=3000)
        self._memory_timer.timeout.connect(self._update_memory)
        self._memory_timer.start()

    def _after_start(self) -> None:
        self.device_label.setText("Looking for a GPU…")
        probe = self.studio.run_command("Looking for a GPU", ["device"], background=True)  # torch: not here
        probe.succeeded.connect(lambda found: self._device_found(found["device"], found["name"]))
        probe.failed.connect(lambda *_: self.device_label.setText("Device unknown"))
        self._update_memory()
        self.pages["train"].offer_resume()

    def _device_found(self, device: str, words: str) -> None:
        self.device_label.setText(words)
        self.pages["train"].set_hardware(device)

    def _update_memory(self) -> None:
        import psutil

        mem = psutil.virtual_memory()
        self.memory_label.setText(f"Memory {mem.used / 2**30:.1f} / {mem.total / 2**30:.0f} GiB")

    def _job_started(self, job: Job) -> None:
        self.job_label.setText(f"{job.title}…")
        self.job_progress.setRange(0, 0)
        self.job_progress.show()
        self.cancel_button.show()
        job.progress.connect(self._job_progress)

    def _job_progress(self, event) -> None:
        if protocol.started_run(event):
            return  # which run started: the Train page takes it; nothing to count here
        if event.total:
            self.job_progress.setRange(0, event.total)
            self.job_progress.setValue(min(event.done, event.total))
        self.job_label.setText(f"{self.studio.job.title if self.studio.job else ''}: {event.stage} "
                               f"{event.done} / {event.total}")

    def _job_ended(self, _job: Job) -> None:
        self.job_label.setText("Ready")
        self.job_progress.hide()
        self.cancel_button.hide()

    # -- menus
    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (("&New workspace…", QKeySequence.New, self.new_workspace),
                                     ("&Open workspace…", QKeySequence.Open, self.open_workspace),
                                     ("&Quit", QKeySequence.Quit, self.close)):
            action = QAction(text, self, shortcut=shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        go = self.menuBar().addMenu("&Go")
        for i, (key, title, _) in enumerate(PAGES):
            action = QAction(title, self, shortcut=QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, k=key: self.show_page(k))
            go.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About SuperHF Studio", self)
        about.triggered.connect(self.about)
        help_menu.addAction(about)

    def new_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new workspace")
        if folder:
            self.switch_workspace(folder)

    def open_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a workspace folder")
        if folder:
            self.switch_workspace(folder)

    def switch_workspace(self, folder: str) -> None:
        if self.studio.busy:
            QMessageBox.information(self, "SuperHF Studio", "A job is running. Cancel it or wait for it to end "
                                    "before switching workspaces.")
            return
        self.studio.open(folder)
        self.setWindowTitle(f"SuperHF Studio — {Path(folder).name}")
        self.pages["train"].offer_resume()
        self._show_row(self.nav.currentRow())

    def about(self) -> None:
        QMessageBox.about(self, "About SuperHF Studio",
                          "<h3>SuperHF Studio</h3><p>Align a language model with your own judgement, on this "
                          "computer, offline.</p><p>SuperHF: Mukobi et al., 2023, <i>Supervised Iterative "
                          f"Learning from Human Feedback</i>.</p><p>Workspace: {self.studio.home}</p>")

    def closeEvent(self, event) -> None:
        job = self.studio.job
        if job is not None and job.running:
            answer = QMessageBox.question(self, "SuperHF Studio", f"“{job.title}” is still running. Stop it and "
                                          "quit? Finished work is stored; a run can be resumed later.")
            if answer != QMessageBox.Yes:
                event.ignore()
                return
        self.studio.shutdown()
        event.accept()
