"""Lineage computed on first use: a hooked operation stores a small thunk over pure rule functions instead of
running the rule, so results nobody writes or inspects never cost more than the thunk.

Chains are depth-capped (`MAX_DEPTH`), so a long-lived frame never holds more than a few dozen thunks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from openlineage_pandas.provenance.model import FrameLineage, over_approximate

# Beyond this many unevaluated steps behind a result, the next operation evaluates the chain first: the cost of a
# long `for ...: df = df.op()` loop stays that of eager evaluation, and its memory one thunk per step up to here.
MAX_DEPTH = 32

# OPENLINEAGE_PANDAS_EAGER_LINEAGE: every thunk is evaluated as it is made (set by `enable()`).
eager = False


class Deferred:
    """`fn(*args)` evaluated once, on first use. Arguments that are themselves Deferred are evaluated first.

    Arguments must never be user objects that own rows (frames, Series, arrays): only lineage, column-label
    axes (immutable), labels and small plain values, so a thunk retains O(columns) memory. `token` plays the
    same role as `FrameLineage.token`; `labels` (an iterable of the result's column labels) serves the
    over-approximation if `fn` fails.
    """

    __slots__ = ("args", "depth", "fn", "labels", "name", "token", "value")

    def __init__(self, name: str, fn: Callable[..., FrameLineage], args: tuple[Any, ...],
                 labels: Iterable[Hashable] | None, depth: int) -> None:
        self.name = name
        self.fn = fn
        self.args: tuple[Any, ...] | None = args
        self.labels = labels
        self.depth = depth
        self.token: object = None
        self.value: FrameLineage | None = None
        if eager:
            self.force()

    def force(self) -> FrameLineage:
        value = self.value
        if value is not None:
            return value
        args = self.args or ()
        resolved = tuple(a.force() if type(a) is Deferred else a for a in args)
        try:
            value = self.fn(*resolved)
        except Exception as exc:  # a rule bug must not lose the lineage: over-approximate, say so once
            from openlineage_pandas.safety import report_failure

            report_failure(f"lineage rule {self.name}", exc)
            value = over_approximate([a for a in resolved if isinstance(a, FrameLineage)],
                                     list(self.labels) if self.labels is not None else [], self.name)
        self.value = value
        self.args = self.labels = None  # the chain behind is no longer needed
        return value


def defer(name: str, fn: Callable[..., FrameLineage], *args: Any,
          labels: Iterable[Hashable] | None = None) -> Deferred | FrameLineage:
    """A thunk for `fn(*args)`, or its value right away when the chain behind it has reached MAX_DEPTH."""
    depth = 0
    for arg in args:
        if type(arg) is Deferred and arg.value is None and arg.depth > depth:
            depth = arg.depth
    thunk = Deferred(name, fn, args, labels, depth + 1)
    if depth >= MAX_DEPTH:
        return thunk.force()
    return thunk


def force(value: Deferred | FrameLineage | None) -> FrameLineage | None:
    """The lineage itself, evaluating a thunk."""
    if type(value) is Deferred:
        return value.force()
    return value  # type: ignore[return-value]


__all__ = ["MAX_DEPTH", "Deferred", "defer", "force"]
