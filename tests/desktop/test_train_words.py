"""The Train and Reward pages in plain words: how long a run will take before it starts, what a
finished run changed, a past run's Log, no empty widgets (a progress bar beside "finished", a
"Stopped runs" box with nothing to resume), and the reward model's agreement by version."""

import json

from gui_helpers import small_run, wait_idle
from PySide6.QtCore import Qt

from core.journey.estimate import estimate_sentence
from core.journey.run_verdict import run_verdict
from core.store.database import open_store
from core.store.models import insert_model
from core.store.prompts import add_prompts
from core.store.reward_models import insert_reward_model
from core.store.runs import create_run, iterations, measured_rounds, record_iteration, set_status
from core.superhf.config import SuperHFConfig

ROUND = {"reward_mean": 0.1, "reward_std": 0.2, "kept_reward_mean": 0.4, "kl": 0.01, "ce": 2.0, "distinct_2": 0.8,
         "samples": 256, "mean_length": 40.0, "cut_off_share": 0.5, "sample_tokens_per_second": 512.0,
         "seconds": 60.0, "warnings": []}


def reward_row(version: int, accuracy, low=None, high=None) -> dict:
    data = {"pairs": 40, "accuracy_low": low, "accuracy_high": high, "accuracy_pairs": 40 if accuracy else 0}
    return {"name": "reward", "version": version, "path": "x", "data": json.dumps(data), "accuracy": accuracy,
            "created_at": f"2024-01-0{version}"}


def hand_made_workspace(home, runs=("finished",), asked: int = 2) -> None:
    """A model, prompts and reward models as rows (no weights), and runs with hand-made rounds:
    each run's first round, then a second with longer answers and a higher reward."""
    with open_store(home) as store:
        model = insert_model(store, {"name": "tiny", "kind": "folder", "source": "x", "path": "x",
                                     "created_at": "2024"})
        add_prompts(store, [("Say hi.", "train"), ("Say bye.", "eval")], "things")
        reward = insert_reward_model(store, reward_row(1, None))
        insert_reward_model(store, reward_row(2, 0.775, 0.625, 0.877))
        for i, status in enumerate(runs):
            run = create_run(store, name=f"run-{i}", model_id=model, reward_model_id=reward, prompt_set_id=None,
                             config=SuperHFConfig(iterations=asked).to_dict())
            record_iteration(store, run["id"], 0, {"eval_reward": -0.2}, None)
            record_iteration(store, run["id"], 1, {**ROUND, "elapsed_seconds": 80.0}, None)
            record_iteration(store, run["id"], 2, {**ROUND, "reward_mean": 0.9, "mean_length": 60.0,
                                                   "eval_reward": 0.5, "elapsed_seconds": 150.0}, None)
            set_status(store, run["id"], status)


def open_page(qtbot, home, page="train"):
    """The page alone on its workspace, shown: what a test sees of it is what it shows."""
    from desktop.pages.reward import RewardPage
    from desktop.pages.train import TrainPage
    from desktop.studio import Studio

    studio = Studio(home)
    shown = {"train": TrainPage, "reward": RewardPage}[page](studio)
    shown.studio_ = studio  # kept alive with the page
    qtbot.addWidget(shown)
    shown.show()
    return shown, shown


def test_before_any_run_the_page_says_nothing_was_measured_and_hides_what_is_empty(qtbot, home):
    hand_made_workspace(home, runs=())
    window, train = open_page(qtbot, home)
    assert train.start_button.isEnabled()
    assert train.estimate.isVisibleTo(window)
    assert train.estimate.text().startswith("No run of this model has been measured on this computer yet")
    for empty in (train.progress, train.verdict, train.resume_label, train.resume_runs, train.resume_button):
        assert not empty.isVisibleTo(window)
    window.studio.shutdown(20000)


def test_a_finished_run_shows_its_verdict_its_stored_log_and_an_estimate(qtbot, home):
    hand_made_workspace(home)
    window, train = open_page(qtbot, home)
    with open_store(home) as store:
        its = iterations(store, 1)
        rounds = measured_rounds(store, "tiny")
    assert train.phase.text() == "Run “run-0”: finished, 2 of 2 iterations done."
    assert not train.progress.isVisibleTo(window)  # no empty bar beside "finished"
    assert train.verdict.isVisibleTo(window) and train.verdict.text() == run_verdict(its, 16)
    assert "the reward model's score rose by 0.80" in train.verdict.text()
    log = train.log.toPlainText()
    assert "iteration 2/2: reward 0.900 (kept 0.400), eval 0.500" in log and "studio.log" in log
    assert not train.resume_button.isVisibleTo(window)  # the only run finished: nothing to resume
    # the estimate follows the settings shown: 2 rounds measured of 60 s each plus 10 s between
    text = train.estimate.text()
    assert text.startswith("This run will take about") and "from 2 rounds measured here" in text
    config = {name: box.value() for name, box in train.fields.items() if hasattr(box, "value")}
    assert config["minutes"] == 15  # the default time limit
    train.iterations.setValue(100)
    assert train.estimate.text() == estimate_sentence({**config, "iterations": 100}, rounds) != text
    assert "about 15 minutes on this computer, the time limit" in train.estimate.text()
    minutes = train.fields["minutes"]
    minutes.setValue(minutes.minimum())  # 0: no time limit
    assert minutes.text() == "no limit" and minutes.value() == 0
    assert "about 2 hours" in train.estimate.text()  # 100 rounds of about 70 s
    assert train._args()[train._args().index("--minutes") + 1] == "0.0"  # said to the engine, not left out
    window.studio.shutdown(20000)


