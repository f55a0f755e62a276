"""A lean HTTP/1.1 keep-alive client for the load benchmarks.

The load generator shares the machine's two cores with the servers and the database it measures; httpx spent
about 4.5 ms of CPU per decision (open + decide) doing it, a seventh of the whole budget. This client writes
the request bytes and reads a `Content-Length` response on one asyncio stream per reviewer, which is all the
benchmark needs (the API answers JSON with a length). Anything else (chunked bodies, a closed connection) is
an error the caller counts, after which the connection is opened again.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass


class WireError(Exception):
    pass


TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, WireError)


@dataclass
class Reply:
    status_code: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Connection:
    """One keep-alive connection to host:port; requests on it are made one after the other."""

    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: dict | None = None) -> Reply:
        payload = json.dumps(body).encode() if body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head.append("Content-Type: application/json")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        try:
            return await asyncio.wait_for(self._exchange(raw), self.timeout)
        except TRANSPORT_ERRORS:
            await self.close()  # the next request opens a fresh connection
            raise

    async def _exchange(self, raw: bytes) -> Reply:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(raw)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise WireError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, close = None, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise WireError("chunked responses are not read by this client")
        reply = Reply(status, await reader.readexactly(length or 0))
        if close:
            await self.close()
        return reply

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
