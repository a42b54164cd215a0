"""The command line of ``python -m harness whatif`` (its sub-parser), kept out of the shared parser module."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from harness.cores import parse_cores

__all__ = ["add_whatif_parser"]


def add_whatif_parser(sub: argparse._SubParsersAction, command: Callable, engines: Callable, db_help: str,
                      default_db: str, out_note: str) -> None:
    p = sub.add_parser(
        "whatif",
        help="PREDICT each config's wall on P cores (machines you do not have) from the store's task traces",
    )
    p.add_argument("--db", default=default_db, help=db_help + "; needs the serial config's traces (sweep --cores 1)")
    p.add_argument("--scenario", help="a workload id (or unique prefix) of the store (default: every workload with a serial trace)")
    p.add_argument("--cores", type=parse_cores, required=True, help="comma-separated core counts to predict, e.g. 4,16,64")
    p.add_argument("--engine", type=engines, default=["core"], help="comma-separated engines: core, metalearners")
    p.add_argument("--plot", metavar="FILE", help=f"also draw predicted wall vs cores per config into this PNG; {out_note}")
    p.add_argument("--json", dest="json_out", metavar="FILE", help=f"write every prediction as JSON to this file; {out_note}")
    p.add_argument("--recalibrate", action="store_true",
                   help="measure this machine's pool start-up and dispatch costs again (cached next to --db)")
    p.set_defaults(func=command)
