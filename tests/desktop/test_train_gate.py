"""The gate before training: the Train page says in plain words whether the chosen reward model
knows the user's taste, and how many more ratings would help when it may not; starting stays
allowed either way."""


def _train_page(qtbot, home):
    from desktop.window import MainWindow

    window = MainWindow(home)
    qtbot.addWidget(window)
    window.show()
    window.show_page("train")
    return window, window.pages["train"]


def test_the_train_page_shows_what_the_reward_model_knows(qtbot, ready_home):
    from core.reward.verdict import verdict
    from core.store.database import open_store
    from core.store.reward_models import find_reward_model

    window, train = _train_page(qtbot, ready_home)
    with open_store(ready_home) as store:
        expected = verdict(find_reward_model(store, "reward"))
    assert train.reward.currentText() == "reward"
    assert train.gate.isVisibleTo(window) and expected["message"] in train.gate.text()
    assert train.start_button.isEnabled()
    window.studio.shutdown(20000)


def test_a_reward_model_at_chance_gets_a_warning_with_how_many_more_ratings(qtbot, ready_home, monkeypatch):
    import desktop.pages.train as page

    at_chance = {"better_than_chance": False, "more_ratings": 60,
                 "message": "Agrees with you on 11 of 20 comparisons it never saw (about 34–72%).",
                 "advice": "Rate more answers, then train it again. You can go on."}
    monkeypatch.setattr(page, "verdict", lambda row: at_chance)
    window, train = _train_page(qtbot, ready_home)
    text = train.gate.text()
    assert "may not know your taste yet" in text and "About 60 more ratings" in text and "You can go on" in text
    assert train.start_button.isEnabled()  # the user may still go on
    window.studio.shutdown(20000)
