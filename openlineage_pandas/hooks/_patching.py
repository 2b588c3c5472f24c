"""Reversible monkey-patching with a per-thread reentrancy guard: the one mechanism every hook uses.

`Instrumentor.patch` remembers the exact original object so `uninstrument()` restores it (identity, not a copy).
The guard, the tracking switch and the wrapper run compiled (`_speedups.c`) when that extension was built and
`OPENLINEAGE_PANDAS_SPEEDUPS` is not false; the Python definitions here are the fallback, with the same behaviour.
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from openlineage_pandas import safety as _safety
from openlineage_pandas.config import ConfigError, setting
from openlineage_pandas.safety import fault_point, log, report_failure

_MISSING = object()


def _load_speedups() -> ModuleType | None:
    """The compiled hot path, or None: not built (no C compiler at install) or switched off by the setting."""
    try:
        wanted = setting("SPEEDUPS")
    except ConfigError as exc:
        log.warning("openlineage-pandas: %s; using the default (true)", exc)
        wanted = True
    if not wanted:
        return None
    try:
        from openlineage_pandas.hooks import _speedups
    except ImportError:
        return None
    return _speedups


speedups = _load_speedups()


class _GuardState(threading.local):
    depth: int = 0


class _TrackingSwitch:
    """Whether hooks record. Read on every hooked call (and by pandas' internal attribute lookups of hooked
    methods), so it is an attribute read rather than a function call; calling it answers the same."""

    __slots__ = ("on",)

    def __init__(self) -> None:
        self.on = False

    def __call__(self) -> bool:
        return self.on


if TYPE_CHECKING or speedups is None:
    TrackingSwitch = _TrackingSwitch
    _guard: Any = _GuardState()
else:
    TrackingSwitch = speedups.TrackingSwitch
    _guard = speedups.guard

tracking = TrackingSwitch()


def inside_hook() -> bool:
    """True while this thread is already inside a hooked call (or inside our own recording code)."""
    return _guard.depth > 0


@contextmanager
def suspended() -> Iterator[None]:
    """Run tracker-internal code without its pandas calls being recorded as user operations."""
    _guard.depth += 1
    try:
        yield
    finally:
        _guard.depth -= 1


# Called after a hooked call returned: (call, result) -> None. Must never raise (it is guarded anyway).
Recorder = Callable[["HookedCall", Any], None]
# The hottest methods' fast path: (args, kwargs, result) -> True when it recorded the call itself (no HookedCall).
FastRecorder = Callable[[tuple[Any, ...], dict[str, Any], Any], bool]


@dataclass(slots=True)
class HookedCall:
    """What a recorder needs to know about one intercepted call."""

    name: str  # e.g. "pandas.read_csv" or "DataFrame.merge"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    target_position: int  # 0 for functions, 1 for methods (after self)
    original: Callable[..., Any]

    def argument(self, position: int, name: str, default: Any = None) -> Any:
        """An argument given positionally or by keyword."""
        if len(self.args) > position:
            return self.args[position]
        return self.kwargs.get(name, default)

    @property
    def target(self) -> Any:
        """The first argument whatever the call form: positional, keyword (`path=`, `io=`, ...) or **kwargs."""
        if len(self.args) > self.target_position:
            return self.args[self.target_position]
        name = _positional_param(self.original, self.target_position)
        return self.kwargs.get(name) if name is not None else None

    @property
    def receiver(self) -> Any:
        """`self` for a method call."""
        return self.args[0] if self.target_position and self.args else None


@functools.lru_cache(maxsize=4096)
def _positional_param(func: Callable[..., Any], position: int) -> str | None:
    """The name of a positional parameter; computed on first keyword-form call, not at patch time."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[position] if len(positional) > position else None


_hidden_codes: dict[Any, Any] = {}
# Python's warnings machinery skips frames whose file name contains both "importlib" and "_bootstrap" (that is
# how importlib hides itself); giving our wrapper code such a name keeps every warning's location on the user's
# line, both for fixed stack levels and for pandas' find_stack_level(). Tracebacks still show the frame.
HIDDEN_FRAME_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_hooked_call_importlib_bootstrap.py")


