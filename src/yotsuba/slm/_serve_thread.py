"""Running an ASGI app with uvicorn in a background thread.

:func:`free_port` asks the OS for an unused TCP port and :class:`ServerThread` starts uvicorn
in a daemon thread and waits until its socket accepts connections (for tests, benchmarks and
notebooks). Both are re-exported by :mod:`yotsuba.slm.serve`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from yotsuba.core.errors import InputError, require

__all__ = ["ServerThread", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host`` (the OS picks it).

    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Run an app with uvicorn in a background thread (tests, benchmarks, notebooks).

    >>> ServerThread(None, port=-1)
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: port -1: must be 0..65535 (0 picks a free port)
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        if not 0 <= port <= 65535:
            raise InputError(f"port {port}: must be 0..65535 (0 picks a free port)")
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ServerThread:
        """Start serving; return once the socket accepts connections."""
        require("uvicorn", "slm")
        import uvicorn

        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise InputError(f"the server did not start on {self.url} (port in use?)")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
