"""The whole journey through the widgets, on the tiny model: import a model, add prompts,
rate pairs by keyboard, train the reward model, run one SuperHF iteration in the child
process, compare blind, export, and load the export in plain transformers."""

from gui_helpers import close_dialogs, dialogs, small_run, wait_idle
from PySide6.QtCore import Qt
from transformers import AutoModelForCausalLM

from core.store.database import open_store

TYPED = "\n".join(f"Tell me about thing {i}." for i in range(10))


def test_from_an_empty_workspace_to_an_exported_model(qtbot, window, tiny_model_dir, tmp_path):
    studio = window.studio
    home_page = window.pages["home"]
    assert "Choose a model" in home_page.next_text.text()
    qtbot.mouseClick(home_page.next_button, Qt.LeftButton)
    assert window.current_key() == "model"

    # 1. Model
    window.pages["model"].import_path(str(tiny_model_dir))  # what the folder dialog calls
    wait_idle(qtbot, studio)
    assert window.pages["model"].table.rowCount() == 1 and not dialogs()

    # 2. Prompts, typed
    window.show_page("prompts")
    prompts = window.pages["prompts"]
    prompts.typed.setPlainText(TYPED)
    qtbot.mouseClick(prompts.add_button, Qt.LeftButton)
    assert prompts.table.rowCount() == 1 and prompts.typed.toPlainText() == ""

    # 3. Rate by keyboard: answers are prepared in the background first
    window.show_page("rate")
    rate = window.pages["rate"]
    qtbot.waitUntil(lambda: rate.current is not None, timeout=60000)
    rate.setFocus()
    keys = [Qt.Key_Left, Qt.Key_Right] * 4 + [Qt.Key_T, Qt.Key_S]
    for key in keys:
        qtbot.waitUntil(lambda: rate.current is not None, timeout=60000)
        shown = rate.current["id"]
        qtbot.keyClick(rate, key)
        qtbot.waitUntil(lambda: rate.current is None or rate.current["id"] != shown, timeout=5000)
    qtbot.keyClick(rate, Qt.Key_Backspace)  # undo the skip
    assert "Undone" in rate.feedback.text()
    with open_store(studio.home) as store:
        outcomes = [r["outcome"] for r in store.all("SELECT outcome FROM ratings ORDER BY id")]
    assert outcomes == ["chosen"] * 8 + ["tie"]
    if rate.preparing is not None:
        rate.preparing.wait()

    # 4. Reward model
    window.show_page("reward")
    reward = window.pages["reward"]
    qtbot.mouseClick(reward.train_button, Qt.LeftButton)
    wait_idle(qtbot, studio)
    assert not dialogs(), dialogs()[0].text()
    assert "It disagrees with" in reward.disagree.toPlainText()
    assert "Trained reward v1" in reward.result.text() and reward.table.rowCount() == 1

    # 5. Train: one small iteration in the child process
    window.show_page("train")
    train = window.pages["train"]
    small_run(train, 1)
    qtbot.mouseClick(train.start_button, Qt.LeftButton)
    assert studio.busy and not train.start_button.isEnabled()
    wait_idle(qtbot, studio, 180000)
    assert train.phase.text().startswith("Finished"), train.log.toPlainText()
    assert len(train.kl_chart.values("kl")) == 1 and train.reward_chart.values("reward_mean")
    assert train.example.toPlainText().startswith("Prompt: ")

    # 6. Compare, blind
    window.show_page("compare")
    compare = window.pages["compare"]
    assert compare.runs.count() == 1
    qtbot.mouseClick(compare.prepare_button, Qt.LeftButton)
    wait_idle(qtbot, studio)
    assert compare.current is not None
    compare.setFocus()
    qtbot.keyClick(compare, Qt.Key_Left)
    assert " of 1 comparisons" in compare.result.text() and "No clear difference yet" in compare.result.text()

    # 7. Export
    window.show_page("export")
    export = window.pages["export"]
    out = tmp_path / "exported"
    export.folder.setText(str(out))
    qtbot.mouseClick(export.export_button, Qt.LeftButton)
    wait_idle(qtbot, studio)
    assert "model.safetensors" in export.summary.toPlainText()
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size == 1024

    window.show_page("home")
    assert "exported" in window.pages["home"].next_text.text()
    assert not dialogs()
    close_dialogs()
