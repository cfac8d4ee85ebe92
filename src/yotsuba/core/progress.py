"""Progress bars on stderr for long work, and nothing at all for short or unattended work.

A bar appears only when stderr is a terminal (and ``YOTSUBA_NO_PROGRESS`` is unset) and only
once the work has run for :data:`START_DELAY_S` seconds, so quick commands print nothing and
pipes, CI logs and ``--json`` output stay clean. It shows the description, a bar, the count
done out of the total, the rate in items per second, and the elapsed and remaining time.
It is drawn with rich on stderr and removed when the work ends.

>>> with progress(3, "points", enabled=False) as bar:
...     for _ in range(3):
...         bar.advance()
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["ENV_DISABLE", "START_DELAY_S", "ProgressHandle", "progress", "progress_enabled"]

# Work shorter than this shows no bar at all (the bar would only flicker).
START_DELAY_S = 1.0
# Setting this environment variable (to anything) turns every progress bar off.
ENV_DISABLE = "YOTSUBA_NO_PROGRESS"


class ProgressHandle(Protocol):
    """What :func:`progress` yields: something to tell that ``n`` more items are done."""

    def advance(self, n: int = 1) -> None:
        """Record that ``n`` more items are done."""


class _NullProgress:
    """The disabled bar: advancing it costs one method call."""

    __slots__ = ()

    def advance(self, n: int = 1) -> None:
        return None


class _RichProgress:
    """A rich bar that starts drawing only after :data:`START_DELAY_S` seconds."""

    def __init__(self, bar: Progress, task_id: Any) -> None:
        self._bar = bar
        self._task_id = task_id

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task_id, n)


def progress_enabled(enabled: bool | None = None) -> bool:
    """Whether a bar should be drawn: ``enabled`` if given, else stderr is a terminal and
    ``YOTSUBA_NO_PROGRESS`` is unset.

    >>> progress_enabled(False)
    False
    """
    if enabled is not None:
        return bool(enabled)
    if os.environ.get(ENV_DISABLE) is not None:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty is not None and isatty())


def _make_bar(total: int | None, description: str) -> tuple[Progress, Any]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, e.g. ``12.5 it/s``."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("? it/s", style="progress.data.speed")
            return Text(f"{speed:.3g} it/s", style="progress.data.speed")

    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=True,
    )
    task_id = bar.add_task(description, total=total)
    return bar, task_id


@contextmanager
def progress(
    total: int | None, description: str, *, enabled: bool | None = None
) -> Iterator[ProgressHandle]:
    """A progress bar on stderr for ``total`` items, drawn only for work longer than ~1 s.

    Parameters
    ----------
    total
        Number of items (sweep points, records, ...); ``None`` when unknown (a pulsing bar).
    description
        Short label shown left of the bar, e.g. ``"qkd sweep"``.
    enabled
        ``True``/``False`` to force the bar on or off; ``None`` (default): on only when
        stderr is a terminal and the environment variable ``YOTSUBA_NO_PROGRESS`` is unset.

    Yields
    ------
    ProgressHandle
        Call ``.advance(n)`` as ``n`` more items complete. Disabled, it does nothing and
        imports nothing.

    Examples
    --------
    >>> with progress(10, "chunks", enabled=False) as bar:
    ...     bar.advance(10)
    """
    if total is not None and total < 0:
        from yotsuba.core.errors import InputError

        raise InputError(f"progress total = {total} is out of range: must be >= 0 or None")
    if not progress_enabled(enabled):
        yield _NullProgress()
        return
    bar, task_id = _make_bar(total, description)
    started = threading.Event()
    lock = threading.Lock()

    def start() -> None:
        with lock:
            if not started.is_set():
                bar.start()
                started.set()

    timer = threading.Timer(START_DELAY_S, start)
    timer.daemon = True
    timer.start()
    try:
        yield _RichProgress(bar, task_id)
    finally:
        timer.cancel()
        with lock:
            # Once the lock is held the timer either has started the bar or never will.
            started.set()
            if bar.live.is_started:
                bar.stop()
