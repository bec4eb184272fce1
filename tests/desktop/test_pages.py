"""Each page on its own: what it shows, and the plain-words dialog a person's mistake gets
(the details in the workspace's log, nothing stored lost)."""

from gui_helpers import close_dialogs, dialogs, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from core.store.database import open_store


def test_every_page_opens_and_the_window_has_its_menus(qtbot, window):
    for key in window.pages:
        window.show_page(key)
        assert window.current_key() == key and window.stack.currentWidget() is window.pages[key]
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus == ["&File", "&Go", "&Help"]
    assert window.memory_label.text().startswith("Memory ")
    qtbot.waitUntil(lambda: window.device_label.text().startswith("CPU"), timeout=30000)


def test_a_bad_model_folder_gets_a_dialog_and_the_log_the_details(qtbot, window, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    window.show_page("model")
    window.pages["model"].import_path(str(empty))
    wait_idle(qtbot, window.studio)
    shown = dialogs()
    assert shown and "config.json" in shown[0].text()
    assert "config.json" in (window.studio.home / "studio.log").read_text()
    assert window.pages["model"].table.rowCount() == 0
    close_dialogs()


def test_a_malformed_prompt_file_stores_nothing(qtbot, window, tmp_path):
    bad = tmp_path / "prompts.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": \n')
    window.show_page("prompts")
    window.pages["prompts"]._import(bad)
    wait_idle(qtbot, window.studio)
    assert dialogs() and "line 2" in dialogs()[0].text()
    with open_store(window.studio.home) as store:
        assert store.count("prompts") == 0
    close_dialogs()


def test_typed_prompts_are_added_and_home_counts_them(qtbot, window, tiny_model_dir):
    page = window.pages["prompts"]
    window.show_page("prompts")
    page.typed.setPlainText("What is tea?\n\nWhy is the sky blue?\n")
    page.set_name.setText("mine")
    qtbot.mouseClick(page.add_button, Qt.LeftButton)
    assert page.table.item(0, 0).text() == "mine"
    assert page.view.set_name == "mine"  # the only set's prompts are shown without a click
    qtbot.mouseClick(page.add_button, Qt.LeftButton)  # nothing typed: a dialog says so
    assert dialogs() and "no prompts" in dialogs()[0].text()
    close_dialogs()
    window.show_page("home")
    state = window.pages["home"].state.text()
    assert "2 for training, 0 for evaluation" in state  # two typed prompts are both kept for training
    label = page.findChild(QLabel, "set-name-label")
    assert label.text() == "Set name:" and label.buddy() is page.set_name


def test_one_job_at_a_time_and_cancel_from_the_status_bar(qtbot, window, tiny_model_dir):
    window.pages["model"].import_path(str(tiny_model_dir))
    wait_idle(qtbot, window.studio)
    window.pages["prompts"].typed.setPlainText("\n".join(f"Question {i}?" for i in range(40)))
    qtbot.mouseClick(window.pages["prompts"].add_button, Qt.LeftButton)
    window.show_page("reward")
    qtbot.mouseClick(window.pages["reward"].train_button, Qt.LeftButton)  # no ratings: it will fail
    wait_idle(qtbot, window.studio)
    assert dialogs() and "rating" in dialogs()[0].text().lower()
    close_dialogs()

    def slow(store, on_progress, cancel):
        import time

        for i in range(600):
            cancel.check()
            on_progress(type("P", (), {"stage": "waiting", "done": i, "total": 600, "detail": {}})())
            time.sleep(0.01)

    first = window.studio.run_in_thread("Slow job", slow)
    assert first is not None and window.cancel_button.isVisible()
    assert window.studio.run_in_thread("Second job", slow) is None  # one at a time
    qtbot.waitUntil(lambda: "Slow job: waiting" in window.job_label.text(), timeout=5000)
    qtbot.mouseClick(window.cancel_button, Qt.LeftButton)
    wait_idle(qtbot, window.studio, 5000)
    assert window.job_label.text() == "Ready" and not window.cancel_button.isVisible()


def test_in_the_bundle_the_engine_is_the_same_executable_with_a_clean_library_path(qtbot, monkeypatch, home):
    import sys

    from desktop.jobs import ProcessJob

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/bundle/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    job = ProcessJob("Training", str(home), ["train", "--iterations", "1"])
    assert job.proc.program() == sys.executable
    assert job.proc.arguments()[:3] == ["--superhf-cli", "--home", str(home)]
    assert job.proc.processEnvironment().value("LD_LIBRARY_PATH") == "/usr/local/lib"
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    job = ProcessJob("Training", str(home), ["device"])
    assert not job.proc.processEnvironment().contains("LD_LIBRARY_PATH")
