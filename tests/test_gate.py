"""The gate in front of the service, tried on a real server over a raw socket: an anonymous upload declaring
400 MB is answered 401 after 64 KB (the body is never read, let alone spooled); a key with too small a role
gets 403 before its upload is read; an oversized declared body is 413 at once and an undeclared (chunked) one
is cut off with 413 once the cap is passed. Refused requests are counted per client and minute in their own
table, a client over the limit gets 429 (others do not), and old counters are pruned without touching the
audit chain."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from rag import denials
from rag.auth import Role
from rag.store import AuditRow, DeniedRequestRow
from tests.test_api_seed import seed_tenant, seeded_context

MB = 1024 * 1024
CHUNK = b"x" * 65536
PART_HEAD = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.md\"\r\n"
             b"Content-Type: text/markdown\r\n\r\n")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A uvicorn server on a free loopback port, upload limit 1 MB (requests up to 2 MB)."""
    ctx = seeded_context(tmp_path_factory.mktemp("gate"), denied_per_minute=1_000_000)
    tenant = seed_tenant(ctx, "acme")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(ctx=ctx), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield sock.getsockname()[1], tenant, ctx
    server.should_exit = True
    thread.join(10)
    ctx.close()


def head(port: int, key: str | None = None, length: int | None = None, path: str = "/api/workspaces/acme/documents"):
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: multipart/form-data; boundary=b0undary"]
    lines += [f"Authorization: Bearer {key}"] if key else []
    lines += [f"Content-Length: {length}"] if length is not None else ["Transfer-Encoding: chunked"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def send_until_answered(port: int, request_head: bytes, chunked: bool, budget: int) -> tuple[bytes, int]:
    """Send the head, then body bytes until the server answers (or `budget` bytes went out); returns the
    response's first bytes and how many body bytes were sent."""
    conn = socket.create_connection(("127.0.0.1", port))
    part = PART_HEAD
    conn.sendall(request_head + (b"%x\r\n%s\r\n" % (len(part), part) if chunked else part))
    sent = len(part)
    try:
        while sent < budget:
            conn.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK)
            sent += len(CHUNK)
            conn.settimeout(0.0)
            try:
                answer = conn.recv(4096)
                if answer:
                    return answer, sent
            except BlockingIOError:
                pass
            finally:
                conn.settimeout(10)
        conn.settimeout(10)
        return conn.recv(4096), sent
    except (BrokenPipeError, ConnectionResetError):
        conn.settimeout(2)
        try:
            return conn.recv(4096), sent
        except OSError:
            return b"", sent
    finally:
        conn.close()


def first_answer(port: int, request_head: bytes, body: bytes) -> bytes:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.settimeout(10)
    try:
        conn.sendall(request_head + body)
        return conn.recv(4096)
    finally:
        conn.close()


def test_anonymous_upload_is_refused_before_its_body_is_read(live):
    port, _, _ = live
    started = time.perf_counter()
    answer = first_answer(port, head(port, length=400 * MB), CHUNK)  # 64 KB of a declared 400 MB
    assert answer.startswith(b"HTTP/1.1 401") and b"www-authenticate: Bearer" in answer
    assert time.perf_counter() - started < 5
    answer = first_answer(port, head(port), b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))  # chunked, no length
    assert answer.startswith(b"HTTP/1.1 401")


def test_small_role_upload_is_refused_before_it_is_spooled(live):
    port, tenant, _ = live
    answer = first_answer(port, head(port, tenant.keys[Role.viewer], length=int(1.5 * MB)), CHUNK)
    assert answer.startswith(b"HTTP/1.1 403")


def test_oversized_bodies_are_cut_off(live):
    port, tenant, _ = live
    admin = tenant.keys[Role.admin]
    answer = first_answer(port, head(port, admin, length=400 * MB), CHUNK)
    assert answer.startswith(b"HTTP/1.1 413") and b"exceeds the limit" in answer
    answer, sent = send_until_answered(port, head(port, admin), chunked=True, budget=64 * MB)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 32 * MB  # the server stopped at the 2 MB cap; the rest is socket buffers


def test_upload_within_the_limit_still_lands(live):
    port, tenant, _ = live
    body = PART_HEAD + b"# Gate policy\n\nVisitors sign in at the front desk.\n\r\n--b0undary--\r\n"
    answer = first_answer(port, head(port, tenant.keys[Role.admin], length=len(body)), body)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


def test_refusals_are_limited_per_client(tmp_path):
    ctx = seeded_context(tmp_path, denied_per_minute=5)
    tenant = seed_tenant(ctx, "acme")
    app = create_app(ctx=ctx)
    with ctx.store.session() as s:
        events = s.scalar(select(func.count()).select_from(AuditRow))
    with TestClient(app, client=("203.0.113.9", 4000)) as flood, TestClient(app, client=("198.51.100.7", 4000)) as other:
        codes = [flood.get("/api/workspaces/acme/proposals").status_code for _ in range(40)]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        throttled = flood.get("/api/me", headers=tenant.header(Role.viewer))
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"
        assert other.get("/api/me", headers=tenant.header(Role.viewer)).status_code == 200
        assert other.get("/api/me").status_code == 401
    # the lifespan's end wrote what was counted in memory while the client was throttled
    with ctx.store.session() as s:
        row = s.scalars(select(DeniedRequestRow).where(DeniedRequestRow.client == "203.0.113.9")).one()
        assert row.count == 5 and row.outcome == "unauthenticated"
        assert s.scalar(select(func.count()).select_from(AuditRow)) == events
    ctx.close()


def test_old_counters_are_pruned_and_the_chain_is_untouched(ctx):
    old = datetime.now(timezone.utc) - timedelta(days=ctx.settings.denied_retention_days + 1)
    counter = denials.Denials(ctx)
    counter.note("192.0.2.1", "unauthenticated", "anonymous", "GET /api/me")
    with ctx.store.session(write=True) as s:
        s.add(DeniedRequestRow(client="192.0.2.1", window=old, outcome="forbidden", count=9))
        events = s.scalar(select(func.count()).select_from(AuditRow))
    assert denials.prune(ctx) == 1
    assert [r["outcome"] for r in denials.recent(ctx)] == ["unauthenticated"]
    with ctx.store.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditRow)) == events
