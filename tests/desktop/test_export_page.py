"""The Export page's format choice reaches 'superhf export' as its flags (which the real
command line parses to the format and quantisation), a GGUF choice takes the adapter-only
option away, and what a GGUF export wrote is listed with how to run it."""

from PySide6.QtCore import Qt

from core.cli.main import build_parser
from core.journey.export import export
from core.store.database import open_store


def test_the_format_choice_reaches_the_export_command(qtbot, window, tmp_path, monkeypatch):
    page = window.pages["export"]
    window.show_page("export")
    page.source.addItem("r")  # a run's name, as the page lists runs with a finished iteration
    page.source.setCurrentText("r")
    page.export_button.setEnabled(True)
    started = []
    monkeypatch.setattr(page, "command", lambda title, args, on_done=None: started.append(args))
    expected = {0: ("safetensors", "f16"), 1: ("gguf", "f16"), 2: ("gguf", "q8_0")}
    for index, (fmt, quant) in expected.items():
        page.format.setCurrentIndex(index)
        page.folder.setText(str(tmp_path / f"out-{index}"))
        qtbot.mouseClick(page.export_button, Qt.LeftButton)
        args = build_parser().parse_args(started[-1])
        assert (args.source, args.outdir, args.format, args.quant) == ("r", str(tmp_path / f"out-{index}"), fmt, quant)
        assert not args.adapter_only
        assert page.adapter.isEnabled() == (fmt == "safetensors")

    page.format.setCurrentIndex(0)
    page.adapter.setChecked(True)
    page.format.setCurrentIndex(2)  # GGUF holds the whole model: the adapter choice goes
    assert page.merged.isChecked() and not page.adapter.isEnabled()
    qtbot.mouseClick(page.export_button, Qt.LeftButton)
    assert "--adapter-only" not in started[-1]


def test_a_gguf_export_is_listed_with_how_to_run_it(qtbot, window, tiny_model_dir, tmp_path):
    from core.models.importing import import_model

    with open_store(window.studio.home) as store:
        import_model(store, tiny_model_dir, name="tiny")
        result = export(store, "tiny", tmp_path / "gg", fmt="gguf", quant="q8_0")
    page = window.pages["export"]
    page._done(result)  # what the finished command hands back
    shown = page.summary.toPlainText()
    assert "tiny-q8_0.gguf" in shown and "Modelfile" in shown and "ollama create" in shown
    assert "from_pretrained" not in shown
