"""Zeek log readers: TSV (with its ``#`` header) and JSON, for conn, dns, http and ssl logs.

Zeek's ASCII writer (``base/frameworks/logging/writers/ascii.zeek``; "Zeek Log Formats and
Inspection", https://docs.zeek.org/en/master/log-formats.html) starts a TSV log with header
lines::

    #separator \\x09            the field separator, written as a \\xHH escape
    #set_separator  ,          between the elements of a set[...] or vector[...]
    #empty_field    (empty)    an empty string, set or vector
    #unset_field    -          a field with no value (null)
    #path   conn               the log's name
    #open   2019-06-07-14-30-44
    #fields ts  uid  id.orig_h ...
    #types  time string addr ...
    ...data lines...
    #close  2019-06-07-14-31-02

Every header line after ``#separator`` uses the separator itself. Values are typed by
``#types``: ``time`` and ``interval`` (seconds, float64), ``double`` (float64), ``count`` and
``int`` (int64), ``port`` (int32), ``bool`` (``T``/``F``), ``addr``, ``subnet``, ``string``,
``enum`` (text), ``set[T]`` and ``vector[T]`` (list of T, split on the set separator). A string
that contains the separator, a non-printable byte or equals the unset/empty marker is written
with ``\\xHH`` escapes, which are decoded. With ``LogAscii::use_json=T`` Zeek writes one JSON
object per line instead (no header; ``ts`` as epoch seconds, or ISO 8601 with
``LogAscii::json_timestamps=JSON::TS_ISO8601``); field types then come from :data:`KNOWN_TYPES`
(the Zeek log references, https://docs.zeek.org/en/master/logs/index.html).

Speed: TSV is tokenised and typed by ``pyarrow.csv`` (multi-threaded, streaming blocks), JSON by
``pyarrow.json``; no Python code runs per line on a clean file. Lines with the wrong number of
columns go through pyarrow's ``invalid_row_handler``: ``#`` lines (``#close``, a repeated header)
are counted as skipped, others as malformed with a sample. A value that does not fit its type
(``abc`` in a ``count`` column) makes the reader fall back to a checked path that drops and
counts that row. Only when nothing usable was read is :class:`~yotsuba.core.errors.InputError`
raised (exit code 2).

This module holds :func:`read_zeek`; the format (required fields, known types, the header, the
Arrow type of each Zeek type and :class:`ZeekLog`) is in :mod:`yotsuba.sec._zeek_format`, the
readers in :mod:`yotsuba.sec._zeek_tsv` and :mod:`yotsuba.sec._zeek_json`.

>>> import pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "conn.log"
>>> _ = p.write_text(
...     "#separator \\\\x09\\n#set_separator\\t,\\n#empty_field\\t(empty)\\n#unset_field\\t-\\n"
...     "#path\\tconn\\n#fields\\tts\\tid.orig_h\\tid.resp_h\\tduration\\ttunnel_parents\\n"
...     "#types\\ttime\\taddr\\taddr\\tinterval\\tset[string]\\n"
...     "1.5\\t10.0.0.1\\t10.0.0.2\\t-\\ta,b\\n2.5\\t10.0.0.1\\t10.0.0.2\\t0.25\\t(empty)\\n")
>>> log = read_zeek(p)
>>> log.kind, log.table.num_rows, log.table.column("duration").to_pylist()
('conn', 2, [None, 0.25])
>>> log.table.column("tunnel_parents").to_pylist()
[['a', 'b'], []]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from yotsuba.core.errors import InputError
from yotsuba.sec._io import open_binary
from yotsuba.sec._zeek_format import (
    KNOWN_TYPES,
    REQUIRED_FIELDS,
    ZeekHeader,
    ZeekLog,
    parse_header,
)
from yotsuba.sec._zeek_json import _read_json
from yotsuba.sec._zeek_tsv import _read_tsv

__all__ = [
    "KNOWN_TYPES",
    "REQUIRED_FIELDS",
    "ZeekHeader",
    "ZeekLog",
    "parse_header",
    "read_zeek",
]


def read_zeek(path: str | Path, kind: str | None = None, *,
              columns: Sequence[str] | None = None,
              progress: Callable[[int], None] | None = None) -> ZeekLog:
    """Read a Zeek log (TSV or JSON, optionally gzip-compressed) into a typed Arrow table.

    Parameters
    ----------
    path
        The log file; the format is detected from its first byte (``#`` TSV, ``{`` JSON).
    kind
        ``conn``, ``dns``, ``http`` or ``ssl`` to insist on that log's required fields;
        ``None`` takes the ``#path`` header (TSV) or guesses from the field names (JSON).
    columns
        Read only these columns (faster); ``None`` reads all.
    progress
        Called with the number of rows after each parsed block.

    Returns
    -------
    ZeekLog
        The table (one row per record) and the :class:`~yotsuba.sec._io.ParseReport`.

    Raises
    ------
    InputError
        Not a Zeek log, a header without ``#fields``, required fields missing, or no record
        could be read (empty file, garbage, every line malformed).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dns.json"
    >>> _ = p.write_text('{"ts": 1.0, "id.orig_h": "10.0.0.1", "query": "a.example"}\\n'
    ...                  '{"ts": 2.5, "id.orig_h": "10.0.0.1", "query": "b.example"}\\n'
    ...                  'not json\\n')
    >>> log = read_zeek(p)
    >>> log.kind, log.table.column("ts").to_pylist(), log.report.malformed
    ('dns', [1.0, 2.5], 1)
    """
    p = Path(path)
    with open_binary(p) as fh:
        head = fh.read(4096)
    if not head.strip():
        raise InputError(f"{p}: the file is empty; expected a Zeek TSV or JSON log")
    first = head.lstrip()[:1]
    adv = progress if progress is not None else (lambda n: None)
    if kind is not None and kind not in REQUIRED_FIELDS:
        raise InputError(f"kind {kind!r}: choose one of {', '.join(REQUIRED_FIELDS)}")
    if first == b"#":
        return _read_tsv(p, kind, columns, adv)
    if first == b"{":
        return _read_json(p, kind, columns, adv)
    sample = head[:40].decode("utf-8", "replace")
    raise InputError(f"{p}:1: not a Zeek log: it starts with {sample!r}, neither a "
                     "'#separator' header (TSV) nor a JSON object")
