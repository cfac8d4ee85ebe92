"""Zeek's log format for :mod:`yotsuba.sec.zeek`: fields, types, the header, Arrow typing.

Private helper of :mod:`yotsuba.sec.zeek` (whose docstring describes the format and the readers;
the public names defined here are re-exported there). Here: the fields each log kind must carry
(:data:`REQUIRED_FIELDS`), the types of the default fields (:data:`KNOWN_TYPES`, from the Zeek
log references, https://docs.zeek.org/en/master/logs/index.html), the TSV header written by
Zeek's ASCII writer ("Zeek Log Formats and Inspection",
https://docs.zeek.org/en/master/log-formats.html; :class:`ZeekHeader`, :func:`parse_header`),
the result of a read (:class:`ZeekLog`), and the Arrow type of each Zeek type with the typed
fix-ups of text columns (``(empty)``, ``set[T]``/``vector[T]``, ``\\xHH`` escapes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yotsuba.core.errors import InputError
from yotsuba.sec._io import ParseReport

# Fields a log must carry to be used as that kind (the analyses need them).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "conn": ("ts", "id.orig_h", "id.resp_h"),
    "dns": ("ts", "id.orig_h", "query"),
    "http": ("ts", "id.orig_h", "id.resp_h", "host"),
    "ssl": ("ts", "id.orig_h", "id.resp_h", "server_name"),
}

_ID = {"ts": "time", "uid": "string", "id.orig_h": "addr", "id.orig_p": "port",
       "id.resp_h": "addr", "id.resp_p": "port"}
# Types of the default fields, from the Zeek log references (docs.zeek.org/en/master/logs/
# conn.html, dns.html, http.html, ssl.html); used for JSON logs, which carry no #types line.
KNOWN_TYPES: dict[str, dict[str, str]] = {
    "conn": {**_ID, "proto": "enum", "service": "string", "duration": "interval",
             "orig_bytes": "count", "resp_bytes": "count", "conn_state": "string",
             "local_orig": "bool", "local_resp": "bool", "missed_bytes": "count",
             "history": "string", "orig_pkts": "count", "orig_ip_bytes": "count",
             "resp_pkts": "count", "resp_ip_bytes": "count", "tunnel_parents": "set[string]",
             "community_id": "string", "ip_proto": "count"},
    "dns": {**_ID, "proto": "enum", "trans_id": "count", "rtt": "interval", "query": "string",
            "qclass": "count", "qclass_name": "string", "qtype": "count",
            "qtype_name": "string", "rcode": "count", "rcode_name": "string", "AA": "bool",
            "TC": "bool", "RD": "bool", "RA": "bool", "Z": "count",
            "answers": "vector[string]", "TTLs": "vector[interval]", "rejected": "bool"},
    "http": {**_ID, "trans_depth": "count", "method": "string", "host": "string",
             "uri": "string", "referrer": "string", "version": "string",
             "user_agent": "string", "origin": "string", "request_body_len": "count",
             "response_body_len": "count", "status_code": "count", "status_msg": "string",
             "info_code": "count", "info_msg": "string", "tags": "set[enum]",
             "username": "string", "password": "string", "proxied": "set[string]",
             "orig_fuids": "vector[string]", "orig_filenames": "vector[string]",
             "orig_mime_types": "vector[string]", "resp_fuids": "vector[string]",
             "resp_filenames": "vector[string]", "resp_mime_types": "vector[string]"},
    "ssl": {**_ID, "version": "string", "cipher": "string", "curve": "string",
            "server_name": "string", "resumed": "bool", "last_alert": "string",
            "next_protocol": "string", "established": "bool", "ssl_history": "string",
            "cert_chain_fps": "vector[string]", "client_cert_chain_fps": "vector[string]",
            "subject": "string", "issuer": "string", "sni_matches_cert": "bool",
            "validation_status": "string", "ja3": "string", "ja3s": "string"},
}

_BLOCK_BYTES = 1 << 24  # pyarrow parse block (16 MiB): large enough to keep 2 cores busy
_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_FLOAT_RE = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_INT_RE = r"^[+-]?[0-9]+$"


@dataclass
class ZeekHeader:
    """A TSV log's header lines (see :mod:`yotsuba.sec.zeek`); ``header_lines`` counts them."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    open: str | None = None
    close: str | None = None
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    header_lines: int = 0
    fields_line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"path": self.path, "open": self.open, "close": self.close,
                "fields": list(self.fields), "types": list(self.types),
                "set_separator": self.set_separator, "empty_field": self.empty_field,
                "unset_field": self.unset_field}


