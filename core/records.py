"""Reading and writing the data files of the CLI and the app: JSONL, CSV and plain text.

A malformed file is refused whole: ``read_records`` either returns every record with its
line number or raises ``InputError`` naming the first bad line and why.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from core.errors import InputError, NotFoundError

MAX_TEXT_CHARS = 100_000  # a prompt or answer longer than this is a pasting accident, not data
FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "text"}


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path.name}: unknown file type '{path.suffix}'. Use .jsonl, .csv or .txt.")
    return fmt


def read_records(path: Path, *, text_field: str | None = None) -> list[tuple[int, dict]]:
    """Every record of a JSONL or CSV file as (line number, dict). A plain text file gives one
    record per non-empty line, as ``{text_field: line}``; it is refused if ``text_field`` is None."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise NotFoundError(f"No such file: {path}")
    fmt = file_format(path)
    try:
        # Bytes, not read_text(): universal newlines would turn a "\r\n" inside a quoted CSV
        # field into "\n" and change the data. -sig: a BOM from Excel is not data.
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path.name}: not UTF-8 text (byte {e.start}). Save it as UTF-8 and try again.") from e
    if fmt == "jsonl":
        records = _read_jsonl(path.name, content)
    elif fmt == "csv":
        records = _read_csv(path.name, content)
    else:
        if text_field is None:
            raise InputError(f"{path.name}: plain text holds no fields; use .jsonl or .csv for this data.")
        records = [(n, {text_field: line.strip()}) for n, line in enumerate(_lines(content), 1)
                   if line.strip()]
    if not records:
        raise InputError(f"{path.name} holds no records.")
    return records


def _lines(content: str) -> list[str]:
    """Lines split at "\n" only: str.splitlines() also splits at U+2028 and friends, which
    JSON leaves unescaped inside strings, and model output can contain."""
    return [line.removesuffix("\r") for line in content.split("\n")]


def _read_jsonl(name: str, content: str) -> list[tuple[int, dict]]:
    records = []
    for n, line in enumerate(_lines(content), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{name} line {n}: not valid JSON ({e.msg} at column {e.colno}).") from e
        if not isinstance(value, dict):
            raise InputError(f"{name} line {n}: expected a JSON object {{...}}, got {type(value).__name__}.")
        records.append((n, value))
    return records


def _read_csv(name: str, content: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(content, newline=""), strict=True)
    records = []
    try:
        for row in reader:
            if None in row:
                raise InputError(f"{name} line {reader.line_num}: more values than the "
                                 f"{len(reader.fieldnames)} columns of the header.")
            if all((v or "").strip() == "" for v in row.values()):
                continue
            records.append((reader.line_num, {k.strip(): v for k, v in row.items() if k is not None}))
    except csv.Error as e:
        # The inner reader's count: DictReader's own lags one row behind on a syntax error.
        raise InputError(f"{name} line {reader.reader.line_num}: {e}.") from e
    return records


def require_text(name: str, n: int, record: dict, field: str) -> str:
    """The non-empty string in ``field`` of a record, or an error naming the line."""
    value = record.get(field)
    if value is None:
        raise InputError(f"{name} line {n}: the field '{field}' is missing.")
    if not isinstance(value, str):
        raise InputError(f"{name} line {n}: '{field}' must be text, not {type(value).__name__}.")
    if not value.strip():
        raise InputError(f"{name} line {n}: '{field}' is empty.")
    if len(value) > MAX_TEXT_CHARS:
        raise InputError(f"{name} line {n}: '{field}' is {len(value):,} characters long; the most is "
                         f"{MAX_TEXT_CHARS:,}. Shorten it or leave it out.")
    return value


def write_records(path: Path, records: Iterable[dict], fields: list[str]) -> int:
    """Write records as JSONL or CSV (by the file's suffix) to a temporary file, then rename
    it over ``path``: a reader never sees half a file, and a failure leaves the old one."""
    path = Path(path).expanduser()
    fmt = file_format(path)
    if fmt == "text":
        raise InputError(f"{path.name}: write .jsonl or .csv, not plain text.")
    if not path.parent.is_dir():
        raise NotFoundError(f"No such folder: {path.parent}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
                writer.writeheader()
            for record in records:
                if fmt == "csv":
                    writer.writerow(record)
                else:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
