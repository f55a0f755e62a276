"""Processes the benchmarks start on 127.0.0.1: a free port, a Chroma server (`chroma run`, from the chromadb
wheel), a wait for an HTTP endpoint to answer; and a sampler thread for what they measure while running."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[0]} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def start_chroma(path: Path) -> tuple[subprocess.Popen, str]:
    """A Chroma server on loopback, persisting under `path`; returns the process and its URL."""
    port = free_port()
    binary = Path(sys.executable).with_name("chroma")
    process = subprocess.Popen([str(binary), "run", "--host", HOST, "--port", str(port), "--path", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    wait_http(f"{url}/api/v2/heartbeat", process)
    return process, url


class Sampler:
    """Calls `sample()` every `every` seconds on a daemon thread while the `with` block runs."""

    every = 0.5

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        raise NotImplementedError
