"""Rename… and Delete… for a page's table: the name is the selected row's first column (or
the data that cell holds, as an export's id under its date). A delete first shows what goes
with it (``core.journey.tidy``) and goes on only when the person presses Delete; dialogs are
opened with open(), never exec(), so jobs and tests go on. The rows go at once and folders are
set aside under hidden names; a background job removes them, so the window never waits on a disk.

An export's folder is the person's copy, outside the workspace, maybe already handed to
Ollama or LM Studio: deleting an export forgets its record and keeps the folder unless the
person ticks "Also delete the folder" in the confirmation, which then says the folder goes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QInputDialog, QMessageBox, QTableWidget, QWidget

from core.journey.renaming import rename
from core.journey.tidy import delete, plan_delete, remove_files
from core.store.tidy import export_row
from desktop.jobs import ThreadJob
from desktop.studio import guard, show_error

WHAT = {"model": "model", "prompts": "prompt set", "reward": "reward model", "run": "run", "export": "export"}


class TableTidy:
    """Rename and delete the thing named in ``column`` of ``table``'s selected row."""

    def __init__(self, page: QWidget, table: QTableWidget, kind: str, column: int = 0):
        self.page, self.table, self.kind, self.column = page, table, kind, column
        self.renamed = None  # called with (old, new) after a rename, before the workspace says it changed

    def selected(self):
        row = self.table.currentRow()
        item = self.table.item(row, self.column) if row >= 0 else None
        if item is None:
            show_error(self.page, f"Choose a {WHAT[self.kind]} in the list first.")
            return None
        data = item.data(Qt.UserRole)
        return item.text() if data is None else data

    def ask_rename(self) -> QInputDialog | None:
        old = self.selected()
        if old is None:
            return None
        dialog = QInputDialog(self.page, objectName="rename-dialog")
        dialog.setWindowTitle(f"Rename {WHAT[self.kind]}")
        dialog.setLabelText(f"New name for the {WHAT[self.kind]} '{old}':")
        dialog.setTextValue(old)
        dialog.textValueSelected.connect(lambda new: self.rename(old, new))
        dialog.open()
        return dialog

    def rename(self, old: str, new: str) -> None:
        if new.strip() == old:
            return
        with self.page.studio.store() as store:
            done = guard(self.page, rename, store, self.kind, old, new)
        if done is not None:
            if self.renamed is not None:
                self.renamed(old, done["new"])
            self.page.studio.changed.emit()

    def ask_delete(self, name=None) -> QMessageBox | None:
        name = self.selected() if name is None else name
        if name is None:
            return None
        plan = self._plan(name, keep_files=self.kind == "export")
        if plan is None:
            return None
        if plan.refused:
            show_error(self.page, plan.refused)
            return None
        box = QMessageBox(QMessageBox.Question, "SuperHF Studio", plan.text(), QMessageBox.Cancel, self.page)
        box.setObjectName("confirm-delete")
        go = box.addButton("Delete", QMessageBox.DestructiveRole)
        go.setObjectName("confirm-delete-button")
        box.setDefaultButton(QMessageBox.Cancel)
        options = {}
        if self.kind == "export":
            with self.page.studio.store() as store:
                folder = Path(export_row(store, int(name))["path"])
            if folder.exists():
                also = QCheckBox(f"Also delete the folder {folder} ({_size(folder)})", objectName="delete-export-files")
                box.setCheckBox(also)
                also.toggled.connect(lambda on: self._replan(box, name, keep_files=not on))
                options = {"keep_files": lambda: not also.isChecked()}
            else:
                box.setText(f"{plan.text()}\n(The folder is no longer there.)")
                options = {"keep_files": lambda: True}
        box.buttonClicked.connect(lambda button: button is go and self.delete(
            name, **{key: value() for key, value in options.items()}))
        box.open()
        return box

    def _plan(self, name, **options):
        with self.page.studio.store() as store:
            return guard(self.page, plan_delete, store, self.kind, name, **options)

    def _replan(self, box: QMessageBox, name, **options) -> None:
        plan = self._plan(name, **options)
        if plan is not None:
            box.setText(plan.text())

    def delete(self, name, **options) -> Optional[ThreadJob]:
        """The rows go at once and the folders are set aside under hidden names; removing them
        (seconds for a large model on some disks) is a background job, whose failures are said."""
        studio = self.page.studio
        with studio.store() as store:
            result = guard(self.page, delete, store, self.kind, name, remove=False, **options)
        if result is None:
            return None
        studio.changed.emit()
        if not result["set_aside"]:
            return None
        paths = result["set_aside"]
        job = ThreadJob(f"removing the files of {result['deleted']}", lambda on_progress, cancel: remove_files(paths),
                        studio)
        job.succeeded.connect(lambda done: self._removed(result["deleted"], done[1]))
        job.failed.connect(lambda message, details: show_error(self.page, message, details))
        studio.track(job).start()
        return job

    def _removed(self, what: str, failed: list[str]) -> None:
        if failed:
            show_error(self.page, f"Deleted {what}, but these could not be removed: {'; '.join(failed)}. "
                       "Delete them by hand when you can.")


def _size(folder: Path) -> str:
    """How much the folder holds, in words a person reads at a glance."""
    try:
        total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    except OSError:
        return "size unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if total >= scale:
            return f"{total / scale:.1f} {unit}"
    return f"{total} bytes"
