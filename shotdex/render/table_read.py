"""Reading tables (CSV/TSV, XLSX, JSON records, Parquet) into a bounded number of rows of strings.

Each reader reads only the rows that can be shown (`limit`) and reports how many there were in all,
so a 1,000,000-row file costs seconds and little memory.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
from dataclasses import dataclass

from ..errors import RenderError
from .decode import open_text
from .discover import suffix_of

__all__ = ["Sheet", "read_table", "check_xlsx_zip", "sniff_delimiter", "cell_text", "DELIMITERS"]

DELIMITERS = [",", "\t", ";", "|", "#"]
MAX_CELL_CHARS = 400
csv.field_size_limit(1 << 24)


@dataclass
class Sheet:
    """One table: header, the rows read, how many rows and columns the source has."""

    name: str  # sheet name for workbooks, "" otherwise
    header: list[str]
    rows: list[list[str]]
    total_rows: int
    total_cols: int
    index: int = 0
    exact: bool = True  # False: total_rows is the workbook's own declared size, not a count


def _json_default(value):
    """Values json cannot write (inside Parquet structs and lists): dates as ISO text, decimals exact,
    bytes as a short hex preview."""
    import decimal

    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, _dt.timedelta):
        return str(value)
    return str(value)


def _bytes_text(data: bytes) -> str:
    hexed = data[:16].hex(" ")
    return f"<{len(data)} bytes: {hexed}{' …' if len(data) > 16 else ''}>"


def cell_text(value) -> str:
    """A cell as the text shown: numbers without float noise, dates in ISO form, long cells cut."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value:
            return ""
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".10g")
    elif isinstance(value, _dt.datetime):
        text = value.date().isoformat() if value.time() == _dt.time() else value.isoformat(sep=" ")
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        text = _bytes_text(bytes(value))
    else:
        text = str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "\u2026"
    return text


def _shape(source: str, name: str, rows: list[list], total: int, max_cols: int, index=0) -> Sheet:
    """First row as header; rows padded to one width; columns beyond max_cols dropped (counted)."""
    if not rows:
        raise RenderError(source, f"no rows{' in sheet ' + name if name else ''}")
    width = max(len(r) for r in rows)
    header = [cell_text(c) for c in rows[0]] + [""] * (width - len(rows[0]))
    header = [h if h else f"column {i + 1}" for i, h in enumerate(header)]
    body = [[cell_text(c) for c in r] + [""] * (width - len(r)) for r in rows[1:]]
    keep = min(width, max_cols)
    return Sheet(name, header[:keep], [r[:keep] for r in body], max(0, total - 1), width, index)


