"""The authenticated classical channel between Alice and Bob, with its costs counted.

Every post-processing stage that needs the other party's information gets it through a
:class:`Channel`; nothing else crosses from Alice to Bob. Both parties run in one process (the
protocol code is written as Bob's logic plus handlers that Alice registers), but every message
is a real serialised frame, so bytes and round trips are exact, and :class:`TcpChannel` sends
them through a TCP socket on loopback.

Two kinds of traffic:

* :meth:`Channel.request` - Bob asks, Alice answers (one round trip, two messages), e.g. the
  parities of a list of Cascade blocks;
* :meth:`Channel.post` - one message one way, e.g. an LDPC syndrome or a verification tag.

Messages are ``dict[str, numpy.ndarray]`` (scalars as 0-d arrays), framed as a compact binary
header (names, dtypes, shapes) followed by the raw array bytes.

**Latency** is injected, not slept: each message adds ``latency_s`` (one way) to
:attr:`ChannelStats.latency_s`, so a 10 ms link shows what Cascade's hundreds of round trips
cost without the test suite waiting for them. The wall time of a stage plus this figure is
what the stage would take on that link.

**Authentication.** The channel must be authenticated (Wegman-Carter: an epsilon-almost
strongly universal hash keyed once, each tag encrypted with fresh pre-shared key). Each message
consumes ``auth_tag_bits`` of secret key (Portmann, IEEE TIT 60, 4383, 2014; the key for the
hash function itself is reused across messages and not counted), summed in
:attr:`ChannelStats.auth_key_bits`; the chain subtracts it from the distilled key.

>>> ch = InMemoryChannel(latency_s=0.005)
>>> ch.serve("double", lambda m: {"y": 2 * m["x"]})
>>> ch.request("double", {"x": np.arange(3)})["y"].tolist()
[0, 2, 4]
>>> ch.post("tag", {"t": np.uint64(7)}, sender="alice")["t"].item()
7
>>> s = ch.stats
>>> (s.messages, s.round_trips, round(s.latency_s, 3), s.auth_key_bits)
(3, 1, 0.015, 192)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from yotsuba.core.errors import InputError, InternalError

__all__ = [
    "Channel",
    "ChannelStats",
    "FramedMemoryChannel",
    "Handler",
    "InMemoryChannel",
    "Message",
    "TcpChannel",
    "decode",
    "encode",
    "frame_size",
    "open_channel",
]

Message = dict[str, NDArray[Any] | np.generic]
Handler = Callable[[dict[str, NDArray[Any]]], Message]
Party = Literal["alice", "bob"]

AUTH_TAG_BITS_DEFAULT = 64  # one 64-bit tag per message: forgery probability ~ 2^-64 per tag


@dataclass
class ChannelStats:
    """What crossed the channel. Bytes count the whole frame (header + payload)."""

    messages: int = 0
    round_trips: int = 0
    bytes_alice_to_bob: int = 0
    bytes_bob_to_alice: int = 0
    latency_s: float = 0.0
    auth_key_bits: int = 0

    @property
    def bytes_total(self) -> int:
        """Bytes in both directions."""
        return self.bytes_alice_to_bob + self.bytes_bob_to_alice

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counters (with ``bytes_total``)."""
        return {**asdict(self), "bytes_total": self.bytes_total}


_U16 = struct.Struct("<H")


def _put_str(out: list[bytes], text: str) -> None:
    raw = text.encode()
    out.append(_U16.pack(len(raw)))
    out.append(raw)


def encode(kind: str, message: Message) -> bytes:
    """One frame: a compact binary header, then each array's bytes in order.

    Header (little-endian): ``u16`` length + UTF-8 kind, ``u16`` number of fields, and per
    field ``u16`` length + name, ``u16`` length + NumPy dtype string (e.g. ``<u8``), ``u8``
    ndim and ``ndim`` ``u64`` dimensions. A binary header costs a few microseconds per
    message, which matters for Cascade's hundreds of round trips.

    >>> f = encode("k", {"a": np.arange(4, dtype=np.uint8)})
    >>> decode(f)[0], decode(f)[1]["a"].tolist()
    ('k', [0, 1, 2, 3])
    """
    head: list[bytes] = []
    _put_str(head, kind)
    head.append(_U16.pack(len(message)))
    arrays = []
    for name, value in message.items():
        arr = np.asarray(value)  # keeps 0-d scalars 0-d (ascontiguousarray would not)
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        if arr.dtype.hasobject:
            raise InternalError(f"channel message field '{name}' is not a numeric array")
        _put_str(head, name)
        _put_str(head, arr.dtype.str)
        head.append(struct.pack(f"<B{arr.ndim}Q", arr.ndim, *arr.shape))
        arrays.append(arr)
    return b"".join([*head, *(a.tobytes() for a in arrays)])


