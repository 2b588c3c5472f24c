"""Entry point of the `openlineage-pandas` console script and of `python -m openlineage_pandas`.

Sub-command modules are imported lazily by name so `openlineage-pandas run` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> module in openlineage_pandas.cli that defines register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "run": "run",
    "summary": "summary",
    "replay": "replay",
    "status": "status",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openlineage-pandas",
        description="OpenLineage lineage for pandas, numpy, pickle/joblib and scikit-learn.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in dict.fromkeys(SUBCOMMANDS.values()):
        try:
            module = importlib.import_module(f"openlineage_pandas.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"openlineage_pandas.cli.{module_name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "run":
        # `run` hands everything after the script path to the script untouched, so argparse never sees it.
        from openlineage_pandas.cli.run import run_command

        return run_command(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
