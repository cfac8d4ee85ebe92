"""The TSV reader of :mod:`yotsuba.sec.zeek`: ``pyarrow.csv`` with a checked fallback.

Private helper of :mod:`yotsuba.sec.zeek` (whose docstring describes the behaviour). The header
lines are parsed by :func:`~yotsuba.sec._zeek_format.parse_header`; the data lines are tokenised
and typed by ``pyarrow.csv`` in streaming blocks. Rows with the wrong number of columns go
through the ``invalid_row_handler`` (:class:`_RowSink`: ``#`` lines skipped, others malformed);
a value that does not fit its column's type makes :func:`_read_tsv` re-read everything as text
and drop and count the rows that do not fit (:func:`_checked_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yotsuba.core.errors import InputError
from yotsuba.sec._io import ParseReport, is_gzip, open_binary
from yotsuba.sec._zeek_format import (
    _BLOCK_BYTES,
    KNOWN_TYPES,
    ZeekHeader,
    ZeekLog,
    _arrow_type,
    _cast_checked,
    _check_required,
    _fix_strings,
    _is_container,
    parse_header,
)

_LINE_SCAN_MAX_BYTES = 1 << 28  # find line numbers of malformed samples in files up to 256 MiB


@dataclass
class _RowSink:
    """Collects the rows pyarrow's tokenizer rejected (wrong column count)."""

    report: ParseReport
    header: ZeekHeader
    n_columns: int
    bad_texts: list[str] = field(default_factory=list)

    def __call__(self, row: Any) -> str:
        text = row.text or ""
        if text.startswith("#"):
            key = text.split(self.header.separator, 1)[0]
            if key == "#close":
                self.header.close = text.split(self.header.separator)[-1]
            self.report.skip(f"'{key}' line")
            return "skip"
        if not text.strip():
            self.report.skip("blank line")
            return "skip"
        self.report.bad(int(row.number or 0), f"{row.actual_columns} columns; the #fields line "
                        f"names {self.n_columns}", text)
        if len(self.bad_texts) < 5:
            self.bad_texts.append(text)
        return "skip"


def _open_arrow(path: Path) -> Any:
    import pyarrow as pa

    if is_gzip(path):
        return pa.PythonFile(open_binary(path), mode="r")
    return pa.OSFile(str(path))


def _read_header_lines(path: Path) -> tuple[list[bytes], int, bytes]:
    """The leading '#' lines, the byte offset after them and the first data bytes."""
    lines: list[bytes] = []
    offset = 0
    with open_binary(path) as fh:
        while True:
            line = fh.readline(1 << 20)
            if not line.startswith(b"#"):
                return lines, offset, line[:256]
            lines.append(line)
            offset += len(line)


def _locate_lines(path: Path, texts: list[str]) -> dict[str, int]:
    """Line numbers of a few malformed lines (only for files up to 256 MiB)."""
    if not texts or path.stat().st_size > _LINE_SCAN_MAX_BYTES:
        return {}
    wanted = {t.encode("utf-8", "replace") for t in texts}
    found: dict[str, int] = {}
    with open_binary(path) as fh:
        for no, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if raw in wanted:
                found.setdefault(raw.decode("utf-8", "replace"), no)
                if len(found) == len(wanted):
                    break
    return found