def hidden_from_warnings(fn: Any) -> Any:
    """A copy of function `fn` whose frames warnings step over (behaviour otherwise identical)."""
    if not isinstance(fn, types.FunctionType):
        return fn
    code = fn.__code__
    hidden = _hidden_codes.get(code)
    if hidden is None:
        hidden = _hidden_codes[code] = code.replace(co_filename=HIDDEN_FRAME_FILE)
    copy = types.FunctionType(hidden, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__dict__.update(fn.__dict__)
    copy.__doc__, copy.__qualname__, copy.__module__ = fn.__doc__, fn.__qualname__, fn.__module__
    copy.__annotations__ = fn.__annotations__
    return copy


def make_wrapper(name: str, original: Callable[..., Any], recorder: Recorder,
                 is_active: TrackingSwitch, method: bool = False, fast: FastRecorder | None = None,
                 materialize: str | None = None) -> Callable[..., Any]:
    """Wrap `original` so that, outermost per thread and while tracking is active, `recorder` sees the call.

    The user's call runs exactly once with the user's own arguments; its result or exception is returned
    unchanged. A recorder failure is reported once and swallowed. `fast`, when given, sees the call first and
    records the common case straight from the arguments (no `HookedCall`); `recorder` gets the rest.
    `materialize` names the first parameter when a one-shot iterator given there must become a list before
    the call (`pd.concat(generator)`), so the recorder sees the objects the original consumed.
    """
    target_position = 1 if method else 0
    if speedups is not None:
        return compiled_wrapper(speedups.Wrapper, name, original, recorder, is_active, target_position, fast,
                                materialize)
    guard = _guard

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if guard.depth or not is_active.on:
            return original(*args, **kwargs)
        if materialize is not None:
            args, kwargs = materialized(args, kwargs, materialize)
        guard.depth += 1
        try:
            result = original(*args, **kwargs)
            try:
                if _safety.fault_injection:
                    fault_point("hooks")
                if fast is None or not fast(args, kwargs, result):
                    recorder(HookedCall(name, args, kwargs, target_position, original), result)
            except Exception as exc:  # never let lineage break the user's call
                report_failure(f"hook {name}", exc)
            return result
        finally:
            guard.depth -= 1

    wrapper.__code__ = _hidden_wrapper_code(wrapper.__code__)  # type: ignore[attr-defined]
    wrapper.__openlineage_pandas_original__ = original  # type: ignore[attr-defined]
    return wrapper


def compiled_wrapper(compiled_type: Any, name: str, original: Callable[..., Any], recorder: Recorder,
                     is_active: TrackingSwitch, target_position: int = 0, fast: FastRecorder | None = None,
                     materialize: str | None = None) -> Any:
    """A compiled wrapper (`_speedups.Wrapper` or its `FunctionProxy`) of `original`, introspectable as it."""
    compiled = compiled_type(name, original, recorder, is_active, target_position, fast, materialize)
    functools.update_wrapper(compiled, original)
    compiled.__openlineage_pandas_original__ = original
    return compiled


def materialized(args: tuple[Any, ...], kwargs: dict[str, Any], first: str
                 ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments with a one-shot iterator given as the first parameter (`first`) turned into a list."""
    if args:
        if _is_iterator(args[0]):
            return (list(args[0]), *args[1:]), kwargs
    elif first in kwargs and _is_iterator(kwargs[first]):
        return args, {**kwargs, first: list(kwargs[first])}
    return args, kwargs


def _is_iterator(value: Any) -> bool:
    # lists and tuples first: `hasattr` on them raises and catches an AttributeError
    return type(value) is not list and type(value) is not tuple and hasattr(value, "__next__")


def _hidden_wrapper_code(code: Any) -> Any:
    hidden = _hidden_codes.get(code)
    if hidden is None:
        hidden = _hidden_codes[code] = code.replace(co_filename=HIDDEN_FRAME_FILE)
    return hidden


if speedups is not None:
    speedups.configure(HookedCall, report_failure, functools.partial(fault_point, "hooks"), vars(_safety))


@dataclass(slots=True)
class _Patch:
    owner: Any
    attribute: str
    original: Any  # the object found in owner.__dict__, or _MISSING when it was inherited
    replacement: Any


class Instrumentor:
    """Base for a family of hooks (pandas I/O, numpy I/O, ...), in the style of OpenTelemetry instrumentors.

    Subclasses implement `_instrument()` by calling `self.patch(...)`; `uninstrument()` undoes every patch.
    """

    name = "instrumentor"

    def __init__(self) -> None:
        self._patches: list[_Patch] = []
        self._lock = threading.RLock()

    @property
    def is_instrumented(self) -> bool:
        return bool(self._patches)

    def available(self) -> bool:
        """Whether the library this instrumentor patches is importable (optional extras)."""
        return True

    def instrument(self, is_active: TrackingSwitch) -> None:
        with self._lock:
            if self._patches or not self.available():
                return
            self._is_active = is_active
            try:
                self._instrument()
            except Exception as exc:
                self.uninstrument()
                report_failure(f"instrumenting {self.name}", exc)

    def uninstrument(self) -> None:
        with self._lock:
            for patch in reversed(self._patches):
                if patch.original is _MISSING:
                    try:
                        delattr(patch.owner, patch.attribute)
                    except AttributeError:
                        pass
                else:
                    setattr(patch.owner, patch.attribute, patch.original)
            self._patches.clear()

    def _instrument(self) -> None:
        raise NotImplementedError

    def patch(self, owner: Any, attribute: str, recorder: Recorder, label: str | None = None) -> None:
        """Replace `owner.attribute` with a recording wrapper; remembers the original for `uninstrument`.

        `owner` is a module (functions) or a class (methods: the recorder's call has `receiver`).
        """
        found = owner.__dict__.get(attribute, _MISSING) if hasattr(owner, "__dict__") else _MISSING
        current = getattr(owner, attribute, _MISSING)
        if current is _MISSING:
            return
        if getattr(current, "__openlineage_pandas_original__", None) is not None:
            return  # already wrapped by us (e.g. an inherited attribute patched on the base class)
        label = label or f"{getattr(owner, '__name__', owner)}.{attribute}"
        replacement: Any
        if isinstance(found, (staticmethod, classmethod)):
            replacement = type(found)(make_wrapper(label, found.__func__, recorder, self._is_active,
                                                   method=isinstance(found, classmethod)))
        else:
            replacement = make_wrapper(label, current, recorder, self._is_active,  # type: ignore[arg-type]
                                       method=isinstance(owner, type))
        setattr(owner, attribute, replacement)
        self._patches.append(_Patch(owner, attribute, found, replacement))

    def patched_attributes(self) -> list[tuple[Any, str]]:
        return [(p.owner, p.attribute) for p in self._patches]
