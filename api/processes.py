"""N API processes on one port, each with its own listening socket (SO_REUSEPORT), so the kernel spreads new
connections evenly over them. With one shared socket (uvicorn's `workers`), whichever process wakes first
accepts a burst of connections: under 50 keep-alive clients one process did nearly all the work while the
other idled. A process that dies is started again; SIGTERM or Ctrl-C stops them all gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time

APP = "api.cli_scale:app_from_environment"
log = logging.getLogger(__name__)


def server_checkpoint_seconds(settings) -> float:
    """How often a server moves the audit checkpoint (CTRLMAP_CHECKPOINT_SECONDS; 0 = after every commit)."""
    return 1.0 if settings.checkpoint_seconds is None else settings.checkpoint_seconds


SWITCH_INTERVAL_S = 0.0005


def tune_for_serving() -> None:
    """A server process hands the interpreter lock between its threads every half millisecond (Python's
    default is 5 ms). A decision's thread holds the audit chain's head, locked in the database, from its
    first statement on it to its COMMIT; each time it gets a reply it needs the interpreter lock back, and
    with the default interval it could wait up to 5 ms for it while another request's thread computed,
    every other decision of every process queueing behind it."""
    import sys

    sys.setswitchinterval(SWITCH_INTERVAL_S)


def balanced() -> bool:
    """Whether this system can give each process its own socket on one port (Linux and the BSDs)."""
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_one(host: str, port: int, log_level: str) -> None:
    """One API process: its own socket on the shared port, the app built from the environment."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, log_level=log_level, timeout_graceful_shutdown=20)
    uvicorn.Server(config).run(sockets=[sock])


def supervise(processes: int, host: str, port: int, log_level: str) -> None:
    """Start `processes` API processes and keep them running until SIGTERM or SIGINT."""
    listening_socket(host, port).close()  # the port is free (or shared with SO_REUSEPORT): fail here if not
    spawn = multiprocessing.get_context("spawn")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    def start() -> multiprocessing.Process:
        p = spawn.Process(target=serve_one, args=(host, port, log_level), name="ctrlmap-api", daemon=False)
        p.start()
        return p

    children = [start() for _ in range(processes)]
    try:
        while not stopping:
            for i, child in enumerate(children):
                if not child.is_alive() and not stopping:
                    log.warning("API process %s ended (exit %s); starting another", child.pid, child.exitcode)
                    children[i] = start()
            time.sleep(0.5)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()
