"""Run one workflow step with logging to the rule's log file and one-line errors for bad input.

Used by the thin ``scripts/`` adapters::

    from werkland.runner import run_step
    run_step(snakemake.log[0], werkland.habitat.run_habitat, ...)

A :class:`~werkland._errors.WerklandInputError` is logged and printed as one line
(``werkland error: <file>: <what> -- fix: <how>``) and the process exits with status 1, so Snakemake
marks the job failed and removes its outputs; other exceptions keep their traceback (they are bugs).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from werkland._errors import WerklandInputError

T = TypeVar("T")

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(log_path: str | None, level: int = logging.INFO) -> None:
    """Send werkland's log records to ``log_path`` (and warnings and errors to stderr)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.setLevel(level)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        fh.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(fh)
    sh = logging.StreamHandler(sys.stderr)
    sh.setLevel(logging.WARNING if log_path else level)
    sh.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(sh)
    for noisy in ("pyogrio", "rasterio", "fiona", "matplotlib", "urllib3", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_step(log_path: str | None, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``func(*args, **kwargs)`` with logging configured; exit 1 with one line on bad input."""
    configure_logging(log_path)
    log = logging.getLogger("werkland.runner")
    t0 = time.perf_counter()
    log.info("start %s.%s", func.__module__, func.__name__)
    try:
        result = func(*args, **kwargs)
    except WerklandInputError as exc:
        log.error("%s", exc)
        print(f"werkland error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    log.info("done %s.%s in %.2f s", func.__module__, func.__name__, time.perf_counter() - t0)
    return result
