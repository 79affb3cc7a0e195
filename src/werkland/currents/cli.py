"""Console command ``werkland-circuits``: run a Circuitscape or Omniscape ``.ini`` file.

Examples
--------
``werkland-circuits run job.ini`` runs the job with relative paths resolved against the current
directory (as Circuitscape and Omniscape do); ``--workdir`` and ``--output-dir`` change that.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from werkland._errors import WerklandError
from werkland.currents.ini import run_ini
from werkland.currents.solver import SOLVERS, SolverSettings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="werkland-circuits", description="Circuitscape / Omniscape .ini runner (werkland)")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an .ini file and write the tool's outputs")
    run.add_argument("ini", help="Circuitscape or Omniscape .ini file")
    run.add_argument("--workdir", default=None, help="directory relative paths resolve against (default: .)")
    run.add_argument("--output-dir", default=None, help="re-root relative output paths here")
    run.add_argument("--solver", default="auto", choices=SOLVERS, help="werkland's linear solver")
    run.add_argument("--tolerance", type=float, default=1e-6, help="relative residual of cg+amg")
    run.add_argument("--workers", type=int, default=1, help="processes for Omniscape windows")
    run.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 bad input or failed solve)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    try:
        res = run_ini(args.ini, workdir=args.workdir, output_dir=args.output_dir,
                      settings=SolverSettings(args.solver, args.tolerance), n_workers=args.workers)
    except WerklandError as exc:
        print(f"werkland-circuits: {exc}", file=sys.stderr)
        return 1
    for p in res.written:
        print(p)
    print(f"{res.tool}: {len(res.written)} files, max relative residual {res.residual:.2e}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
