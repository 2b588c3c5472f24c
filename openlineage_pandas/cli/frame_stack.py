"""Runs a script's module code where `python script.py` would: at the same offset in CPython's frame stack.

CPython 3.11-3.13 keep Python frames in 16 KB chunks and free a chunk the moment its first frame returns. A call
made over and over right at a chunk boundary therefore maps and unmaps 16 KB each time, and which calls sit on a
boundary depends only on how deep the script starts. Started below the CLI's own frames, the housing example's
imports made ~7,000 more mmap/munmap pairs (~65 ms of system time) than under `python` (benchmarks/startup.py).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

_WORD = 8
# `python script.py` runs the module in the thread's first chunk: 2048 words, minus the chunk's 3-word header and
# the one slot CPython leaves unused there so that chunk is never freed.
_SCRIPT_ROOM = 16384 // _WORD - 3 - 1
# A frame of more than 2048 - 1000 words never fits a 16 KB chunk: CPython gives it a fresh 32 KB chunk (4096
# words, the first size >= frame + 1000), at that chunk's start. What is left after such a frame is ours to set.
_FRESH_CHUNK = 32768 // _WORD - 3
# Words of a frame's fixed header, in 3.11-3.13 alike (a frame is that + locals, cells, free vars + value stack).
_FRAME_HEADER = 9
_CHUNKED_VERSIONS = ((3, 11), (3, 12), (3, 13))


def _exec_module_code(code: types.CodeType, namespace: dict[str, Any]) -> None:
    exec(code, namespace)


def _widened(function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, with a value stack just large enough that its frame leaves exactly the script's room after it
    in the fresh chunk it must take. A larger declared stack changes nothing else: it is an upper bound."""
    assert isinstance(function, types.FunctionType)
    code = function.__code__
    slots = code.co_nlocals + len(code.co_cellvars) + len(code.co_freevars)
    stack = _FRESH_CHUNK - _SCRIPT_ROOM - _FRAME_HEADER - slots
    return types.FunctionType(code.replace(co_stacksize=stack), function.__globals__, function.__name__)


exec_module_code = (_widened(_exec_module_code) if sys.version_info[:2] in _CHUNKED_VERSIONS
                    else _exec_module_code)  # 3.10 allocates frames one by one; later versions are unverified
"""`exec(code, namespace)`, with the module's frame at the offset a plain `python script.py` gives it."""