def test_a_run_the_time_limit_ended_early_says_so_above_its_verdict(qtbot, home):
    hand_made_workspace(home, asked=5)  # 2 rounds of 5 done, then the 15-minute limit ended it
    window, train = open_page(qtbot, home)
    text = train.verdict.text()
    assert text.startswith("Stopped after 2 of 5 rounds: the next would have ended past the 15-minute limit.")
    assert "Minutes to train" in text and text.endswith("Try Compare to check with your own eyes.")
    window.studio.shutdown(20000)


def test_a_stopped_run_shows_the_resume_box_and_no_verdict(qtbot, home):
    hand_made_workspace(home, runs=("cancelled",))
    window, train = open_page(qtbot, home)
    for shown in (train.resume_label, train.resume_runs, train.resume_button):
        assert shown.isVisibleTo(window)
    assert train.resume_runs.currentData() == "run-0" and train.resume_button.isEnabled()
    assert not train.verdict.isVisibleTo(window)  # it did not finish: nothing to judge yet
    window.studio.shutdown(20000)


def test_the_reward_page_charts_agreement_by_version(qtbot, home):
    hand_made_workspace(home, runs=())
    window, reward = open_page(qtbot, home, "reward")
    assert reward.chart.isVisibleTo(window)
    assert [(x, round(y, 1)) for x, y in reward.chart.values(reward.chart.accuracy)] == [(2.0, 77.5)]
    assert [round(y, 1) for _, y in reward.chart.values(reward.chart.low)] == [62.5]
    assert "“reward”" in reward.chart.chart().title()
    window.studio.shutdown(20000)


def test_the_reward_chart_is_hidden_while_no_version_was_measured(qtbot, home):
    with open_store(home) as store:
        insert_reward_model(store, reward_row(1, None))
    window, reward = open_page(qtbot, home, "reward")
    assert not reward.chart.isVisibleTo(window)
    window.studio.shutdown(20000)


def test_after_a_live_run_the_verdict_shows_and_the_bar_goes(qtbot, ready_home):
    window, train = open_page(qtbot, ready_home)
    small_run(train, 2, "live")
    qtbot.mouseClick(train.start_button, Qt.LeftButton)
    assert train.progress.isVisibleTo(window) and not train.estimate.isVisibleTo(window)
    wait_idle(qtbot, window.studio)
    assert train.phase.text().startswith("Finished"), train.log.toPlainText()
    assert not train.progress.isVisibleTo(window)
    assert train.verdict.isVisibleTo(window) and train.verdict.text().endswith("Try Compare to check with your own eyes.")
    assert "— Training —" in train.log.toPlainText()  # this session's output, not the stored rounds
    assert "from 2 rounds measured here" in train.estimate.text()  # the run just made measured this computer
    window.studio.shutdown(20000)


def test_a_resumed_run_keeps_its_stored_rounds_above_the_new_output(qtbot, home):
    from PySide6.QtCore import QObject, Signal

    from core.protocol import run_event

    class Job(QObject):  # what the page connects to, without a child process
        progress, log_line, succeeded = Signal(object), Signal(str), Signal(object)
        cancelled, failed = Signal(), Signal(str, str)
        running = True

    hand_made_workspace(home, runs=("cancelled",))
    page, train = open_page(qtbot, home)
    started, job = [], Job()
    train.studio.run_command = lambda title, args: started.append(args) or job
    train.resume("run-0")
    assert started == [["resume", "run-0"]] and train.progress.isVisibleTo(page)
    job.progress.emit(run_event("run-0", 1))  # the engine names the run it trains
    job.log_line.emit("a line from the engine")
    log = train.log.toPlainText()
    assert log.index("iteration 2/2: reward 0.900") < log.index("— Resuming run-0 —") < log.index("a line from")
    job.running = False
    job.cancelled.emit()
    assert not train.progress.isVisibleTo(page) and train.phase.text().startswith("Cancelled")
