"""Training in the child process: cancel, a crash of the engine (the child killed), and a
workspace reopened with an interrupted run that is offered for resuming."""

import os
import signal

from gui_helpers import close_dialogs, dialogs, small_run, wait_idle
from PySide6.QtCore import Qt

from core.store.runs import get_run, iterations
from core.store.database import open_store


def start_long_run(qtbot, window, name: str):
    window.show_page("train")
    train = window.pages["train"]
    # the most the page allows: on the tiny model an iteration takes ~50 ms, so a shorter run
    # can end between the first progress line the window shows and the click on Stop
    small_run(train, 1000, name)
    qtbot.mouseClick(train.start_button, Qt.LeftButton)
    job = window.studio.job
    assert job is not None and job.running
    # the first iteration stored: the child is deep in its work
    qtbot.waitUntil(lambda: len(train.kl_chart.values("kl")) >= 1, timeout=120000)
    return train, job


def test_cancel_stops_the_run_and_keeps_its_iterations(qtbot, ready_home):
    from desktop.window import MainWindow

    window = MainWindow(ready_home)
    qtbot.addWidget(window)
    window.show()
    # As when the app is started in the background from a shell: SIGINT ignored, and the
    # engine's process inherits that. Stop must still stop it cleanly, not by a kill.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        train, job = start_long_run(qtbot, window, "long")
    finally:
        signal.signal(signal.SIGINT, previous)
    qtbot.mouseClick(train.cancel_button, Qt.LeftButton)
    wait_idle(qtbot, window.studio, 30000)
    assert train.phase.text().startswith("Cancelled")
    with open_store(ready_home) as store:
        run = get_run(store, "long")
        assert run["status"] == "cancelled"
        assert len(iterations(store, run["id"])) >= 2  # the base evaluation and at least one iteration
    assert train.resume_runs.findData("long") >= 0 and train.resume_button.isEnabled()
    assert not dialogs()


def test_an_engine_crash_leaves_the_window_and_the_store_intact(qtbot, ready_home):
    from desktop.window import MainWindow

    window = MainWindow(ready_home)
    qtbot.addWidget(window)
    window.show()
    with open_store(ready_home) as store:
        ratings_before = store.count("ratings")
    train, job = start_long_run(qtbot, window, "crashy")
    os.kill(job.proc.processId(), signal.SIGKILL)  # as an out-of-memory kill would
    wait_idle(qtbot, window.studio, 30000)
    shown = dialogs()
    assert shown and "stopped unexpectedly" in shown[0].text()
    assert window.isVisible() and "resume" in train.phase.text()
    with open_store(ready_home) as store:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.count("ratings") == ratings_before
        assert get_run(store, "crashy")["status"] == "running"  # it never got to say otherwise
    close_dialogs()

    # Reopening the workspace offers to resume the interrupted run; accepting resumes it.
    again = MainWindow(ready_home)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: bool(dialogs("resume-offer")), timeout=5000)
    offer = dialogs("resume-offer")[0]
    assert "crashy" in offer.text()
    offer.accept()
    assert again.current_key() == "train" and again.studio.job is not None
    again.studio.job.cancel()
    wait_idle(qtbot, again.studio, 60000)
