"""`openlineage-pandas run script.py args...`: run an unchanged script (or `-m module`) with tracking on.

argv, `__main__`, the exit code, stdout/stderr and uncaught exceptions behave as with `python script.py`.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import types
from collections.abc import Sequence
from typing import Any

from openlineage_pandas.cli.frame_stack import exec_module_code

USAGE = """usage: openlineage-pandas run [-m module | script.py] [args ...]

Runs the script exactly as `python script.py args ...` would, with lineage tracking on.
Events go to the configured OpenLineage transport, or to ./.openlineage/events.jsonl."""


def register(sub: Any) -> None:
    parser = sub.add_parser("run", help="run a Python script (or -m module) with lineage tracking on",
                            add_help=False)
    parser.add_argument("target", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=lambda args: run_command(list(args.target)))


def _exec_script(path: str) -> None:
    """Execute `path` as the real `__main__` module, the way the interpreter does."""
    with open(path, "rb") as handle:
        source = handle.read()
    code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__  # type: ignore[attr-defined]
    main.__dict__.update({"__spec__": None, "__package__": None, "__loader__": None, "__cached__": None})
    sys.modules["__main__"] = main
    exec_module_code(code, main.__dict__)


def _print_uncaught(exc: BaseException) -> None:
    """Print the traceback without our own frames, through sys.excepthook like the interpreter."""
    tb = exc.__traceback__
    here = os.path.dirname(os.path.abspath(__file__))
    runpy_file = getattr(runpy, "__file__", "") or ""
    while tb is not None and (os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(here)
                              or tb.tb_frame.f_code.co_filename == runpy_file
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen runpy")):
        tb = tb.tb_next
    exc.__traceback__ = tb  # the default hook prints the exception's own traceback
    sys.excepthook(type(exc), exc, tb)


def run_command(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    module_mode = args[0] == "-m"
    if module_mode:
        if len(args) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        target = args[1]
        script_path = None
        sys.argv = [target, *args[2:]]
        sys.path[0] = os.getcwd()
    else:
        target = args[0]
        script_path = os.path.abspath(target)
        if not os.path.isfile(script_path):
            print(f"openlineage-pandas run: can't open file {target!r}: No such file or directory",
                  file=sys.stderr)
            return 2
        sys.argv = [target, *args[1:]]
        sys.path[0] = os.path.dirname(script_path)

    from openlineage_pandas import run as runs
    from openlineage_pandas.api import enable_from_environment

    job_name = None if script_path else target.rsplit(".", 1)[-1]
    enable_from_environment(job_name=job_name, script_path=script_path)
    try:
        if module_mode:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            _exec_script(script_path)  # type: ignore[arg-type]
    except SystemExit as exc:
        code = exc.code
        if code in (None, 0):
            runs.end_process_run()
        else:
            runs.end_process_run(exc)
        raise
    except BaseException as exc:
        runs.end_process_run(exc)
        if isinstance(exc, KeyboardInterrupt):
            raise
        _print_uncaught(exc)
        return 1
    runs.end_process_run()
    return 0
