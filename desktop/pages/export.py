"""Export: the tuned model as a Hugging Face folder that plain transformers loads."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTextBrowser,
)

from core.store.runs import checkpointed_runs
from desktop.pages.base import Page, esc


class ExportPage(Page):
    title = "7  Export"
    purpose = ("Write the tuned model to a folder: model.safetensors, its configuration, tokenizer and a model "
               "card recording where it came from. Any program using Hugging Face transformers can load it.")

    def __init__(self, studio):
        super().__init__(studio)
        form = QFormLayout()
        self.source = QComboBox(objectName="export-source")
        form.addRow("Run to export", self.source)
        row = QHBoxLayout()
        self.folder = QLineEdit(objectName="export-folder", placeholderText="choose a new or empty folder")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.browse)
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.merged = QRadioButton("The whole model, ready to use (LoRA merged)", checked=True)
        self.adapter = QRadioButton("Only the LoRA adapter (small; needs the base model to use)")
        form.addRow("What", self.merged)
        form.addRow("", self.adapter)
        self.layout_.addLayout(form)
        self.export_button = QPushButton("Export", objectName="export")
        self.export_button.setFixedWidth(160)
        self.export_button.clicked.connect(lambda: self.run_export())
        row = QHBoxLayout()
        row.addWidget(self.export_button)
        row.addStretch()
        self.layout_.addLayout(row)
        self.summary = QTextBrowser(objectName="export-summary")
        self.summary.setPlaceholderText("What was written will be listed here.")
        self.layout_.addWidget(self.summary, 1)
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            runs = checkpointed_runs(store)
        keep = self.source.currentText()
        self.source.clear()
        self.source.addItems(runs)
        if keep in runs:
            self.source.setCurrentText(keep)
        self.export_button.setEnabled(bool(runs))

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into which folder?")
        if folder:
            self.folder.setText(folder)

    def run_export(self, force: bool = False) -> None:
        source, folder = self.source.currentText(), self.folder.text().strip()
        if not folder:
            self.summary.setHtml("<p>Choose a folder first.</p>")
            return
        out = Path(folder).expanduser()
        if not force and out.is_dir() and any(out.iterdir()):
            box = QMessageBox(QMessageBox.Question, "SuperHF Studio", f"{out} is not empty. Replace what is in it?",
                              QMessageBox.Yes | QMessageBox.No, self)
            box.setObjectName("replace-folder")
            box.accepted.connect(lambda: self.run_export(force=True))
            box.open()
            return
        flags = (["--force"] if force else []) + (["--adapter-only"] if self.adapter.isChecked() else [])
        self.command(f"Exporting {source}", ["export", source, str(out), *flags], self._done)

    def _done(self, result: dict) -> None:
        folder = Path(result["path"])
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        rows = "".join(f"<tr><td>{esc(p.relative_to(folder))}</td><td align='right'>{p.stat().st_size / 2**20:.1f} MiB"
                       "</td></tr>" for p in files)
        self.summary.setHtml(f"<p>Exported <b>{esc(result['source'])}</b> to {esc(folder)}:</p>"
                             f"<table cellpadding='3'>{rows}</table><p>Load it with "
                             f"<code>AutoModelForCausalLM.from_pretrained(\"{esc(folder)}\")</code>.</p>")
        self.studio.changed.emit()
