"""Post-import callbacks (`hooks/_lazy.py`): a callback runs once, right after its module's code, and not before."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from openlineage_pandas.hooks import _lazy


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("olp_lazy_")]:
        del sys.modules[name]
    forget_callbacks("olp_lazy_")


def forget_callbacks(prefix: str) -> None:
    """Drop this test's pending callbacks only: an enabled suite may have its own pending (e.g. for sklearn)."""
    with _lazy._lock:
        for name in [n for n in _lazy._callbacks if n.startswith(prefix)]:
            del _lazy._callbacks[name]
        if not _lazy._callbacks and _lazy._finder in sys.meta_path:
            sys.meta_path.remove(_lazy._finder)


def test_the_callback_runs_once_after_the_module_code(module_dir: Path) -> None:
    (module_dir / "olp_lazy_a.py").write_text("VALUE = 1\nDONE = True\n")
    seen: list[tuple[str, bool]] = []
    _lazy.when_imported("olp_lazy_a", lambda module: seen.append((module.__name__, module.DONE)))
    assert seen == []  # not imported yet: nothing happens
    importlib.import_module("olp_lazy_a")
    importlib.import_module("olp_lazy_a")
    assert seen == [("olp_lazy_a", True)]
    assert "olp_lazy_a" not in _lazy._callbacks


def test_an_imported_module_gets_its_callback_at_once(module_dir: Path) -> None:
    (module_dir / "olp_lazy_b.py").write_text("X = 2\n")
    importlib.import_module("olp_lazy_b")
    seen: list[ModuleType] = []
    _lazy.when_imported("olp_lazy_b", seen.append)
    assert [m.X for m in seen] == [2]


def test_a_failing_module_fires_nothing_and_fails_as_it_would(module_dir: Path) -> None:
    (module_dir / "olp_lazy_c.py").write_text("raise ValueError('broken module')\n")
    seen: list[ModuleType] = []
    _lazy.when_imported("olp_lazy_c", seen.append)
    with pytest.raises(ValueError, match="broken module"):
        importlib.import_module("olp_lazy_c")
    assert seen == [] and "olp_lazy_c" not in sys.modules


def test_the_module_keeps_its_own_loader_behind_the_hook(module_dir: Path) -> None:
    (module_dir / "olp_lazy_d.py").write_text("D = 4\n")
    seen: list[ModuleType] = []
    _lazy.when_imported("olp_lazy_d", seen.append)
    module = importlib.import_module("olp_lazy_d")
    assert seen == [module]
    assert module.__spec__.loader.get_filename("olp_lazy_d") == str(module_dir / "olp_lazy_d.py")
