"""The exception tree shared by every engine, and the CLI exit codes it maps to.

::

    YotsubaError                      exit 1 unless a subclass says otherwise
    ├── InputError                    exit 2: the user can fix it (bad value, file, option)
    │   ├── ConfigError               a config file or field is wrong (names file:line, field)
    │   └── MissingExtraError         an optional extra is not installed (names the pip command)
    └── InternalError                 exit 1: a bug in yotsuba (asks to report it)

Engines raise :class:`InputError` (or a subclass) for anything a user typed or supplied, with a
message of one line that says *what* was wrong, *where*, and *how to fix it*. Everything else
that escapes is a bug, and the CLI turns it into exit code 1 with a hint to report it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2


class YotsubaError(Exception):
    """Base of every error yotsuba raises on purpose."""

    exit_code: int = EXIT_INTERNAL


class InputError(YotsubaError, ValueError):
    """Bad input the user can fix: a value out of range, an unknown name, a malformed file.

    Examples
    --------
    >>> raise InputError("distance_km = -1 is out of range: must be >= 0")
    Traceback (most recent call last):
    ...
    yotsuba.core.errors.InputError: distance_km = -1 is out of range: must be >= 0
    """

    exit_code = EXIT_INPUT


class ConfigError(InputError):
    """A config file or one of its fields is wrong.

    Parameters
    ----------
    message
        What is wrong and what would be accepted.
    path
        The file the value came from, if any.
    line
        1-based line of the offending value in ``path``, if known.
    field
        Dotted name of the offending field, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.detail = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        what = f"{field}: " if field else ""
        super().__init__(f"{where}{what}{message}")


class MissingExtraError(InputError):
    """An optional dependency is missing; the message carries the exact install command."""

    def __init__(self, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"this needs the Python package '{module}', which is not installed: "
            f"run  pip install 'yotsuba[{extra}]'"
        )

    def __reduce__(self) -> tuple[type[MissingExtraError], tuple[str, str]]:
        # Rebuild from (module, extra) so the error survives pickling (process/Dask workers).
        return (type(self), (self.module, self.extra))


class InternalError(YotsubaError):
    """A bug: something yotsuba assumed turned out false."""

    exit_code = EXIT_INTERNAL


def require(module: str, extra: str) -> object:
    """Import an optional module or raise :class:`MissingExtraError` naming the extra.

    >>> require("json", "core").__name__
    'json'
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module, extra) from exc
