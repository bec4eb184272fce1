"""Rename… and Delete… for a page's table: the name is the selected row's first column. A
delete first shows what goes with it (``core.journey.tidy``) and goes on only when the person
presses Delete; dialogs are opened with open(), never exec(), so jobs and tests go on."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QMessageBox, QTableWidget, QWidget

from core.journey.renaming import rename
from core.journey.tidy import delete, plan_delete
from desktop.studio import guard, show_error

WHAT = {"model": "model", "prompts": "prompt set", "reward": "reward model", "run": "run", "export": "export"}


class TableTidy:
    """Rename and delete the thing named in ``column`` of ``table``'s selected row."""

    def __init__(self, page: QWidget, table: QTableWidget, kind: str, column: int = 0):
        self.page, self.table, self.kind, self.column = page, table, kind, column

    def selected(self):
        row = self.table.currentRow()
        item = self.table.item(row, self.column) if row >= 0 else None
        if item is None:
            show_error(self.page, f"Choose a {WHAT[self.kind]} in the list first.")
            return None
        return item.text()

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
            self.page.studio.changed.emit()

    def ask_delete(self, name=None) -> QMessageBox | None:
        name = self.selected() if name is None else name
        if name is None:
            return None
        with self.page.studio.store() as store:
            plan = guard(self.page, plan_delete, store, self.kind, name)
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
        box.buttonClicked.connect(lambda button: button is go and self.delete(name))
        box.open()
        return box

    def delete(self, name) -> None:
        with self.page.studio.store() as store:
            result = guard(self.page, delete, store, self.kind, name)
        if result is None:
            return
        self.page.studio.changed.emit()
        if result["not_removed"]:
            show_error(self.page, f"Deleted {result['deleted']}, but these could not be removed: "
                       f"{'; '.join(result['not_removed'])}. Delete them by hand when you can.")
