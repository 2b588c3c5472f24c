"""The zero-code runner behaves exactly like `python script.py`: argv, __main__, exit codes, stdout/stderr,
uncaught exceptions; and the run's events are START ... COMPLETE, or START then FAIL."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import check_events_file, clean_env, read_events

BIN = Path(sys.executable).parent / "openlineage-pandas"

SCRIPTS = {
    "ok": """
        import pickle, sys
        import pandas as pd
        class Point:  # classes defined in __main__ must pickle as with `python script.py`
            pass
        print("argv", sys.argv[1:], "name", __name__, "file", __file__.endswith("ok.py"))
        pickle.loads(pickle.dumps(Point()))
        pd.DataFrame({"a": [1, 2]}).to_csv("out.csv", index=False)
        print("to stderr", file=sys.stderr)
    """,
    "exit3": """
        import sys
        print("before exit")
        sys.exit(3)
    """,
    "exit_message": """
        import sys
        sys.exit("fatal: bad input")
    """,
    "boom": """
        import pandas as pd
        def helper():
            raise ValueError("bad value 42")
        pd.DataFrame({"a": [1]}).to_csv("partial.csv")
        helper()
    """,
}


def _write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(SCRIPTS[name]))
    return path


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(cwd / "store")})
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _events(cwd: Path) -> list[dict]:
    return read_events(cwd / "store" / "events.jsonl")


@pytest.mark.parametrize("name", ["ok", "exit3", "exit_message", "boom"])
@pytest.mark.parametrize("launcher", ["console-script", "python-m"])
def test_runner_output_and_exit_code_match_plain_python(tmp_path, name, launcher):
    script = _write(tmp_path, name)
    plain = _run([sys.executable, script.name, "--epochs", "3", "x y"], tmp_path)
    runner = [str(BIN), "run"] if launcher == "console-script" else [sys.executable, "-m", "openlineage_pandas", "run"]
    tracked = _run([*runner, script.name, "--epochs", "3", "x y"], tmp_path)
    assert tracked.returncode == plain.returncode
    assert tracked.stdout == plain.stdout
    assert tracked.stderr == plain.stderr
    events = _events(tmp_path)
    states = [e["eventType"] for e in events]
    assert states[0] == "START" and states.count("START") == 1
    assert states[-1] == ("COMPLETE" if plain.returncode == 0 else "FAIL")
    assert events[-1]["job"]["name"] == name
    check_events_file(tmp_path / "store" / "events.jsonl")


def test_failing_script_yields_start_then_fail_with_stack_trace(tmp_path):
    script = _write(tmp_path, "boom")
    result = _run([str(BIN), "run", script.name], tmp_path)
    assert result.returncode == 1
    assert "ValueError: bad value 42" in result.stderr and "openlineage_pandas" not in result.stderr
    events = _events(tmp_path)
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "FAIL"]
    error = events[-1]["run"]["facets"]["errorMessage"]
    assert error["message"] == "ValueError: bad value 42"
    assert "in helper" in error["stackTrace"] and error["programmingLanguage"] == "python"
    assert [o["name"] for o in events[-1]["outputs"]] == [str(tmp_path / "partial.csv")]


def test_auto_import_tracks_and_fails_on_uncaught_exception(tmp_path):
    script = tmp_path / "auto_boom.py"
    script.write_text("import openlineage_pandas.auto\nraise RuntimeError('nope')\n")
    result = _run([sys.executable, script.name], tmp_path)
    assert result.returncode == 1 and "RuntimeError: nope" in result.stderr
    assert [e["eventType"] for e in _events(tmp_path)] == ["START", "FAIL"]


def test_module_mode_runs_a_module_as_main(tmp_path):
    (tmp_path / "pkgmod.py").write_text("import sys\nprint(__name__, sys.argv[1:])\n")
    result = _run([str(BIN), "run", "-m", "pkgmod", "a", "b"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "__main__ ['a', 'b']"
    assert _events(tmp_path)[-1]["job"]["name"] == "pkgmod"


def test_missing_script_is_reported_like_python(tmp_path):
    result = _run([str(BIN), "run", "nope.py"], tmp_path)
    assert result.returncode == 2 and "nope.py" in result.stderr


def test_bad_setting_is_reported_and_the_script_still_runs(tmp_path):
    script = _write(tmp_path, "ok")
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(tmp_path / "store"), "OPENLINEAGE_PANDAS_FLUSH_TIMEOUT": "soon"})
    result = subprocess.run([str(BIN), "run", script.name], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "argv" in result.stdout
    assert "OPENLINEAGE_PANDAS_FLUSH_TIMEOUT='soon'" in result.stderr and "accepted values" in result.stderr


def test_openlineage_url_env_is_honoured_and_not_leaked_to_children(tmp_path):
    """With OPENLINEAGE_URL set, events do not go to the local store, and no OPENLINEAGE__ variables leak."""
    script = tmp_path / "env_probe.py"
    script.write_text("import os, json\nprint(json.dumps(sorted(k for k in os.environ if k.startswith('OPENLINEAGE__'))))\n"
                      "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('o.csv')\n")
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(tmp_path / "store"), "OPENLINEAGE_URL": "http://127.0.0.1:9",
                     "OPENLINEAGE_PANDAS_FLUSH_TIMEOUT": "1"})
    result = subprocess.run([str(BIN), "run", script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == []
    assert not (tmp_path / "store" / "events.jsonl").exists()