def _read_tsv(path: Path, kind: str | None, columns: Sequence[str] | None,
              advance: Callable[[int], None]) -> ZeekLog:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    lines, offset, first = _read_header_lines(path)
    h = parse_header(lines, str(path))
    report = ParseReport(source=str(path))
    notes: list[str] = []
    fields = h.fields
    if len(set(fields)) != len(fields):
        raise InputError(f"{path}:{h.fields_line}: the #fields line names a column twice; "
                         "fix the header")
    types = list(h.types)
    if len(types) != len(fields):
        notes.append(f"line {h.fields_line}: #fields names {len(fields)} columns but #types "
                     f"{len(types)}; types taken from the Zeek log reference where known")
        known = KNOWN_TYPES.get(kind or h.path or "", {})
        types = [known.get(f, "string") for f in fields]
    log_kind = kind or h.path or "unknown"
    _check_required(path, log_kind, fields, f"#fields line (line {h.fields_line})")
    wanted = [c for c in fields if columns is None or c in columns]
    ztype = dict(zip(fields, types, strict=True))
    sink = _RowSink(report, h, len(fields))
    parse = pcsv.ParseOptions(delimiter=h.separator, quote_char=False, double_quote=False,
                              escape_char=False, newlines_in_values=False,
                              ignore_empty_lines=True, invalid_row_handler=sink)

    def reader(typed: bool) -> Any:
        src = _open_arrow(path)
        src.seek(offset)
        col_types = {c: (_arrow_type(ztype[c]) if typed and not _is_container(ztype[c])
                         else pa.string()) for c in wanted}
        conv = pcsv.ConvertOptions(
            column_types=col_types, include_columns=wanted,
            null_values=[h.unset_field] if typed else [], strings_can_be_null=typed,
            true_values=["T"], false_values=["F"])
        opts = pcsv.ReadOptions(column_names=fields, block_size=_BLOCK_BYTES, use_threads=True)
        return pcsv.open_csv(src, read_options=opts, parse_options=parse, convert_options=conv)

    if first == b"":
        report.require_some(f"Zeek {log_kind} records (the header has no data lines after it)")
    batches: list[Any] = []
    try:
        for batch in reader(typed=True):
            batches.append(batch)
            advance(batch.num_rows)
        table = pa.Table.from_batches(batches) if batches else None
    except pa.ArrowInvalid:
        # A value does not fit its column's type: re-read as text and check every value.
        report.records = report.malformed = 0
        report.samples.clear()
        report.skipped.clear()
        sink.bad_texts.clear()
        table = _checked_table(reader(typed=False), h, ztype, wanted, report, sink)
    if table is None or table.num_rows == 0:
        table = pa.table({c: pa.array([], _arrow_type(ztype[c])) for c in wanted})
    else:
        table = table.combine_chunks()
        cols = [_fix_strings(table.column(c).chunk(0) if table.column(c).num_chunks else
                             table.column(c).combine_chunks(), h, ztype[c]) for c in wanted]
        table = pa.table(dict(zip(wanted, cols, strict=True)))
    report.ok(table.num_rows)
    if sink.bad_texts:
        where = _locate_lines(path, sink.bad_texts)
        for s in report.samples:
            if s["line"] == 0 and s["raw"] in where:
                s["line"] = where[s["raw"]]
    report.require_some(f"Zeek {log_kind} records")
    return ZeekLog(table, report, log_kind, "tsv", h, notes)


def _checked_table(rdr: Any, h: ZeekHeader, ztype: dict[str, str], wanted: list[str],
                   report: ParseReport, sink: _RowSink) -> Any:
    """All-text read; rows with a value that does not fit its type are dropped and counted."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = rdr.read_all().combine_chunks()
    if raw.num_rows == 0:
        return None
    good = np.ones(raw.num_rows, dtype=bool)
    out: dict[str, Any] = {}
    reasons: dict[int, str] = {}
    for c in wanted:
        arr = raw.column(c).chunk(0) if raw.column(c).num_chunks else pa.array([], pa.string())
        unset = pc.equal(arr, h.unset_field)
        t = ztype[c]
        if _is_container(t) or _arrow_type(t) == pa.string():
            out[c] = pc.if_else(unset, pa.scalar(None, pa.string()), arr)
            continue
        typed = _cast_checked(arr, t)
        bad = pc.and_(pc.is_null(typed), pc.invert(unset)).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(bad & good)[:5]:
            reasons.setdefault(int(i), f"field {c!r} ({t}): {arr[int(i)].as_py()!r} is not a {t}")
        good &= ~bad
        out[c] = typed
    table = pa.table(out)
    n_bad = int((~good).sum())
    if n_bad:
        rows = np.flatnonzero(~good)
        for i in rows[:5]:
            text = h.separator.join("" if v is None else str(v)
                                    for v in (raw.column(c)[int(i)].as_py() for c in wanted))
            report.bad(0, reasons.get(int(i), "a value does not fit its #types type"), text)
            sink.bad_texts.append(text)
        report.malformed += n_bad - min(n_bad, 5)
        table = table.filter(pa.array(good))
    return table
