"""The desktop half of ``superhf bench gui`` (run as ``python -m desktop.bench_gui HOME T0``):
the time from the process start to a window on screen, then the longest stall of the
event loop while a real training job runs and the person moves between pages. A timer due
every 10 ms measures its own lateness; the figures go to stdout as one JSON line."""

from __future__ import annotations

import json
import sys
import time

TICK_MS = 10


def main(home: str, t0: float) -> dict:
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    figures: dict = {}

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Paint and "launch_seconds" not in figures:
                figures["launch_seconds"] = round(time.time() - t0, 2)
            return False

    window = MainWindow(home)
    watcher = FirstPaint()
    window.installEventFilter(watcher)
    window.show()
    while "launch_seconds" not in figures:
        app.processEvents()
    lateness: list[float] = []
    worst: list[tuple[float, float, str]] = []  # (ms late, seconds into the job, page shown)
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        late = max(0.0, (now - last[0]) * 1000 - TICK_MS)
        lateness.append(late)
        if late > 50:
            worst.append((round(late, 1), round(now - started, 2), window.current_key()))
        last[0] = now

    timer = QTimer(interval=TICK_MS)
    timer.timeout.connect(tick)
    train = window.pages["train"]
    window.show_page("train")
    train.iterations.setValue(1)
    train.prompts.setValue(4)
    train.superbatch.setValue(4)
    started = time.perf_counter()
    train.start_training()
    if window.studio.job is None:
        raise SystemExit("the training job did not start")
    keys = [k for k, _, _ in __import__("desktop.pages", fromlist=["PAGES"]).PAGES]
    switch = QTimer(interval=400)  # a person looking around while the job runs
    switch.timeout.connect(lambda: window.show_page(keys[int(time.perf_counter() * 2.5) % len(keys)]))
    last[0] = time.perf_counter()
    timer.start()
    switch.start()
    while window.studio.busy:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    switch.stop()
    ordered = sorted(lateness)
    figures.update(job_seconds=round(time.perf_counter() - started, 1), ticks=len(lateness),
                   max_stall_ms=round(ordered[-1], 1) if ordered else None,
                   p99_stall_ms=round(ordered[int(0.99 * (len(ordered) - 1))], 1) if ordered else None,
                   job_outcome=train.phase.text(), stalls_over_50_ms=sorted(worst, reverse=True)[:10])
    window.close()
    return figures


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], float(sys.argv[2]))))
