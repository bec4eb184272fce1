"""Model: the models of the workspace, importing one (the starter, a folder, a GGUF), renaming
and deleting one."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog

from core.store.models import list_models
from desktop.pages.base import Page, fill_table, read_only_table
from desktop.pages.tidy import TableTidy


class ModelPage(Page):
    title = "1  Model"
    purpose = ("The model you will teach. The built-in starter (SmolLM2, 135 million parameters) runs on any "
               "computer; a Hugging Face folder with safetensors weights or a .gguf file works too. Nothing "
               "is downloaded.")

    def __init__(self, studio):
        super().__init__(studio)
        self.button_row([("Use the starter model", "import-starter", self.import_starter),
                         ("Import a folder…", "import-folder", self.import_folder),
                         ("Import a .gguf file…", "import-gguf", self.import_gguf)])
        self.table = read_only_table("models", ["Name", "Kind", "Parameters", "Architecture"])
        self.layout_.addWidget(self.table, 1)
        self.tidy = TableTidy(self, self.table, "model")
        self.button_row([("Rename…", "rename-model", self.tidy.ask_rename),
                         ("Delete…", "delete-model", self.tidy.ask_delete)])
        self.refresh()

    def refresh(self) -> None:
        with self.studio.store() as store:
            rows = list_models(store)
        fill_table(self.table, [(r["name"], r["kind"], f"{r['parameters'] / 1e6:.0f} M" if r.get("parameters") else "?",
                                 r.get("architecture") or "") for r in rows])

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
