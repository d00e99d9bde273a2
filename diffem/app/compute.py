"""Where the demo's torch work runs: one long-lived compute thread per process.

A web server runs each request, and each ``next()`` of a stream, on whatever worker thread is
free. torch's intra-op thread pool is tied to the thread that calls it, so on a 2-core machine
every worker thread that once ran a torch operation leaves a pool behind that competes with the
next one: measured here, the default restoration took 3.2 s served against 1.7 s bare, and it
was one small tensor operation on another thread before sampling (drawing the observation) that
doubled a later sampler run in the same process. Running every torch operation of the page on
one thread removes the competition. Calls already on that thread run inline (no deadlock), and
a forked process (ZeroGPU runs ``spaces.GPU`` functions in one) gets its own thread.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from typing import Any, TypeVar

T = TypeVar("T")
THREAD_NAME = "diffem-compute"
_DONE = object()
_executor: tuple[int, ThreadPoolExecutor] | None = None
_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    """This process's compute thread (made anew after a fork, whose child has no threads)."""
    global _executor
    with _lock:
        if _executor is None or _executor[0] != os.getpid():
            _executor = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME))
        return _executor[1]


def on_compute_thread() -> bool:
    return threading.current_thread().name.startswith(THREAD_NAME)


def run_computed(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` on the compute thread (inline when already there)."""
    if on_compute_thread():
        return function(*args, **kwargs)
    return executor().submit(function, *args, **kwargs).result()


def computed_steps(steps: Iterator[T]) -> Iterator[T]:
    """``steps`` with each item computed on the compute thread; closing this closes ``steps`` there too."""
    try:
        while (step := run_computed(next, steps, _DONE)) is not _DONE:
            yield step
    finally:
        run_computed(steps.close)


def computed(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a function, or a generator function, so that its body runs on the compute thread."""
    if inspect.isgeneratorfunction(function):
        @wraps(function)
        def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
            yield from computed_steps(function(*args, **kwargs))
        return stream

    @wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        return run_computed(function, *args, **kwargs)
    return call
