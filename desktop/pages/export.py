"""Export: the tuned model as a Hugging Face folder that plain transformers loads, or as one
GGUF file (f16 or q8_0) for Ollama, LM Studio and llama.cpp. Past exports are listed below;
deleting one forgets its record and keeps its folder unless the person ticks that it goes too."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.store.runs import checkpointed_runs
from core.store.tidy import list_exports
from desktop.pages.base import Page, esc, fill_table, fit_rows, read_only_table, when
from desktop.pages.tidy import TableTidy


class ExportPage(Page):
    title = "7  Export"
    purpose = ("Write the tuned model to a folder with a model card recording where it came from: as "
               "model.safetensors for any program using Hugging Face transformers, or as one GGUF file for "
               "Ollama, LM Studio and other llama.cpp-based tools.")
    FORMATS = [  # what the person picks -> the flags of 'superhf export'
        ("A folder for transformers (safetensors)", ["--format", "safetensors"]),
        ("One GGUF file, f16: for Ollama, LM Studio, llama.cpp", ["--format", "gguf", "--quant", "f16"]),
        ("One GGUF file, q8_0: about half the size, nearly the same answers", ["--format", "gguf", "--quant", "q8_0"]),
    ]

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
        self.format = QComboBox(objectName="export-format")
        for label, flags in self.FORMATS:
            self.format.addItem(label, flags)
        self.format.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format)
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
        # past exports, five rows at most; hidden while there is none
        self.exports_box = QWidget(objectName="past-exports", visible=False)
        box = QVBoxLayout(self.exports_box)
        box.setContentsMargins(0, 6, 0, 0)
        box.addWidget(QLabel("<b>Past exports</b>"))
        self.exports_table = read_only_table("exports", ["When", "What", "Format", "Folder"])
        for column in range(3):  # the folder takes the room left
            self.exports_table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeToContents)
        self.exports_table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.exports_table.setSelectionMode(QAbstractItemView.SingleSelection)
        box.addWidget(self.exports_table)
        self.tidy = TableTidy(self, self.exports_table, "export")  # the id is the data under the date
        self.button_row([("Delete…", "delete-export", self.tidy.ask_delete)], box)
        self.layout_.addWidget(self.exports_box)
        self.refresh()

    def _format_changed(self) -> None:
        """A GGUF file always holds the whole model: no adapter alone."""
        gguf = "gguf" in self.format.currentData()
        if gguf:
            self.merged.setChecked(True)
        self.adapter.setEnabled(not gguf)

    def refresh(self) -> None:
        with self.studio.store() as store:
            runs = checkpointed_runs(store)
        keep = self.source.currentText()
        self.source.clear()
        self.source.addItems(runs)
        if keep in runs:
            self.source.setCurrentText(keep)
        self.export_button.setEnabled(bool(runs))
        self._fill_exports()

    def _fill_exports(self) -> None:
        with self.studio.store() as store:
            exports = list(reversed(list_exports(store)))  # the newest first
        fill_table(self.exports_table, [
            (when(e["created_at"]),
             (e["run"] or e["model"] or "(deleted)") + (" (LoRA adapter only)" if e["adapter_only"] else ""),
             "GGUF " + (e["quant"] or "") if e["format"] == "gguf" else "safetensors",
             e["path"]) for e in exports])
        for row, e in enumerate(exports):
            self.exports_table.item(row, 0).setData(Qt.UserRole, e["id"])
            self.exports_table.item(row, 3).setToolTip(e["path"])
        fit_rows(self.exports_table, 5)
        self.exports_box.setVisible(bool(exports))

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
        flags += self.format.currentData()
        self.command(f"Exporting {source}", ["export", source, str(out), *flags], self._done)

    def _done(self, result: dict) -> None:
        folder = Path(result["path"])
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        rows = "".join(f"<tr><td>{esc(p.relative_to(folder))}</td><td align='right'>{p.stat().st_size / 2**20:.1f} MiB"
                       "</td></tr>" for p in files)
        if result.get("gguf"):
            use = ("Run it in Ollama: <code>ollama create my-model -f Modelfile</code> in that folder, then "
                   "<code>ollama run my-model</code>; or open the .gguf file in LM Studio. The folder's README.md "
                   "says more.")
        else:
            use = f"Load it with <code>AutoModelForCausalLM.from_pretrained(\"{esc(folder)}\")</code>."
        self.summary.setHtml(f"<p>Exported <b>{esc(result['source'])}</b> to {esc(folder)}:</p>"
                             f"<table cellpadding='3'>{rows}</table><p>{use}</p>")
        self.studio.changed.emit()
