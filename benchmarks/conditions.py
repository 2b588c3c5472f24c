"""The three measured conditions, the interpreter each runs under, and whether it is available right now.

AutoLineage is pip-installed from PyPI into its own venv under the cache, pinned to the project's pandas stack.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import REPO_ROOT, clean_env, log, remove_tree, scratch_dir

AUTOLINEAGE_REQUIREMENT = "autolineage[sklearn]==0.7.1"
# Packages whose versions the AutoLineage venv copies from the project venv, so both measure the same pandas.
PINNED_STACK = ("pandas", "numpy", "pyarrow", "scikit-learn", "joblib")


@dataclass
class Condition:
    """One way of running the same pandas code: its name, interpreter, and availability."""

    name: str
    label: str
    python: str
    pythonpath: list[Path] = field(default_factory=list)
    available: bool = True
    reason: str = ""
    version: str | None = None
    packages: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"label": self.label, "python": self.python, "available": self.available, "reason": self.reason,
                "version": self.version, "packages": self.packages}


def project_versions() -> dict[str, str]:
    """Versions of the pinned stack in the running (project) interpreter."""
    out = {}
    for name in PINNED_STACK:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


_PROBE = r"""
import json, sys, importlib.metadata as md
mode = sys.argv[1]
info = {}
if mode == "openlineage-pandas":
    import openlineage_pandas
    if not callable(getattr(openlineage_pandas, "enable", None)):
        raise SystemExit("openlineage_pandas has no enable() yet")
    openlineage_pandas.enable()
    if callable(getattr(openlineage_pandas, "disable", None)):
        openlineage_pandas.disable()
    info["version"] = getattr(openlineage_pandas, "__version__", None)
else:
    import autolineage
    info["version"] = autolineage.__version__
pk = {}
for name in ("pandas", "numpy", "pyarrow", "scikit-learn", "joblib", "autolineage"):
    try:
        pk[name] = md.version(name)
    except md.PackageNotFoundError:
        pass
info["packages"] = pk
print("PROBE" + json.dumps(info))
"""


def _probe(cond: Condition, cache: Path) -> None:
    """Import (and for openlineage-pandas, enable and disable) the tool in a throwaway process."""
    scratch = scratch_dir(cache, f"probe-{cond.name}")
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(scratch / "store")}, cond.pythonpath)
    try:
        proc = subprocess.run([cond.python, "-c", _PROBE, cond.name], env=env, cwd=scratch, capture_output=True,
                              text=True, timeout=180, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        cond.available, cond.reason = False, f"probe failed: {exc}"
        return
    finally:
        remove_tree(scratch)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("PROBE")), None)
    if proc.returncode != 0 or line is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        cond.available, cond.reason = False, (tail[-1] if tail else f"exit {proc.returncode}")
        return
    info = json.loads(line[5:])
    cond.version = info.get("version")
    cond.packages = info.get("packages", {})


def _pip(python: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--timeout", "30",
           "--retries", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=clean_env())


def ensure_autolineage_venv(cache: Path, install: bool = True) -> tuple[str | None, str]:
    """Return (python of the AutoLineage venv, "") when usable, installing it if missing; else (None, why).

    The venv lives at <cache>/venv-autolineage and is built from this interpreter's base Python. Besides
    autolineage it gets the project's exact versions of pandas, numpy, pyarrow, scikit-learn and joblib, so
    the two tools are measured on the same pandas; if that pinned set cannot be installed, unpinned is tried.
    """
    venv = cache / "venv-autolineage"
    python = venv / "bin" / "python"
    pins = [f"{k}=={v}" for k, v in sorted(project_versions().items())]
    stamp = venv / ".bench-stamp"
    wanted = json.dumps([AUTOLINEAGE_REQUIREMENT, *pins])
    if python.exists() and stamp.exists() and stamp.read_text() in (wanted, "unpinned:" + wanted):
        return str(python), ""
    if not install:
        return None, "AutoLineage venv missing and installation not allowed"
    log(f"installing {AUTOLINEAGE_REQUIREMENT} into {venv} (own venv, pinned to {', '.join(pins)})")
    try:
        if not python.exists():
            base = getattr(sys, "_base_executable", None) or sys.executable
            subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        proc = _pip(str(python), [AUTOLINEAGE_REQUIREMENT, *pins], timeout=900)
        marker = wanted
        if proc.returncode != 0:
            log("pinned install failed; trying AutoLineage with whatever pandas pip picks")
            proc = _pip(str(python), [AUTOLINEAGE_REQUIREMENT, "pyarrow"], timeout=900)
            marker = "unpinned:" + wanted
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if "is ignored" not in ln]
            return None, "pip install failed: " + (lines[-1] if lines else f"exit {proc.returncode}")
        stamp.write_text(marker)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not build the AutoLineage venv: {exc}"
    return str(python), ""


def build_conditions(names: list[str], cache: Path, install_autolineage: bool = True) -> dict[str, Condition]:
    """The requested conditions, each probed; unavailable ones carry the reason instead of failing the run."""
    out: dict[str, Condition] = {}
    for name in names:
        if name == "untracked":
            cond = Condition(name, "untracked pandas", sys.executable, [REPO_ROOT])
            cond.packages = project_versions()
        elif name == "control":
            cond = Condition(name, "untracked pandas again (A/A noise control)", sys.executable, [REPO_ROOT])
            cond.packages = project_versions()
        elif name == "openlineage-pandas":
            cond = Condition(name, "openlineage-pandas (enable())", sys.executable, [REPO_ROOT])
            _probe(cond, cache)
        elif name == "autolineage":
            cond = Condition(name, "AutoLineage 0.7.1 (import autolineage.auto)", "")
            python, why = ensure_autolineage_venv(cache, install_autolineage)
            if python is None:
                cond.available, cond.reason = False, why
            else:
                cond.python = python
                _probe(cond, cache)
        else:
            raise ValueError(f"unknown condition {name!r}")
        if not cond.available:
            log(f"condition {name}: unavailable ({cond.reason})")
        out[name] = cond
    return out
