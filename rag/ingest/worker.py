"""Run a parser in a child process with a wall-clock limit and an address-space limit.

A hostile file (a PDF or DOCX decompression bomb, a cyclic cross-reference table, deeply nested or unclosed
HTML, a parser bug) must not hang or exhaust the service. The first call starts a small server, `python -m rag.ingest.worker`, which imports the
parsers once and then serves requests over its stdin/stdout: for each file it forks a child that sets
RLIMIT_AS (memory) and RLIMIT_CPU before touching the bytes, and kills the child when the wall-clock limit
passes. A fork of an already warm, single-threaded process costs a few milliseconds, where a fresh
interpreter would cost half a second. A child that runs out of memory or crashes cannot take the caller
down: the caller gets a ParseLimit error that names the limit. Up to SERVERS servers run side by side (started
as concurrent parses need them), so a file that takes its whole time limit delays no other upload.

Protocol: frames of a 4-byte big-endian length and a pickle. Request: (function, args, timeout_s, memory_mb);
reply: (status, payload). Only the trusted parent writes requests; the child's reply is a pickle of plain
data produced by our own parsers.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from rag.errors import CorruptFile, IngestError, ParseLimit

PRELOAD = ("rag.ingest.pdf", "rag.ingest.office", "rag.ingest.parse", "rag.ingest.html", "rag.ingest.markdown",
           "markdown_it", "pypdfium2", "pypdfium2.raw", "docx", "docx.table",
           "docx.text.paragraph", "docx.text.run")
SERVERS = 4  # parser servers at most: as many files are parsed at once, the others wait for a free one
_HEADER = struct.Struct(">I")


# --- framing --------------------------------------------------------------------------------------------


def _read_exact(fd: int, n: int, deadline: float | None = None) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> bytes | None:
    head = _read_exact(fd, _HEADER.size, deadline)
    return None if head is None else _read_exact(fd, _HEADER.unpack(head)[0], deadline)


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


# --- server side (python -m rag.ingest.worker) -----------------------------------------------------------


def _child(fn: Callable, args: tuple, memory_mb: int, cpu_s: float) -> tuple[str, Any]:
    import resource

    try:
        if memory_mb > 0:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        if cpu_s > 0:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_s) + 1, int(cpu_s) + 2))
        return "ok", fn(*args)
    except MemoryError:
        return "memory", None
    except IngestError as exc:
        return "ingest", (type(exc), exc.message)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never raised here
        return "error", f"{type(exc).__name__}: {exc}"[:300]


def _run_forked(fn: Callable, args: tuple, timeout_s: float, memory_mb: int) -> tuple[str, Any]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, send, exit without running the server's cleanup
        os.close(read_fd)
        try:
            reply = _child(fn, args, memory_mb, timeout_s)
            try:
                data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            except MemoryError:
                data = pickle.dumps(("memory", None))
            _write_frame(write_fd, data)
        finally:
            os._exit(0)
    os.close(write_fd)
    started = time.monotonic()
    try:
        frame = _read_frame(read_fd, started + timeout_s)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        frame = b"timeout"
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if frame == b"timeout":
        return "timeout", round(time.monotonic() - started, 2)
    if frame is None:
        return "crash", os.waitstatus_to_exitcode(status)
    return pickle.loads(frame)


def serve() -> None:
    for name in PRELOAD:
        __import__(name)
    stdin, stdout = sys.stdin.fileno(), os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints from libraries must not corrupt frames
    while (frame := _read_frame(stdin)) is not None:
        fn, args, timeout_s, memory_mb = pickle.loads(frame)
        reply = _run_forked(fn, args, timeout_s, memory_mb) if fn is not None else ("ok", _stats())
        _write_frame(stdout, pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _stats() -> dict:
    import resource

    return {"server_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


# --- client side ----------------------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            root = str(Path(__file__).resolve().parents[2])
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            self.proc = subprocess.Popen([sys.executable, "-m", "rag.ingest.worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, env=env, close_fds=True)
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def call(self, fn: Callable, args: tuple, timeout_s: float, memory_mb: int) -> tuple[str, Any]:
        with self.lock:
            proc = self.start()
            try:
                _write_frame(proc.stdin.fileno(), pickle.dumps((fn, args, timeout_s, memory_mb),
                                                               protocol=pickle.HIGHEST_PROTOCOL))
                frame = _read_frame(proc.stdout.fileno(), time.monotonic() + timeout_s + 30)
            except (OSError, TimeoutError):
                frame = None
            if frame is None:  # the server itself died or stalled: start afresh next time
                self.stop()
                return "crash", None
            return pickle.loads(frame)


class _Pool:
    """Up to SERVERS parser servers, started on demand with one warm spare ahead of need (a server starts in
    about a second): one slow file never holds up the others' parsing."""

    def __init__(self, size: int = SERVERS) -> None:
        self.size, self.servers, self.idle = size, [], []
        self.free = threading.Condition()

    def call(self, fn: Callable | None, args: tuple, timeout_s: float, memory_mb: int) -> tuple[str, Any]:
        with self.free:
            while not self.idle and len(self.servers) >= self.size:
                self.free.wait()
            server = self.idle.pop() if self.idle else self._add()
            if not self.idle and len(self.servers) < self.size:
                self.idle.append(self._add())  # a warm spare, so the next parse need not wait for a start
        try:
            return server.call(fn, args, timeout_s, memory_mb)
        finally:
            with self.free:
                self.idle.append(server)
                self.free.notify()

    def _add(self) -> "_Server":
        server = _Server()
        server.start()
        self.servers.append(server)
        return server

    def stats(self) -> dict:
        if not self.servers:
            self.call(os.getpid, (), 10, 512)
        peaks = [s.call(None, (), 10, 0)[1] for s in list(self.servers)]
        peaks = [p for p in peaks if isinstance(p, dict)]
        return {k: max(p[k] for p in peaks) for k in ("server_peak_mb", "child_peak_mb")} if peaks else {}


