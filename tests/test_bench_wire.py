"""The load benchmarks' lean HTTP client: requests on one keep-alive connection, the JSON body sent with its
length, a `Connection: close` answer followed by a fresh connection, and a chunked answer refused."""

from __future__ import annotations

import asyncio
import json

import pytest

from evals.bench.wire import Connection, WireError


async def _serve(replies: list[bytes], seen: list[tuple[int, bytes]]):
    """A loopback server answering each request with the next reply; records (connection number, request)."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        while replies:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length")), 0)
            seen.append((number, head + await reader.readexactly(length)))
            reply = replies.pop(0)
            writer.write(reply)
            await writer.drain()
            if b"close" in reply.lower():
                break
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _reply(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"content-length: {len(body)}", "content-type: application/json", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_requests_share_a_keep_alive_connection_until_the_server_closes_it():
    seen: list[tuple[int, bytes]] = []

    async def run():
        server = await _serve([_reply(b'{"a": 1}'), _reply(b"{}", "connection: close"), _reply(b"[]")], seen)
        client = Connection("127.0.0.1", server.sockets[0].getsockname()[1], timeout=10)
        try:
            first = await client.request("GET", "/x/1", {"Authorization": "Bearer k"})
            second = await client.request("POST", "/x/1/approve", {"Authorization": "Bearer k"}, {"comment": "ok"})
            third = await client.request("GET", "/x/2", {})
        finally:
            await client.close()
            server.close()
        return first, second, third

    first, second, third = asyncio.run(run())
    assert (first.status_code, json.loads(first.body), second.text, third.text) == (200, {"a": 1}, "{}", "[]")
    assert [n for n, _ in seen] == [1, 1, 2]  # the third request opened a new connection after the close
    post = seen[1][1]
    assert post.startswith(b"POST /x/1/approve HTTP/1.1\r\n") and b"Authorization: Bearer k" in post
    assert post.endswith(b'\r\n\r\n{"comment": "ok"}') and b"Content-Length: 17" in post


def test_a_chunked_answer_is_an_error_not_a_misread_body():
    async def run():
        chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        server = await _serve([chunked], [])
        client = Connection("127.0.0.1", server.sockets[0].getsockname()[1], timeout=10)
        try:
            with pytest.raises(WireError, match="chunked"):
                await client.request("GET", "/", {})
        finally:
            await client.close()
            server.close()

    asyncio.run(run())
