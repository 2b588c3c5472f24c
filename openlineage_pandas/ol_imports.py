"""openlineage-python imported safely from several threads: `client_imported()` takes one process-wide lock
(two threads importing the same package tree can deadlock in importlib), `light_module()` loads a dependency-free
module by file, without `openlineage.client/__init__` and its ~0.3 s of transports, for the user's thread.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_lock = threading.RLock()


@contextmanager
def client_imported() -> Iterator[None]:
    """Hold while importing anything under `openlineage.client` (first use per thread costs the import)."""
    with _lock:
        import openlineage.client  # noqa: F401

        yield


@functools.cache
def light_module(name: str) -> ModuleType:
    """`openlineage.client.<name>` (e.g. "uuid", "naming.dataset"), executed from its file under a private module
    name, so neither the package's `__init__` nor another thread's import of it is involved. Falls back to
    the ordinary import (under the lock) on an unusual installation."""
    try:
        spec = importlib.util.find_spec("openlineage")
        for location in list(spec.submodule_search_locations or []) if spec else []:
            path = os.path.join(location, "client", *name.split(".")) + ".py"
            if os.path.isfile(path):
                private = "_openlineage_pandas_ol_" + name.replace(".", "_")
                module_spec = importlib.util.spec_from_file_location(private, path)
                if module_spec is not None and module_spec.loader is not None:
                    module = importlib.util.module_from_spec(module_spec)
                    module_spec.loader.exec_module(module)
                    return module
    except Exception:  # fall through to the ordinary import
        pass
    with client_imported():
        return importlib.import_module(f"openlineage.client.{name}")
