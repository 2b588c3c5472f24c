"""Types of the compiled hot path (`_speedups.c`); the pure-Python fallback lives in _patching.py and pandas_ops.py."""

from collections.abc import Callable
from typing import Any

class Guard:
    depth: int

guard: Guard

class TrackingSwitch:
    on: bool
    def __call__(self) -> bool: ...

class Wrapper:
    original: Any
    fast: Any
    def __init__(self, name: str, original: Callable[..., Any], recorder: Callable[[Any, Any], None],
                 is_active: TrackingSwitch, target_position: int,
                 fast: Callable[[tuple[Any, ...], dict[str, Any], Any], bool] | None = None,
                 materialize: str | None = None) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __get__(self, obj: Any, objtype: Any = None) -> Any: ...

class FunctionProxy(Wrapper):
    """A Wrapper compared, hashed and printed as `original`, reading the attributes it lacks from it."""

class HookedMethod:
    original: Any
    wrapper: Any
    is_active: TrackingSwitch
    chained: str | None
    def __init__(self, original: Any, wrapper: Any, is_active: TrackingSwitch, chained: str | None = None) -> None: ...
    def __get__(self, obj: Any, objtype: Any = None) -> Any: ...

class RefcountProbe:
    def __init__(self, seen: list[int], returned: Any) -> None: ...
    def __get__(self, obj: Any, objtype: Any = None) -> Any: ...

def configure(hooked_call: Callable[..., Any], report_failure: Callable[[str, BaseException], None],
              fault_point: Callable[[], None], safety_namespace: dict[str, Any]) -> None: ...
def configure_chained(factory: Callable[[Any, Any], Any], temporary_refs: int) -> None: ...
def frame_stack_room() -> int: ...

class ThenCall:
    def __init__(self, first: Callable[..., Any], then: Callable[..., Any]) -> None: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

class FastRecorder:
    kind: str
    label: str
    original: Any
    rule: Any
    logged: bool
    fallback: Callable[[tuple[Any, ...], dict[str, Any], Any], bool]
    def __init__(self, kind: str, label: str, fallback: Callable[[tuple[Any, ...], dict[str, Any], Any], bool],
                 original: Any = None, rule: Any = None, logged: bool = True) -> None: ...
    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool: ...

def configure_pandas(names: dict[str, Any]) -> None: ...
def log_operation(name: str, before: Any, after: Any, lin_before: Any, lin_after: Any) -> None: ...
def chained_thunk(label: str, fn: Callable[..., Any], args: tuple[Any, ...], labels: Any, base: Any) -> Any: ...
