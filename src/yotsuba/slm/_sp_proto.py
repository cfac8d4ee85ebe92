"""SentencePiece normaliser flags read straight from a serialised model, without protobuf.

:func:`normalizer_flags` walks the ``ModelProto`` bytes of a ``tokenizer.model`` with a minimal
protobuf wire-format reader (:func:`_pb_fields`) and returns the ``normalizer_spec`` fields
the GGUF export writes (``add_dummy_prefix``, ``remove_extra_whitespaces``, the rule name).
Used by :mod:`yotsuba.slm.export`, which re-exports :func:`normalizer_flags`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from yotsuba.core.errors import InputError

__all__ = ["normalizer_flags"]


def _pb_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value) of a serialised protobuf message."""
    i, n = 0, len(buf)

    def varint() -> int:
        nonlocal i
        shift = out = 0
        while True:
            b = buf[i]
            i += 1
            out |= (b & 0x7F) << shift
            if b < 0x80:
                return out
            shift += 7

    while i < n:
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            yield num, wire, varint()
        elif wire == 2:
            length = varint()
            yield num, wire, buf[i : i + length]
            i += length
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise InputError(f"tokenizer.model: unsupported protobuf wire type {wire}")


def normalizer_flags(model_proto: bytes) -> dict[str, Any]:
    """``add_dummy_prefix``, ``remove_extra_whitespaces`` and the normalisation rule name of a
    SentencePiece model (``ModelProto.normalizer_spec``, fields 1, 3, 4; defaults per
    sentencepiece_model.proto).

    >>> normalizer_flags(b"")
    {'name': '', 'add_dummy_prefix': True, 'remove_extra_whitespaces': True, 'charsmap_bytes': 0}
    """
    out: dict[str, Any] = {
        "name": "",
        "add_dummy_prefix": True,
        "remove_extra_whitespaces": True,
        "charsmap_bytes": 0,
    }
    for num, wire, val in _pb_fields(model_proto):
        if num == 3 and wire == 2 and isinstance(val, bytes):
            for n2, _, v2 in _pb_fields(val):
                if n2 == 1 and isinstance(v2, bytes):
                    out["name"] = v2.decode("utf-8", errors="replace")
                elif n2 == 2 and isinstance(v2, bytes):
                    out["charsmap_bytes"] = len(v2)
                elif n2 == 3:
                    out["add_dummy_prefix"] = bool(v2)
                elif n2 == 4:
                    out["remove_extra_whitespaces"] = bool(v2)
    return out