_SERVER = _Pool()


def run_limited(fn: Callable, args: tuple, *, timeout_s: float, memory_mb: int, what: str = "the parser") -> Any:
    """fn(*args) in a limited child process; fn must be importable (module-level) and its result picklable."""
    status, payload = _SERVER.call(fn, args, timeout_s, memory_mb)
    if status == "ok":
        return payload
    if status == "timeout":
        raise ParseLimit(f"{what} did not finish within the {timeout_s:g} s limit (a hostile or pathological "
                         f"file?)", seconds=payload)
    if status == "memory":
        raise ParseLimit(f"{what} needed more than the {memory_mb} MB memory limit (a decompression bomb?)")
    if status == "crash":
        raise ParseLimit(_crash_message(what, payload, memory_mb))
    if status == "ingest":
        cls, message = payload
        raise cls(message)
    raise CorruptFile(f"{what} failed on this file ({payload})")


def _crash_message(what: str, exitcode: int | None, memory_mb: int) -> str:
    if exitcode is not None and exitcode < 0 and -exitcode in signal.valid_signals():
        name = signal.Signals(-exitcode).name
        if name == "SIGXCPU":
            return f"{what} used up its CPU time limit"
        return f"{what} was stopped by {name}, most likely on reaching the {memory_mb} MB memory limit"
    return f"{what} ended (exit {exitcode}) without a result, most likely on reaching the {memory_mb} MB memory limit"


def server_stats() -> dict:
    """Peak RSS of the parser server and of its largest child so far (for the benchmark)."""
    return _SERVER.stats()


def overhead_ms(samples: int = 20) -> float:
    """Median cost of one limited child doing nothing, in milliseconds (for the benchmark)."""
    run_limited(os.getpid, (), timeout_s=10, memory_mb=512)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run_limited(os.getpid, (), timeout_s=10, memory_mb=512)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    serve()
