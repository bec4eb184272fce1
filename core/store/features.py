"""A small SQLite file of feature vectors by key, beside the workspace's database (in its
cache folder): the reward model's backbone features, so retraining on more ratings computes
only the new answers' features. Deleting the file is always safe. The vectors are bytes
here; ``core.reward.model.FeatureCache`` turns them into tensors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional


class FeatureFile:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, dim INTEGER, vector BLOB)")

    def get(self, key: str) -> Optional[tuple[int, bytes]]:
        """(number of values, their float32 bytes), or None."""
        row = self.conn.execute("SELECT dim, vector FROM features WHERE key = ?", [key]).fetchone()
        return (row[0], row[1]) if row else None

    def put(self, key: str, dim: int, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO features VALUES (?, ?, ?)", [key, dim, data])

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()
