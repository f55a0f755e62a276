"""Run a parser in a child process with a wall-clock limit and an address-space limit.

A hostile PDF or DOCX (a decompression bomb, a cyclic cross-reference table, a parser bug) must not hang or
exhaust the service. Each binary document is parsed in a fresh child forked from a multiprocessing
"forkserver" that has already imported the parsers, so a child starts in a few milliseconds instead of
re-importing everything. The child sets RLIMIT_AS (and RLIMIT_CPU as a backstop) before it touches the
bytes; the parent kills it when the time limit passes. A child that runs out of memory or crashes cannot
take the caller down with it: the caller gets a ParseLimit error naming the limit.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Any, Callable

from rag.errors import CorruptFile, IngestError, ParseLimit

PRELOAD = ["rag.ingest.pdf", "rag.ingest.office"]
_LOCK = threading.Lock()
_CONTEXT: Any = None


def _context():
    global _CONTEXT
    with _LOCK:
        if _CONTEXT is None:
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            ctx = multiprocessing.get_context(method)
            if method == "forkserver":
                ctx.set_forkserver_preload(PRELOAD)
            _CONTEXT = ctx
        return _CONTEXT


def _limit_memory(memory_mb: int, cpu_s: float) -> None:
    import resource

    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s > 0:
        seconds = int(cpu_s) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))


def _child(fn: Callable, args: tuple, memory_mb: int, cpu_s: float, conn) -> None:
    try:
        _limit_memory(memory_mb, cpu_s)
        conn.send(("ok", fn(*args)))
    except MemoryError:
        conn.send(("memory", None))
    except IngestError as exc:
        conn.send(("ingest", (type(exc), exc.message)))
    except BaseException as exc:  # noqa: BLE001 - anything a parser raises is reported, never re-raised here
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()


def run_limited(fn: Callable, args: tuple, *, timeout_s: float, memory_mb: int, what: str = "the parser") -> Any:
    """fn(*args) in a child process; fn must be importable (module-level) and its result picklable."""
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, memory_mb, timeout_s, send), daemon=True)
    started = time.monotonic()
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise ParseLimit(f"{what} did not finish within the {timeout_s:g} s limit (a hostile or "
                             f"pathological file?)", seconds=round(time.monotonic() - started, 2))
        try:
            status, payload = receive.recv()
        except (EOFError, OSError):
            proc.join(1)
            raise ParseLimit(_crash_message(what, proc.exitcode, memory_mb)) from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
    return _result(status, payload, what, memory_mb)


def _crash_message(what: str, exitcode: int | None, memory_mb: int) -> str:
    import signal

    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        if name == "SIGXCPU":
            return f"{what} used up its CPU time limit"
        return f"{what} was stopped by {name}, most likely on reaching the {memory_mb} MB memory limit"
    return f"{what} exited (code {exitcode}) without a result, most likely on reaching the {memory_mb} MB " \
           f"memory limit"


def _result(status: str, payload: Any, what: str, memory_mb: int) -> Any:
    if status == "ok":
        return payload
    if status == "memory":
        raise ParseLimit(f"{what} needed more than the {memory_mb} MB memory limit (a decompression bomb?)")
    if status == "ingest":
        cls, message = payload
        raise cls(message)
    raise CorruptFile(f"{what} failed on this file ({payload})")


def overhead_ms(samples: int = 20) -> float:
    """Median cost of one limited child doing nothing, in milliseconds (for the benchmark)."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run_limited(os.getpid, (), timeout_s=10, memory_mb=512)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]
