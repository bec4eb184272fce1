"""Model: the models of the workspace, and importing one (the starter, a folder, a GGUF)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from core.models import list_models
from desktop.pages.base import Page


class ModelPage(Page):
    title = "1  Model"
    purpose = ("The model you will teach. The built-in starter (SmolLM2, 135 million parameters) runs on any "
               "computer; a Hugging Face folder with safetensors weights or a .gguf file works too. Nothing "
               "is downloaded.")

    def __init__(self, studio):
        super().__init__(studio)
        buttons = QHBoxLayout()
        for text, name, slot in (("Use the starter model", "import-starter", self.import_starter),
                                 ("Import a folder…", "import-folder", self.import_folder),
                                 ("Import a .gguf file…", "import-gguf", self.import_gguf)):
            button = QPushButton(text, objectName=name)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch()
        self.layout_.addLayout(buttons)
        self.table = QTableWidget(0, 4, objectName="models")
        self.table.setHorizontalHeaderLabels(["Name", "Kind", "Parameters", "Architecture"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.layout_.addWidget(self.table, 1)
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            rows = list_models(store)
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            params = f"{r['parameters'] / 1e6:.0f} M" if r.get("parameters") else "?"
            for j, value in enumerate((r["name"], r["kind"], params, r.get("architecture") or "")):
                self.table.setItem(i, j, QTableWidgetItem(str(value)))

    def import_starter(self) -> None:
        self.command("Importing the starter model", ["model", "import", "--starter"])

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a Hugging Face model folder")
        if folder:
            self.import_path(folder)

    def import_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model file", "", "GGUF models (*.gguf)")
        if path:
            self.import_path(path)

    def import_path(self, path: str):
        return self.command(f"Importing {path}", ["model", "import", str(path)])