def sniff_delimiter(sample: str, preferred: str = ",") -> str:
    """The candidate that splits the first lines into the same number (>1) of fields most often."""
    lines = [ln for ln in sample.splitlines()[:60] if ln.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # probably cut mid-line
    best, best_score = preferred, (0.0, 0)
    for delim in sorted(DELIMITERS, key=lambda d: d != preferred):
        counts = [len(r) for r in csv.reader(lines, delimiter=delim)]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        if mode < 2:
            continue
        score = (counts.count(mode) / len(counts), mode)
        if score[0] > best_score[0] + 1e-9 or (abs(score[0] - best_score[0]) < 1e-9 and score[1] > best_score[1]):
            best, best_score = delim, score
    return best


def _read_delimited(source: str, limit: int, max_cols: int, warnings: list[str], deadline=None) -> list[Sheet]:
    preferred = "\t" if suffix_of(source) == ".tsv" else ","
    exact = True
    with open_text(source, warnings) as f:
        sample = f.read(64 * 1024)
        f.seek(0)
        delim = sniff_delimiter(sample, preferred)
        reader = csv.reader(f, delimiter=delim)
        rows, total = [], 0
        try:
            for row in reader:
                if not row or not any(c.strip() for c in row):
                    continue
                total += 1
                if total <= limit + 1:
                    rows.append(row)
                if total % 4096 == 0 and _past(deadline):
                    if total <= limit + 1:
                        raise RenderError(source, "reading the table took too long; stopped")
                    # The rows to show are read; the rest is only counted: estimate it from the bytes.
                    size, done = os.path.getsize(source), max(1, f.buffer.tell())
                    total, exact = max(total, round(total * size / done)), False
                    break
        except csv.Error as e:
            raise RenderError(source, f"malformed CSV at line {reader.line_num}: {e}") from None
    sheet = _shape(source, "", rows, total, max_cols)
    sheet.exact = exact
    return [sheet]


# Zip bombs: parts are checked against these before anything is inflated. Python's zipfile never
# inflates a part past its declared size (and then fails its CRC), so declared sizes are upper bounds.
MAX_XLSX_PART = 512 << 20  # any one part, uncompressed
MAX_XLSX_TOTAL = 1 << 30  # all parts together
MAX_SHARED_STRINGS = 64 << 20  # openpyxl holds every shared string in memory at once
MAX_XLSX_RATIO = 100  # parts over 16 MB may not inflate more than this (real sheets: 5-30x)


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def check_xlsx_zip(source: str) -> None:
    """Refuse a workbook whose zip directory promises a decompression bomb, before inflating any part."""
    import zipfile

    try:
        with zipfile.ZipFile(source) as zf:
            parts = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise RenderError(source, f"not a readable XLSX workbook ({type(e).__name__}: {e})") from None
    total = sum(p.file_size for p in parts)
    if total > MAX_XLSX_TOTAL:
        raise RenderError(source, f"XLSX inflates to {_mb(total)}, over {_mb(MAX_XLSX_TOTAL)} "
                                  "(a decompression bomb?); refused before reading")
    for p in parts:
        ratio = p.file_size / max(1, p.compress_size)
        if p.file_size > MAX_XLSX_PART or (p.file_size > 16 << 20 and ratio > MAX_XLSX_RATIO):
            raise RenderError(source, f"XLSX part {p.filename} inflates {ratio:,.0f}x to {_mb(p.file_size)} "
                                      "(a decompression bomb?); refused before reading")
        if p.filename.lower().endswith("sharedstrings.xml") and p.file_size > MAX_SHARED_STRINGS:
            raise RenderError(source, f"XLSX shared strings are {_mb(p.file_size)}, over {_mb(MAX_SHARED_STRINGS)}; "
                                      "refused before reading")


def _past(deadline: float | None) -> bool:
    import time

    return deadline is not None and time.monotonic() > deadline


def _read_xlsx(source: str, limit: int, max_cols: int, warnings: list[str], deadline=None) -> list[Sheet]:
    import zipfile

    from openpyxl import load_workbook

    check_xlsx_zip(source)
    try:
        wb = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise RenderError(source, f"not a readable XLSX workbook ({type(e).__name__}: {e})") from None
    sheets = []
    try:
        for index, ws in enumerate(wb.worksheets):
            rows, total, more = [], 0, False
            # Streaming, and only as far as can be shown: the rest is known from the sheet's declared
            # size (<dimension>), so a sheet of millions of rows costs what its first rows cost.
            for row in ws.iter_rows(values_only=True):
                if row is None or all(c is None or c == "" for c in row):
                    continue
                if total >= limit + 1:
                    more = True
                    break
                total += 1
                row = list(row)
                while row and (row[-1] is None or row[-1] == ""):
                    row.pop()
                rows.append(row)
                if total % 256 == 0 and _past(deadline):
                    raise RenderError(source, "reading the workbook took too long; stopped")
            if not rows:
                warnings.append(f"{source}: sheet {ws.title!r} is empty; skipped")
                continue
            declared = ws.max_row if isinstance(ws.max_row, int) else 0
            sheet = _shape(source, ws.title, rows, max(total + more, declared if more else 0), max_cols, index)
            sheet.exact = not more
            sheets.append(sheet)
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise RenderError(source, f"corrupt XLSX workbook ({type(e).__name__}: {e})") from None
    finally:
        wb.close()
    if not sheets:
        raise RenderError(source, "workbook has no rows in any sheet")
    return sheets


MAX_JSON_TABLE = 256 << 20  # read whole (json has no streaming reader): ~10x this in memory


def _read_json(source: str, limit: int, max_cols: int, warnings: list[str]) -> list[Sheet]:
    if os.path.getsize(source) > MAX_JSON_TABLE:
        raise RenderError(source, f"JSON table is {_mb(os.path.getsize(source))}, over {_mb(MAX_JSON_TABLE)} "
                                  "(JSON is read whole); refused")
    with open_text(source, warnings) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise RenderError(source, f"invalid JSON: {e}") from None
        except RecursionError:
            raise RenderError(source, "JSON is nested too deeply to read (over ~1,000 levels)") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))
    if not isinstance(data, list) or not data:
        raise RenderError(source, "JSON is not a non-empty list of records")
    if all(isinstance(r, dict) for r in data):
        keys: dict[str, None] = {}
        for r in data[: limit + 1]:
            keys.update(dict.fromkeys(r))
        header = list(keys)
        rows = [header] + [[r.get(k) for k in header] for r in data[:limit]]
    elif all(isinstance(r, list) for r in data):
        rows = data[: limit + 1]
    else:
        raise RenderError(source, "JSON is not a list of records (objects or arrays)")
    total = len(data) + (1 if rows[0] is not data[0] else 0)
    return [_shape(source, "", rows, total, max_cols)]


def _read_parquet(source: str, limit: int, max_cols: int, warnings: list[str]) -> list[Sheet]:
    try:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(source)
        names = pf.schema_arrow.names
        batch = next(pf.iter_batches(batch_size=max(1, limit), columns=names[:max_cols]), None)
        records = batch.to_pylist() if batch is not None else []
        total = pf.metadata.num_rows
    except (OSError, ValueError, StopIteration) as e:
        raise RenderError(source, f"not a readable Parquet file ({type(e).__name__}: {e})") from None
    except Exception as e:  # pyarrow raises ArrowInvalid etc. (subclasses of ValueError mostly)
        raise RenderError(source, f"not a readable Parquet file ({type(e).__name__}: {e})") from None
    rows = [names[:max_cols]] + [[r.get(k) for k in names[:max_cols]] for r in records]
    sheet = _shape(source, "", rows, total + 1, max_cols)
    sheet.total_cols = len(names)
    return [sheet]


_READERS = {
    ".csv": _read_delimited,
    ".tsv": _read_delimited,
    ".xlsx": _read_xlsx,
    ".json": _read_json,
    ".parquet": _read_parquet,
}


def read_table(source: str, limit: int, max_cols: int, warnings: list[str], deadline: float | None = None) -> list[Sheet]:
    """Sheets of the table source, each with at most `limit` body rows and `max_cols` columns.
    `deadline` (time.monotonic()) bounds the readers that loop in Python (XLSX)."""
    if os.path.getsize(source) == 0:
        raise RenderError(source, "empty file")
    reader = _READERS.get(suffix_of(source))
    if reader is None:
        raise RenderError(source, f"no table reader for {suffix_of(source)!r}")
    if reader in (_read_xlsx, _read_delimited):
        return reader(source, limit, max_cols, warnings, deadline)
    return reader(source, limit, max_cols, warnings)
