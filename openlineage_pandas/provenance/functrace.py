"""Which columns a user function reads: static analysis of lambdas and functions passed to apply/assign/agg.

Source (AST) first, bytecode names when the source is unavailable; "every column" only as the stated fallback.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import linecache
import threading
import types
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# How the traced parameter is shaped: a whole frame (assign, pipe, groupby.apply), one row of a frame
# (apply(axis=1): a Series indexed by the column labels) or a single column (Series.apply).
FRAME = "frame"
ROW = "row"

# Attribute names that read no column values (metadata), on frames and on row Series.
_METADATA = frozenset({
    "shape", "index", "columns", "name", "dtypes", "dtype", "size", "ndim", "empty", "attrs", "flags", "axes",
})
# Methods whose result is the same frame with the same columns (rows filtered, reordered or cleaned): we keep
# following what is read from their result instead of concluding "everything".
_FRAME_PRESERVING = frozenset({
    "copy", "dropna", "fillna", "head", "tail", "sort_values", "sort_index", "reset_index", "drop_duplicates",
    "sample", "nlargest", "nsmallest", "ffill", "bfill", "infer_objects", "set_index",
})
# Functions that look at a frame without reading its values.
_HARMLESS_CALLS = frozenset({"len", "isinstance", "type", "id", "print", "repr", "hasattr", "callable"})
# Bytecode names that imply reading every value of the argument.
_WHOLE_ATTRS = frozenset({
    "values", "to_numpy", "iloc", "iat", "items", "iterrows", "itertuples", "sum", "mean", "min", "max", "std",
    "var", "median", "prod", "apply", "map", "agg", "aggregate", "transform", "describe", "tolist", "to_dict",
    "T", "transpose", "any", "all", "count", "nunique", "isna", "notna", "isnull", "notnull", "abs", "round",
    "astype", "keys", "__array__",
})
_MAX_DEPTH = 4
_CACHE_MAX = 2048


@dataclass(frozen=True, slots=True)
class Trace:
    """What a function reads from its traced parameter.

    `columns` are the labels read, a subset of the available columns in their order. `complete` is False when
    some use could not be analysed: callers then depend on every column and say so. `identity` is the column
    label when the function just returns that column unchanged (`lambda d: d["a"]`).
    """

    columns: tuple[Hashable, ...]
    complete: bool
    identity: Hashable | None = None
    method: str = "source"

    @property
    def note(self) -> str | None:
        if self.complete:
            return None
        return f"function not traceable ({self.method}): every column assumed"


@dataclass(slots=True)
class _Analysis:
    """Code-object-level facts, independent of the call: reused for every call of the same function."""

    labels: set[Hashable]  # constant labels (subscripts, .get(), .loc)
    attributes: set[str]  # `p.name` candidates: columns only if the frame has them
    names: set[str]  # variables used as labels, resolved per call from closure/globals
    callees: list[tuple[str, int]]  # (function name, argument position) receiving the parameter whole
    whole: bool  # the parameter is used as a whole (exact: every column)
    unknown: bool  # a use we cannot analyse (over-approximation)
    identity: Hashable | None
    method: str


_cache: dict[int, tuple[Any, int, str, _Analysis]] = {}
_cache_lock = threading.Lock()
_trees: dict[str, tuple[list[str], ast.Module | None]] = {}


def trace_columns(func: Any, available: Sequence[Hashable], kind: str = FRAME, param: int = 0) -> Trace:
    """The columns of `available` that `func` reads from its parameter number `param`."""
    return _trace(func, available, kind, param, 0)


def label_only_analysis(func: Any, kind: str = FRAME, param: int = 0) -> _Analysis | None:
    """The code-level analysis of a plain function whose trace depends on nothing but the labels it will see
    (no closure variable or global looked up): `resolve_labels` gives its trace later, from labels alone, equal
    to what `trace_columns` gives now. None for any other callable."""
    if type(func) is not types.FunctionType:
        return None
    analysis = _analysis(func.__code__, param, kind)
    return analysis if not analysis.names and not analysis.callees else None


def resolve_labels(analysis: _Analysis, available: Sequence[Hashable]) -> Trace:
    """`trace_columns(func, available)` for the function `label_only_analysis` accepted."""
    return _resolve(None, analysis, available, FRAME, 0)


def _trace(func: Any, available: Sequence[Hashable], kind: str, param: int, depth: int) -> Trace:
    if isinstance(func, str):  # "sum", "mean", ... apply to the whole input
        return Trace(tuple(available), True, method="named")
    while isinstance(func, functools.partial):
        param += len(func.args)
        func = func.func
    if isinstance(func, types.MethodType):
        func, param = func.__func__, param + 1
    code = getattr(func, "__code__", None)
    if code is None:
        if isinstance(func, (types.BuiltinFunctionType, type)) or type(func).__name__ == "ufunc":
            return Trace(tuple(available), True, method="elementwise")
        call = inspect.getattr_static(type(func), "__call__", None)  # a callable object: trace __call__
        if getattr(call, "__code__", None) is None:
            return Trace(tuple(available), False, method="opaque callable")
        return _trace(types.MethodType(call, func), available, kind, param, depth)
    analysis = _analysis(code, param, kind)
    return _resolve(func, analysis, available, kind, depth)


def _analysis(code: types.CodeType, param: int, kind: str) -> _Analysis:
    key = id(code)
    entry = _cache.get(key)
    if entry is not None and entry[0] is code and entry[1] == param and entry[2] == kind:
        return entry[3]
    analysis = _analyse_source(code, param, kind) or _analyse_bytecode(code, param)
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()  # bounded: tracing never accumulates memory
        _cache[key] = (code, param, kind, analysis)
    return analysis


def _resolve(func: Any, a: _Analysis, available: Sequence[Hashable], kind: str, depth: int) -> Trace:
    if a.whole or a.unknown:
        return Trace(tuple(available), not a.unknown, method=a.method if a.unknown else "whole")
    try:
        present = set(available)
    except TypeError:
        return Trace(tuple(available), False, method="unhashable labels")
    wanted: set[Hashable] = {label for label in a.labels if _hashable_in(label, present)}
    wanted.update(name for name in a.attributes if name in present)
    complete = True
    for name in a.names:
        value = _lookup(func, name)
        labels = _as_labels(value)
        if labels is None:
            complete = False
            break
        wanted.update(label for label in labels if _hashable_in(label, present))
    for name, position in a.callees:
        callee = _lookup(func, name)
        if callee is _NOT_FOUND or depth >= _MAX_DEPTH or not callable(callee):
            complete = False
            break
        inner = _trace(callee, available, kind, position, depth + 1)
        if not inner.complete:
            complete = False
            break
        wanted.update(inner.columns)
    if not complete:
        return Trace(tuple(available), False, method=f"{a.method}: unresolved use")
    if a.method == "bytecode" and not wanted:
        # names in the bytecode name no column: the function reads the frame in a way we cannot see
        return Trace(tuple(available), False, method="bytecode: no column named")
    identity = a.identity if a.identity is not None and _hashable_in(a.identity, present) else None
    return Trace(tuple(label for label in available if label in wanted), True, identity, a.method)


def _hashable_in(label: Any, present: set[Hashable]) -> bool:
    try:
        return label in present
    except TypeError:
        return False


_NOT_FOUND = object()


def _lookup(func: Any, name: str) -> Any:
    code = getattr(func, "__code__", None)
    closure = getattr(func, "__closure__", None)
    if code is not None and closure and name in code.co_freevars:
        try:
            return closure[code.co_freevars.index(name)].cell_contents
        except ValueError:  # empty cell
            return _NOT_FOUND
    globals_ = getattr(func, "__globals__", None) or {}
    if name in globals_:
        return globals_[name]
    return getattr(builtins, name, _NOT_FOUND)


def _as_labels(value: Any) -> list[Hashable] | None:
    if isinstance(value, (str, int, float, bool)) or (isinstance(value, tuple) and len(value) < 8):
        return [value]
    if isinstance(value, (list, set, frozenset)) and len(value) < 10_000:
        return list(value)
    tolist = getattr(value, "tolist", None)  # an Index of labels
    if callable(tolist) and type(value).__name__.endswith("Index"):
        return list(tolist())
    return None


# ---------------------------------------------------------------------------------------------- source
def _analyse_source(code: types.CodeType, param: int, kind: str) -> _Analysis | None:
    node = _node_for(code)
    if node is None:
        return None
    args = node.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if param >= len(positional):
        # the frame arrives through *args or a keyword: nothing precise to say
        return _Analysis(set(), set(), set(), [], False, True, None, "source: parameter not found")
    visitor = _Uses(positional[param], kind)
    if isinstance(node, ast.Lambda):
        visitor.run([node.body])
        visitor.identity = visitor.label_of(node.body)
    else:
        visitor.run(node.body)
        if len(node.body) == 1 and isinstance(node.body[0], ast.Return) and node.body[0].value is not None:
            visitor.identity = visitor.label_of(node.body[0].value)
    return visitor.result()


def _node_for(code: types.CodeType) -> ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef | None:
    tree = _tree(code.co_filename)
    if tree is None:
        return None
    if code.co_name == "<lambda>":
        return _lambda_for(code, tree)
    candidates = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.name == code.co_name
                  and code.co_firstlineno in (n.lineno, *(d.lineno for d in n.decorator_list))]
    return candidates[0] if len(candidates) == 1 else None


def _tree(filename: str) -> ast.Module | None:
    lines = linecache.getlines(filename)
    if not lines:
        return None
    cached = _trees.get(filename)
    if cached is not None and cached[0] is lines:
        return cached[1]
    try:
        tree: ast.Module | None = ast.parse("".join(lines))
    except (SyntaxError, ValueError):  # e.g. a notebook cell with magics: use bytecode instead
        tree = None
    if len(_trees) > 64:
        _trees.clear()
    _trees[filename] = (lines, tree)
    return tree


def _lambda_for(code: types.CodeType, tree: ast.Module) -> ast.Lambda | None:
    lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
               and n.lineno <= code.co_firstlineno <= (n.end_lineno or n.lineno)]
    if len(lambdas) <= 1:
        return lambdas[0] if lambdas else None
    positions = getattr(code, "co_positions", None)
    if positions is None:  # Python 3.10: several lambdas on one line are told apart by their names
        same = [n for n in lambdas if _names_match(n, code)]
        return same[0] if len(same) == 1 else None
    # (line, col, end line, end col) of the body's instructions; (x, x, 0, 0) marks synthetic ones
    spans = [(p[0], p[2], p[1], p[3]) for p in positions() if None not in p and (p[2], p[3]) != (0, 0)]
    inside = [n for n in lambdas if all(_contains(n, s) for s in spans)]
    if not inside:
        return None
    return min(inside, key=lambda n: ((n.end_lineno or 0) - n.lineno, (n.end_col_offset or 0) - n.col_offset))


def _contains(node: ast.AST, span: tuple[int, int, int, int]) -> bool:
    line, col, end_line, end_col = span
    start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
    return start <= (line, col) and (end_line, end_col) <= end


def _names_match(node: ast.Lambda, code: types.CodeType) -> bool:
    try:
        compiled = compile(ast.Expression(node), "<lineage>", "eval")
    except (SyntaxError, ValueError, TypeError):
        return False
    inner = next((c for c in compiled.co_consts if isinstance(c, types.CodeType)), None)
    return inner is not None and set(inner.co_names) == set(code.co_names)


class _Uses:
    """Walks a function body and classifies every use of the traced parameter."""

    def __init__(self, param: str, kind: str) -> None:
        self.param = param
        self.kind = kind
        self.labels: set[Hashable] = set()
        self.attributes: set[str] = set()
        self.names: set[str] = set()
        self.callees: list[tuple[str, int]] = []
        self.whole = False
        self.unknown = False
        self.identity: Hashable | None = None
        self.parents: dict[ast.AST, ast.AST] = {}
        # names bound in the body: loop variables over literals or over a global list, and `col = "a"`
        self.bound: dict[str, list[Hashable] | str | None] = {}

    def run(self, body: Iterable[ast.AST]) -> None:
        nodes = list(body)
        for root in nodes:
            for parent in ast.walk(root):
                for child in ast.iter_child_nodes(parent):
                    self.parents[child] = parent
                if isinstance(parent, (ast.comprehension, ast.For)) and isinstance(parent.target, ast.Name):
                    self._bind(parent.target.id, parent.iter)
                elif isinstance(parent, ast.Assign) and len(parent.targets) == 1 \
                        and isinstance(parent.targets[0], ast.Name):
                    self._bind(parent.targets[0].id, parent.value, single=True)
        for root in nodes:
            for node in ast.walk(root):
                if isinstance(node, ast.Name) and node.id == self.param:
                    if isinstance(node.ctx, ast.Load):
                        self._use(node)
                    else:
                        self.unknown = True  # reassigned: later uses are not the frame any more
                elif isinstance(node, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = node.args
                    if any(a.arg == self.param for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)):
                        self.unknown = True  # shadowed in a nested function: do not guess

    def _bind(self, name: str, source: ast.AST, single: bool = False) -> None:
        if name in self.bound:  # bound twice: too clever for a static reading
            self.bound[name] = None
            return
        if single:
            self.bound[name] = [source.value] if isinstance(source, ast.Constant) else None
            return
        values = self._constants(source)
        if values is not None:
            self.bound[name] = values
        elif isinstance(source, ast.Name):
            self.bound[name] = source.id  # `for c in COLUMNS`: COLUMNS resolved per call
        else:
            self.bound[name] = None

    @staticmethod
    def _constants(node: ast.AST) -> list[Hashable] | None:
        if isinstance(node, ast.Constant):
            return [node.value]
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            out: list[Hashable] = []
            for elt in node.elts:
                if not isinstance(elt, ast.Constant):
                    return None
                out.append(elt.value)
            return out
        return None

    def _labels_from(self, node: ast.AST) -> bool:
        """Record the labels an index expression names; False when it names something we cannot read."""
        values = self._constants(node)
        if values is not None:
            self.labels.update(values)
            return True
        if isinstance(node, ast.Name):
            if node.id not in self.bound:
                self.names.add(node.id)  # closure or global: resolved per call
                return True
            bound = self.bound[node.id]
            if isinstance(bound, list):
                self.labels.update(bound)
                return True
            if isinstance(bound, str):
                self.names.add(bound)
                return True
            return False
        if isinstance(node, (ast.List, ast.Tuple)):
            return all(self._labels_from(elt) for elt in node.elts)
        return False

    def label_of(self, node: ast.AST) -> Hashable | None:
        """The column a bare `p["a"]` / `p.a` expression returns, else None."""
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == self.param:
            if isinstance(node.slice, ast.Constant):
                return node.slice.value  # type: ignore[no-any-return]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == self.param:
            if node.attr not in _METADATA:
                return node.attr
        return None

    def _use(self, node: ast.AST) -> None:
        """Classify one use of a frame-like expression (the parameter, or a row subset of it)."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Subscript) and parent.value is node:
            self._subscript(parent)
        elif isinstance(parent, ast.Attribute) and parent.value is node:
            self._attribute(parent)
        elif isinstance(parent, ast.Call) and node in parent.args:
            self._passed(parent, parent.args.index(node))
        elif isinstance(parent, ast.Call) and any(k.value is node for k in parent.keywords):
            self.whole = True
        else:
            self.whole = True  # arithmetic, comparison, return of the whole frame, iteration: every column

    def _subscript(self, sub: ast.Subscript) -> None:
        key = sub.slice
        if isinstance(key, ast.Slice):
            self.whole = True  # positional rows: every column
            return
        if self._labels_from(key):
            return
        # a boolean mask or other expression: the rows of the frame, its columns still to be read
        if self.kind == FRAME:
            self._use(sub)
        else:
            self.whole = True

    def _attribute(self, attr: ast.Attribute) -> None:
        name = attr.attr
        parent = self.parents.get(attr)
        called = isinstance(parent, ast.Call) and parent.func is attr
        if name in ("loc", "at") and isinstance(parent, ast.Subscript) and parent.value is attr:
            self._loc(parent)
            return
        if called and name == "get":
            assert isinstance(parent, ast.Call)
            if not parent.args or not self._labels_from(parent.args[0]):
                self.whole = True
            return
        if called:
            if name in _FRAME_PRESERVING and self.kind == FRAME:
                self._use(parent)  # type: ignore[arg-type]
            else:
                self.whole = True
            return
        if name in _METADATA:
            return
        if name in _WHOLE_ATTRS:
            self.whole = True
            return
        self.attributes.add(name)

    def _loc(self, sub: ast.Subscript) -> None:
        key = sub.slice
        if self.kind == ROW:
            if not self._labels_from(key):
                self.whole = True
            return
        if isinstance(key, ast.Tuple) and len(key.elts) == 2:
            columns = key.elts[1]
            if isinstance(columns, ast.Slice) and columns.lower is None and columns.upper is None:
                self._use(sub)  # `.loc[rows, :]`: every column still to be read from the result
            elif not self._labels_from(columns):
                self.whole = True
            return
        self._use(sub)  # `.loc[rows]`: a row subset of the frame

    def _passed(self, call: ast.Call, position: int) -> None:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in _HARMLESS_CALLS:
                return
            self.callees.append((func.id, position))
            return
        self.whole = True  # np.sum(p), pd.concat([p]), obj.method(p): reads everything

    def result(self) -> _Analysis:
        return _Analysis(self.labels, self.attributes, self.names, self.callees, self.whole, self.unknown,
                         self.identity, "source")


# ---------------------------------------------------------------------------------------------- bytecode
def _analyse_bytecode(code: types.CodeType, param: int) -> _Analysis:
    """No source: every string constant and attribute name in the code (and nested code) is a candidate."""
    labels: set[Hashable] = set()
    attributes: set[str] = set()
    whole = False
    stack = [code]
    while stack:
        current = stack.pop()
        attributes.update(current.co_names)
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            elif isinstance(const, (str, int)) and not isinstance(const, bool):
                labels.add(const)
            elif isinstance(const, tuple):
                labels.update(c for c in const if isinstance(c, str))
        whole = whole or bool(_WHOLE_ATTRS & set(current.co_names))
    return _Analysis(labels, attributes, set(), [], whole, False, None, "bytecode")


def source_available(func: Callable[..., Any]) -> bool:
    """Whether `func`'s source can be read (used by tests and by the docs' examples)."""
    try:
        inspect.getsource(func)
    except (OSError, TypeError):
        return False
    return True


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
    _trees.clear()


__all__ = ["FRAME", "ROW", "Trace", "clear_cache", "source_available", "trace_columns"]