@dataclass
class ZeekLog:
    """What :func:`read_zeek` returns: the typed table and the accounting of the read.

    Attributes
    ----------
    table
        One row per log record, columns named as in Zeek (``id.orig_h``); ``time`` columns in
        epoch seconds (float64), ``interval`` in seconds.
    report
        Records read, malformed (with samples) and skipped (``#`` lines, by reason).
    kind
        ``conn``, ``dns``, ``http``, ``ssl`` or the ``#path`` of another log.
    fmt
        ``tsv`` or ``json``.
    header
        The TSV header (``None`` for JSON).
    notes
        Problems with the header that did not stop the read, one line each.
    """

    table: Any
    report: ParseReport
    kind: str
    fmt: str
    header: ZeekHeader | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no rows)."""
        return {"kind": self.kind, "format": self.fmt, "rows": int(self.table.num_rows),
                "notes": list(self.notes), **self.report.to_dict(),
                "header": self.header.to_dict() if self.header else None}


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def parse_header(lines: Sequence[bytes], source: str = "log") -> ZeekHeader:
    """Parse a Zeek TSV log's leading ``#`` lines.

    Parameters
    ----------
    lines
        The header lines (with or without line ends), in file order.
    source
        The file name used in error messages.

    Raises
    ------
    InputError
        No ``#fields`` line, or a header line that cannot be read.

    Examples
    --------
    >>> h = parse_header([b"#separator \\\\x09", b"#fields\\tts\\tuid", b"#types\\ttime\\tstring"])
    >>> h.separator == "\\t", h.fields, h.types
    (True, ['ts', 'uid'], ['time', 'string'])
    """
    h = ZeekHeader()
    for no, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("#separator"):
            value = text[len("#separator"):].strip()
            h.separator = _unescape(value) if value else "\t"
            if len(h.separator) != 1:
                raise InputError(f"{source}:{no}: #separator {value!r} is not one character; "
                                 "expected '#separator \\x09'")
            continue
        key, _, rest = text.partition(h.separator)
        parts = rest.split(h.separator) if rest else []
        if key == "#set_separator" and parts:
            h.set_separator = _unescape(parts[0])
        elif key == "#empty_field" and parts:
            h.empty_field = parts[0]
        elif key == "#unset_field" and parts:
            h.unset_field = parts[0]
        elif key == "#path" and parts:
            h.path = parts[0]
        elif key == "#open" and parts:
            h.open = parts[0]
        elif key == "#close" and parts:
            h.close = parts[0]
        elif key == "#fields":
            h.fields, h.fields_line = parts, no
        elif key == "#types":
            h.types = parts
    h.header_lines = len(lines)
    if not h.fields:
        raise InputError(f"{source}: no #fields line in the header ({len(lines)} '#' lines "
                         "read); a Zeek TSV log names its columns on a '#fields' line")
    return h


def _arrow_type(zeek_type: str) -> Any:
    import pyarrow as pa

    if zeek_type in ("time", "interval", "double"):
        return pa.float64()
    if zeek_type in ("count", "int"):
        return pa.int64()
    if zeek_type == "port":
        return pa.int32()
    if zeek_type == "bool":
        return pa.bool_()
    return pa.string()


def _is_container(zeek_type: str) -> bool:
    return zeek_type.startswith(("set[", "vector[", "table["))


def _inner(zeek_type: str) -> str:
    return zeek_type[zeek_type.index("[") + 1: -1]


def _fix_strings(arr: Any, h: ZeekHeader, zeek_type: str) -> Any:
    """Typed fix-ups of a text column read with '-' already null: (empty), sets, escapes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if _is_container(zeek_type):
        import numpy as np

        split = pc.split_pattern(arr, h.set_separator)
        empty = pc.fill_null(pc.equal(arr, h.empty_field), False).to_numpy(zero_copy_only=False)
        values = split.flatten()
        offsets = split.offsets
        if empty.any():  # "(empty)" is the empty container, not a one-element one
            parent = pc.list_parent_indices(split).to_numpy()
            values = values.filter(pa.array(~empty[parent]))
            lens = pc.fill_null(pc.list_value_length(split), 0).to_numpy(zero_copy_only=False)
            off = np.zeros(len(lens) + 1, dtype=np.int32)
            np.cumsum(np.where(empty, 0, lens), out=off[1:])
            offsets = pa.array(off)
        inner = _inner(zeek_type)
        values = _cast_checked(_fix_strings(values, h, inner), inner)
        return pa.ListArray.from_arrays(offsets, values, mask=pc.is_null(arr))
    if zeek_type not in ("string", "enum", "addr", "subnet", "pattern", "func", "file"):
        return arr
    if pc.any(pc.equal(arr, h.empty_field)).as_py():
        arr = pc.if_else(pc.equal(arr, h.empty_field), "", arr)
    if pc.any(pc.match_substring(arr, "\\x")).as_py():
        arr = pa.array([None if v is None else _unescape(v) for v in arr.to_pylist()],
                       pa.string())
    return arr


def _cast_checked(values: Any, zeek_type: str) -> Any:
    """Cast text to the Zeek type's Arrow type; invalid elements become null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _arrow_type(zeek_type)
    if t == pa.string():
        return values
    if t == pa.bool_():
        return pc.if_else(pc.equal(values, "T"), True,
                          pc.if_else(pc.equal(values, "F"), False, pa.scalar(None, pa.bool_())))
    ok = pc.match_substring_regex(values, _FLOAT_RE if t == pa.float64() else _INT_RE)
    clean = pc.if_else(ok, values, pa.scalar(None, pa.string()))
    return pc.cast(clean, t)


def _check_required(path: Path, kind: str, fields: Sequence[str], where: str) -> None:
    need = REQUIRED_FIELDS.get(kind)
    if need is None:
        return
    missing = [f for f in need if f not in fields]
    if missing:
        raise InputError(f"{path}: {where} lacks {missing} required for a {kind} log; "
                         f"is this a {kind} log? (fields: {', '.join(list(fields)[:8])}...)")
