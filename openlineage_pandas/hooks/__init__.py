"""Hooks: the only code in openlineage-pandas that patches anything, each family an `Instrumentor`.

`instrument_all()` patches every library now or when it is first imported; `uninstrument_all()` restores them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from openlineage_pandas.hooks import _lazy
from openlineage_pandas.hooks._patching import Instrumentor, TrackingSwitch, inside_hook, suspended

# (module that triggers it, "module:Class" of the instrumentor). Order matters only for readability.
INSTRUMENTORS: tuple[tuple[str, str], ...] = (
    ("pandas", "openlineage_pandas.hooks.pandas_io:PandasIOInstrumentor"),
    ("pandas", "openlineage_pandas.hooks.pandas_ops:PandasOpsInstrumentor"),
    ("numpy", "openlineage_pandas.hooks.numpy_io:NumpyIOInstrumentor"),
    ("numpy", "openlineage_pandas.hooks.numpy_ops:NumpyOpsInstrumentor"),
    ("pickle", "openlineage_pandas.hooks.pickle_io:PickleInstrumentor"),
    ("joblib", "openlineage_pandas.hooks.pickle_io:JoblibInstrumentor"),
    ("sklearn", "openlineage_pandas.hooks.sklearn:SklearnInstrumentor"),
    ("pandas", "openlineage_pandas.hooks.sql:SqlInstrumentor"),
)

_active: list[Instrumentor] = []


def _load(spec: str) -> type[Instrumentor] | None:
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:  # not written yet / not shipped: nothing to instrument
            return None
        raise
    return getattr(module, class_name)  # type: ignore[no-any-return]


def instrument_all(is_active: TrackingSwitch, column_lineage: bool = True) -> None:
    """Instrument every family, each as soon as its library is imported."""
    for trigger, spec in INSTRUMENTORS:
        if not column_lineage and spec.split(":")[0].endswith(("_ops", "sklearn")):
            continue

        def on_import(_module: ModuleType, spec: str = spec) -> None:
            cls = _load(spec)
            if cls is None:
                return
            instrumentor = cls()
            instrumentor.instrument(is_active)
            _active.append(instrumentor)

        _lazy.when_imported(trigger, on_import)


def uninstrument_all() -> None:
    _lazy.cancel_all()
    while _active:
        _active.pop().uninstrument()


def active_instrumentors() -> list[Instrumentor]:
    return list(_active)


__all__ = ["Instrumentor", "active_instrumentors", "inside_hook", "instrument_all", "suspended",
           "uninstrument_all"]
