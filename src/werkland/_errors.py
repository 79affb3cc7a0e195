"""Exceptions with messages a user can act on.

Every error raised for bad input names the file (or config key), the field, and the fix, so the
workflow log shows one clear line instead of a traceback from deep inside a library.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class WerklandError(Exception):
    """Base class of all werkland errors."""


class WerklandInputError(WerklandError, ValueError):
    """Bad input data or configuration.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str, optional
        The file or config key concerned.
    fix : str, optional
        What the user should do about it.
    """

    def __init__(self, message: str, *, path: str | None = None, fix: str | None = None) -> None:
        self.path = path
        self.fix = fix
        parts = []
        if path:
            parts.append(f"{path}: ")
        parts.append(message)
        if fix:
            parts.append(f" -- fix: {fix}")
        super().__init__("".join(parts))


def unreadable(what: str, exc: BaseException, path: str, fix: str | None = None) -> WerklandInputError:
    """The error for a file a library could not read: ``cannot read <what> (<first line of its message>)``.

    Use as ``raise unreadable("raster", exc, path, fix) from exc``.
    """
    first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return WerklandInputError(f"cannot read {what} ({first})", path=path, fix=fix)


def closest(key: str, valid: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest valid key, or ``""`` when none is close."""
    match = difflib.get_close_matches(str(key), sorted(map(str, valid)), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def reject_unknown(given: Iterable[str], valid: Iterable[str], *, where: str, path: str = "config") -> None:
    """Raise for the first key of ``given`` that is not in ``valid``, naming the closest valid key.

    Raises
    ------
    WerklandInputError
        ``config: regions.demo: unknown key 'contxt_buffer_m' (did you mean 'context_buffer_m'?)``.
    """
    valid = list(valid)
    unknown = [k for k in given if k not in valid]
    if unknown:
        k = unknown[0]
        raise WerklandInputError(
            f"{where}: unknown key {k!r}{closest(k, valid)}",
            path=path,
            fix=f"use one of: {', '.join(sorted(map(str, valid)))}",
        )
