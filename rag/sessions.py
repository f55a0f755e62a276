"""Web sign-in sessions, kept on the server.

Signing in with an API key opens a session: the browser's cookie holds a random id (the store keeps only its
sha256, so reading the database does not let anyone sign in), the session carries its own CSRF token, expires
after `CTRLMAP_SESSION_HOURS`, ends on sign-out, and ends with the key it was opened with when that key is
revoked. The API key itself never goes into a cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from rag.auth import Principal, principal_of
from rag.context import Context
from rag.errors import Unauthorized
from rag.models import as_utc
from rag.store import ApiKeyRow, WebSessionRow

PURGE_AFTER = timedelta(days=7)  # ended sessions are deleted this long after they expire


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    csrf: str
    expires_at: datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def open_session(ctx: Context, principal: Principal) -> tuple[str, WebSession]:
    """A new session for a key already authenticated; returns the id for the cookie (shown only here)."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = _now() + timedelta(hours=ctx.settings.session_hours)
    with ctx.store.session(write=True) as s:
        s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < _now() - PURGE_AFTER))
        s.add(WebSessionRow(id_hash=_digest(session_id), key_id=principal.key_id, csrf=csrf, expires_at=expires))
    return session_id, WebSession(principal, csrf, expires)


def resolve(ctx: Context, session_id: str | None) -> WebSession:
    """The live session a cookie names; Unauthorized when it is unknown, expired, ended or its key revoked."""
    if not session_id:
        raise Unauthorized("sign in first")
    with ctx.store.session() as s:
        found = s.execute(select(WebSessionRow, ApiKeyRow).join(ApiKeyRow, ApiKeyRow.id == WebSessionRow.key_id)
                          .where(WebSessionRow.id_hash == _digest(session_id))).first()
    if found is None:
        raise Unauthorized("the session is unknown; sign in again")
    row, key = found
    if row.revoked or key.revoked:
        raise Unauthorized("the session has ended; sign in again")
    if as_utc(row.expires_at) <= _now():
        raise Unauthorized("the session has expired; sign in again")
    return WebSession(principal_of(key), row.csrf, as_utc(row.expires_at))


def close_session(ctx: Context, session_id: str | None) -> bool:
    """End a session (sign-out); True when there was a live one."""
    if not session_id:
        return False
    with ctx.store.session(write=True) as s:
        row = s.get(WebSessionRow, _digest(session_id))
        if row is None or row.revoked:
            return False
        row.revoked = True
        return True