def _get_str(frame: bytes, pos: int) -> tuple[str, int]:
    (n,) = _U16.unpack_from(frame, pos)
    pos += 2
    return frame[pos : pos + n].decode(), pos + n


def decode(frame: bytes) -> tuple[str, dict[str, NDArray[Any]]]:
    """Inverse of :func:`encode`: the message kind and its arrays (read-only views)."""
    try:
        kind, pos = _get_str(frame, 0)
        (count,) = _U16.unpack_from(frame, pos)
        pos += 2
        fields = []
        for _ in range(count):
            name, pos = _get_str(frame, pos)
            dtype_str, pos = _get_str(frame, pos)
            ndim = frame[pos]
            shape = struct.unpack_from(f"<{ndim}Q", frame, pos + 1)
            pos += 1 + 8 * ndim
            fields.append((name, np.dtype(dtype_str), shape))
    except (struct.error, IndexError, UnicodeDecodeError, TypeError) as exc:
        raise InternalError(f"corrupt channel frame header: {exc}") from None
    out: dict[str, NDArray[Any]] = {}
    for name, dtype, shape in fields:
        n = 1
        for d in shape:
            n *= d
        out[name] = np.frombuffer(frame, dtype=dtype, count=n, offset=pos).reshape(shape)
        pos += n * dtype.itemsize
    if pos != len(frame):
        raise InternalError(f"channel frame of {len(frame)} bytes has {len(frame) - pos} extra")
    return kind, out


class Channel(ABC):
    """An authenticated classical channel; see the module docstring.

    Parameters
    ----------
    latency_s
        One-way latency added to :attr:`ChannelStats.latency_s` per message, seconds (>= 0).
    auth_tag_bits
        Secret key consumed to authenticate each message, bits (>= 0).
    """

    def __init__(self, latency_s: float = 0.0, auth_tag_bits: int = AUTH_TAG_BITS_DEFAULT):
        if not (np.isfinite(latency_s) and latency_s >= 0):
            raise InputError(f"latency = {latency_s} s is out of range: must be >= 0")
        if auth_tag_bits < 0:
            raise InputError(f"auth_tag_bits = {auth_tag_bits} is out of range: must be >= 0")
        self.latency_s = float(latency_s)
        self.auth_tag_bits = int(auth_tag_bits)
        self.stats = ChannelStats()
        self._handlers: dict[str, Handler] = {}

    def serve(self, kind: str, handler: Handler) -> None:
        """Alice answers requests of ``kind`` with ``handler(message) -> reply``."""
        self._handlers[kind] = handler

    def _count(self, nbytes: int, sender: Party) -> None:
        s = self.stats
        s.messages += 1
        s.latency_s += self.latency_s
        s.auth_key_bits += self.auth_tag_bits
        if sender == "alice":
            s.bytes_alice_to_bob += nbytes
        else:
            s.bytes_bob_to_alice += nbytes

    def _handle(self, frame: bytes) -> bytes:
        kind, msg = decode(frame)
        handler = self._handlers.get(kind)
        if handler is None:
            raise InternalError(f"Alice serves no request of kind '{kind}'")
        return encode(kind, handler(msg))

    def request(self, kind: str, message: Message) -> dict[str, NDArray[Any]]:
        """Bob sends ``message``; Alice's handler for ``kind`` replies. One round trip."""
        frame = encode(kind, message)
        reply = self._round_trip(frame)
        self._count(len(frame), "bob")
        self._count(len(reply), "alice")
        self.stats.round_trips += 1
        return decode(reply)[1]

    def post(self, kind: str, message: Message, *, sender: Party) -> dict[str, NDArray[Any]]:
        """One message from ``sender`` to the other party; returns it as received."""
        frame = encode(kind, message)
        received = self._one_way(frame)
        self._count(len(frame), sender)
        return decode(received)[1]

    @abstractmethod
    def _round_trip(self, frame: bytes) -> bytes: ...

    @abstractmethod
    def _one_way(self, frame: bytes) -> bytes: ...

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for in-memory channels
        """Release sockets or threads, if any."""

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FramedMemoryChannel(Channel):
    """Every message is encoded to a frame and decoded again, in memory (to inspect the wire:
    subclasses may override ``_round_trip`` / ``_one_way`` to see each frame)."""

    def _round_trip(self, frame: bytes) -> bytes:
        return self._handle(frame)

    def _one_way(self, frame: bytes) -> bytes:
        return frame


