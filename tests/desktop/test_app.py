"""The desktop placeholder window opens on the workspace and shows what it holds."""

from desktop.app import MainWindow


def test_the_window_shows_the_workspace(qtbot, home, store, tiny_model):
    window = MainWindow(home)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    text = window.summary.text()
    assert str(home.resolve()) in text
    assert "1 models" in text and "0 ratings" in text
    assert window.windowTitle() == "SuperHF Studio"
