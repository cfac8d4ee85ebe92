"""The JSON reader of :mod:`yotsuba.sec.zeek` (``LogAscii::use_json=T``), via ``pyarrow.json``.

Private helper of :mod:`yotsuba.sec.zeek` (whose docstring describes the behaviour). The file
is read in chunks of whole lines; each chunk is parsed by ``pyarrow.json``, or line by line when
that fails (invalid lines are counted as malformed). ``ts`` is epoch seconds or ISO 8601 text
(``LogAscii::json_timestamps=JSON::TS_ISO8601``); the other known fields are cast to the
Arrow type of their Zeek type (:data:`~yotsuba.sec._zeek_format.KNOWN_TYPES`), since JSON
logs carry no ``#types`` line. Without ``kind``, the kind is guessed from the field names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from yotsuba.core.errors import InputError
from yotsuba.sec._io import ParseReport, open_binary
from yotsuba.sec._zeek_format import (
    _BLOCK_BYTES,
    _FLOAT_RE,
    KNOWN_TYPES,
    REQUIRED_FIELDS,
    ZeekLog,
    _arrow_type,
    _check_required,
    _is_container,
)

_JSON_CHUNK_BYTES = 1 << 25


def _json_chunks(fh: IO[bytes]) -> Any:
    """Yield (first_line_number, bytes) chunks of whole lines."""
    line_no, rest = 1, b""
    while True:
        block = fh.read(_JSON_CHUNK_BYTES)
        if not block:
            if rest.strip():
                yield line_no, rest
            return
        data = rest + block
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        chunk, rest = data[: cut + 1], data[cut + 1:]
        yield line_no, chunk
        line_no += chunk.count(b"\n")


def _json_table(chunk: bytes, first_line: int, report: ParseReport) -> Any:
    import pyarrow as pa
    import pyarrow.json as pj

    opts = pj.ReadOptions(block_size=_BLOCK_BYTES, use_threads=True)
    try:
        return pj.read_json(pa.BufferReader(chunk), read_options=opts)
    except pa.ArrowInvalid:
        good: list[bytes] = []
        for k, line in enumerate(chunk.split(b"\n")):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                report.bad(first_line + k, f"invalid JSON: {exc}", line)
                continue
            good.append(line)
        if not good:
            return None
        try:
            return pj.read_json(pa.BufferReader(b"\n".join(good) + b"\n"), read_options=opts)
        except pa.ArrowInvalid as exc:  # e.g. one field with incompatible types across lines
            report.bad(first_line, f"JSON lines with conflicting field types: {exc}", b"")
            return None


def _json_ts(col: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        return pc.cast(col, pa.float64())
    if pa.types.is_string(col.type):
        num = pc.match_substring_regex(col, _FLOAT_RE)
        iso = pc.if_else(num, pa.scalar(None, pa.string()), pc.replace_substring(col, "Z", ""))
        parsed = pc.cast(pc.cast(iso, pa.timestamp("us")), pa.int64())
        as_iso = pc.divide(pc.cast(parsed, pa.float64()), 1e6)
        as_num = pc.cast(pc.if_else(num, col, pa.scalar(None, pa.string())), pa.float64())
        return pc.coalesce(as_num, as_iso)
    raise InputError(f"JSON 'ts' has type {col.type}; expected epoch seconds or ISO 8601 text")


def _read_json(path: Path, kind: str | None, columns: Sequence[str] | None,
               advance: Callable[[int], None]) -> ZeekLog:
    import pyarrow as pa
    import pyarrow.compute as pc

    report = ParseReport(source=str(path))
    tables: list[Any] = []
    with open_binary(path) as fh:
        for first_line, chunk in _json_chunks(fh):
            t = _json_table(chunk, first_line, report)
            if t is None or t.num_rows == 0:
                continue
            if "ts" not in t.column_names:
                report.bad(first_line, "JSON objects without a 'ts' field", chunk[:200])
                report.malformed += t.num_rows - 1
                continue
            t = t.set_column(t.column_names.index("ts"), "ts", _json_ts(t.column("ts")))
            tables.append(t)
            advance(t.num_rows)
    if not tables:
        report.require_some(f"Zeek {kind or 'JSON'} records")
    names: list[str] = []
    for t in tables:
        names += [n for n in t.column_names if n not in names]
    log_kind = kind or _guess_kind(names)
    _check_required(path, log_kind, names, "the JSON objects")
    known = KNOWN_TYPES.get(log_kind, {})
    wanted = [c for c in names if columns is None or c in columns]
    fixed = []
    for t in tables:
        cols = {}
        for c in wanted:
            col = t.column(c) if c in t.column_names else pa.nulls(t.num_rows)
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            zt = known.get(c)
            if zt is not None and not _is_container(zt) and c != "ts":
                target = _arrow_type(zt)
                col = pc.cast(col, target) if col.type != target else col
            cols[c] = col
        fixed.append(pa.table(cols))
    table = pa.concat_tables(fixed, promote_options="permissive")
    null_ts = pc.is_null(table.column("ts"))
    n_null = int(pc.sum(null_ts).as_py() or 0)
    if n_null:
        report.bad(0, "'ts' is missing or not a time", b"")
        report.malformed += n_null - 1
        table = table.filter(pc.invert(null_ts))
    report.ok(table.num_rows)
    report.require_some(f"Zeek {log_kind} records")
    return ZeekLog(table.combine_chunks(), report, log_kind, "json", None, [])


def _guess_kind(names: Sequence[str]) -> str:
    for kind in ("dns", "http", "ssl", "conn"):
        if all(f in names for f in REQUIRED_FIELDS[kind]):
            return kind
    return "unknown"