class InMemoryChannel(FramedMemoryChannel):
    """Messages are handed over in memory as read-only copies (the default, fastest).

    Nothing is serialised, but every message is counted at exactly the size of the frame that
    :func:`encode` would build (:func:`frame_size`; tested against it and against
    :class:`TcpChannel`), so the statistics are those of the wire.
    """

    def request(self, kind: str, message: Message) -> dict[str, NDArray[Any]]:
        handler = self._handlers.get(kind)
        if handler is None:
            raise InternalError(f"Alice serves no request of kind '{kind}'")
        sent = frame_size(kind, message)
        reply = handler(_deliver(message))
        self._count(sent, "bob")
        self._count(frame_size(kind, reply), "alice")
        self.stats.round_trips += 1
        return _deliver(reply)

    def post(self, kind: str, message: Message, *, sender: Party) -> dict[str, NDArray[Any]]:
        self._count(frame_size(kind, message), sender)
        return _deliver(message)


def frame_size(kind: str, message: Message) -> int:
    """Bytes of the frame :func:`encode` builds for this message, without building it.

    >>> m = {"a": np.arange(5, dtype=np.uint16), "s": np.float64(1.0)}
    >>> frame_size("k", m) == len(encode("k", m))
    True
    """
    size = 4 + len(kind.encode())
    for name, value in message.items():
        arr = value if type(value) is np.ndarray else np.asarray(value)
        dt = arr.dtype
        if dt.hasobject:
            raise InternalError(f"channel message field '{name}' is not a numeric array")
        size += 5 + len(name.encode()) + len(dt.str) + 8 * arr.ndim + arr.nbytes
    return size


def _deliver(message: Message) -> dict[str, NDArray[Any]]:
    """What the receiver gets: read-only copies (0-d scalars stay 0-d), as after decoding."""
    out: dict[str, NDArray[Any]] = {}
    for name, value in message.items():
        arr = np.array(value, copy=True)
        arr.flags.writeable = False
        out[name] = arr
    return out


def _send(sock: socket.socket, frame: bytes) -> None:
    sock.sendall(struct.pack("!Q", len(frame)))
    sock.sendall(frame)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise InternalError("the classical channel's TCP peer closed the connection")
        got += k
    return bytes(buf)


def _recv(sock: socket.socket) -> bytes:
    (n,) = struct.unpack("!Q", _recv_exact(sock, 8))
    return _recv_exact(sock, n)


def _tcp_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """Two ends of one TCP connection on ``host`` (an ephemeral port, closed listener)."""
    with socket.create_server((host, 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        server, _ = listener.accept()
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, server


class TcpChannel(Channel):
    """Every frame crosses a real TCP connection on loopback (127.0.0.1, an ephemeral port).

    Alice's side is a server thread that answers requests; one-way posts are written by a
    short-lived writer thread and read on the other end, so large frames never deadlock.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        auth_tag_bits: int = AUTH_TAG_BITS_DEFAULT,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(latency_s, auth_tag_bits)
        self._bob, self._alice = _tcp_pair(host)  # requests and their replies
        self._post_tx, self._post_rx = _tcp_pair(host)  # one-way messages
        self._error: BaseException | None = None
        self._server = threading.Thread(target=self._serve_loop, name="alice", daemon=True)
        self._server.start()

    def _serve_loop(self) -> None:
        try:
            while True:
                frame = _recv(self._alice)
                if not frame:
                    return
                _send(self._alice, self._handle(frame))
        except (OSError, InternalError) as exc:
            self._error = exc

    def _round_trip(self, frame: bytes) -> bytes:
        _send(self._bob, frame)
        try:
            return _recv(self._bob)
        except InternalError:
            if self._error is not None:
                raise InternalError(f"Alice's side failed: {self._error}") from self._error
            raise

    def _one_way(self, frame: bytes) -> bytes:
        # A one-way message crosses the second connection, written from a helper thread so
        # that a frame larger than the socket buffers cannot deadlock.
        writer = threading.Thread(target=_send, args=(self._post_tx, frame), daemon=True)
        writer.start()
        out = _recv(self._post_rx)
        writer.join()
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            _send(self._bob, b"")
        self._server.join(timeout=5)
        for s in (self._bob, self._alice, self._post_tx, self._post_rx):
            s.close()


def open_channel(kind: str = "memory", latency_s: float = 0.0) -> Channel:
    """A channel by name: ``memory`` or ``tcp``.

    >>> with open_channel("tcp") as ch:
    ...     ch.serve("echo", lambda m: m)
    ...     ch.request("echo", {"a": np.arange(2)})["a"].tolist()
    [0, 1]
    """
    if kind == "memory":
        return InMemoryChannel(latency_s)
    if kind == "tcp":
        return TcpChannel(latency_s)
    raise InputError(f"--channel: unknown channel '{kind}'; choose memory or tcp")
