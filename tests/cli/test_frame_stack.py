"""`openlineage-pandas run` starts the script's module at the same offset of CPython's frame stack as `python
script.py`, so the script's calls cross frame-stack chunk boundaries exactly where they would untracked."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

from support import clean_env

from openlineage_pandas.cli import frame_stack

SCRIPT = """
    from openlineage_pandas.hooks._speedups import frame_stack_room
    def nested():
        return frame_stack_room()
    print(frame_stack_room(), nested())
"""


def _rooms(cmd: list[str], cwd: Path, **env: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env({"OPENLINEAGE_PANDAS_DIR": str(cwd / "store"), **env}),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_script_gets_the_room_plain_python_gives_it(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    plain = _rooms([sys.executable, str(script)], tmp_path)
    assert _rooms([sys.executable, "-m", "openlineage_pandas", "run", str(script)], tmp_path) == plain
    assert _rooms([sys.executable, "-m", "openlineage_pandas", "run", str(script)], tmp_path,
                  OPENLINEAGE_DISABLED="true") == plain


def test_an_unwidened_runner_would_not() -> None:
    """The comparison above can fail: exec'd from a plain function, the module starts elsewhere."""
    code = compile(textwrap.dedent("from openlineage_pandas.hooks._speedups import frame_stack_room\n"
                                   "room = frame_stack_room()\n"), "<script>", "exec")
    widened: dict[str, object] = {}
    frame_stack.exec_module_code(code, widened)
    plain: dict[str, object] = {}
    unwidened = types.FunctionType(frame_stack._exec_module_code.__code__, {"exec": exec})
    unwidened(code, plain)
    assert widened["room"] != plain["room"]
