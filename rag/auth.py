"""API keys, roles and who may see which workspace.

A key is shown once, when it is created; the store keeps only a salted HMAC-SHA256 of it, looked up by a
short public prefix and compared in constant time. Every key names the person who holds it; their decisions
are recorded under that name. Roles are ordered: a viewer reads, a reviewer also decides,
an admin also manages keys, workspaces and uploads. A key bound to a workspace sees that workspace only; an
unbound key sees them all. Creating and revoking keys is recorded in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from types import SimpleNamespace

from sqlalchemy import select

from rag import audit
from rag.context import Context, check_workspace
from rag.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from rag.known_keys import digest, notify_revocation
from rag.store import ApiKeyRow, WorkspaceRow

SYSTEM = "*"  # the audit trail's workspace for events that belong to no single workspace
KEY_FORMAT = re.compile(r"^cm_([0-9a-f]{8})_([A-Za-z0-9_-]{32})$")
SCHEME = "hmac-sha256"


class Role(str, Enum):
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def below(self) -> "Role | None":
        return list(Role)[self.rank - 1] if self.rank else None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and prefix, its role, the workspace it is bound to (None: all)."""

    key_id: int
    prefix: str
    role: Role
    workspace: str | None
    name: str

    @property
    def actor(self) -> str:
        return f"{self.name} (key {self.prefix})" if self.name else f"key {self.prefix}"

    @property
    def audit_workspace(self) -> str:
        return self.workspace or SYSTEM

    def has(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    def sees(self, workspace: str) -> bool:
        return self.workspace is None or self.workspace == workspace


@dataclass(frozen=True)
class KeyInfo:
    id: int
    prefix: str
    role: Role
    workspace: str | None
    name: str
    created_at: datetime
    revoked: bool


def _digest(key: str, salt: bytes) -> str:
    return hmac.new(salt, key.encode("utf-8"), hashlib.sha256).hexdigest()


def _stored_hash(key: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${salt.hex()}${_digest(key, salt)}"


def _matches(key: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_hex, _, digest = rest.partition("$")
    if scheme != SCHEME or not salt_hex or not digest:
        return False
    return hmac.compare_digest(_digest(key, bytes.fromhex(salt_hex)), digest)


def _info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(id=row.id, prefix=row.prefix, role=Role(row.role), workspace=row.workspace, name=row.name,
                   created_at=row.created_at, revoked=row.revoked)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role {value!r}; choose viewer, reviewer or admin") from None


def create_key(ctx: Context, role: Role | str, workspace: str | None = None, name: str = "",
               actor: str = "ctrlmap") -> tuple[str, KeyInfo]:
    """A new key (returned once, in clear) and what is stored about it. A key belongs to a person: `name` is
    required, and decisions made with the key are recorded under it. A bound workspace must exist."""
    role = parse_role(role) if isinstance(role, str) else role
    name = " ".join((name or "").split())
    if not name:
        raise InvalidInput("a key needs the name of the person who holds it (--name, or CTRLMAP_ACTOR): decisions "
                           "made with it are recorded under that name")
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(24)
    key = f"cm_{prefix}_{secret}"
    with ctx.store.session(write=True) as s:
        if workspace is not None and s.get(WorkspaceRow, check_workspace(workspace)) is None:
            raise NotFound(f"no workspace {workspace}", target=f"workspace:{workspace}")
        row = ApiKeyRow(prefix=prefix, key_hash=_stored_hash(key), role=role.value, workspace=workspace,
                        name=name[:128])
        s.add(row)
        s.flush()
        audit.append(s, workspace=workspace or SYSTEM, actor=actor, action="key.create", target=f"key:{prefix}",
                     after={"role": role.value, "workspace": workspace, "name": row.name})
        info = _info(row)
    _checkpoint(ctx)
    return key, info


def authenticate(ctx: Context, key: str | None) -> Principal:
    """The principal a presented key stands for; Unauthorized when it is missing, malformed or revoked."""
    if not key:
        raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
    match = KEY_FORMAT.match(key.strip())
    if match is None:
        raise Unauthorized("the API key is malformed")
    key, known = key.strip(), ctx.store.known_keys
    if known is not None:
        remembered_as = digest(key)
        if (principal := known.get(remembered_as)) is not None:
            return principal
        generation = known.generation()
    for row in ctx.store.read(_FIND_KEY, {"prefix": match.group(1), "revoked": False}):
        if _matches(key, row["key_hash"]):
            principal = principal_of(SimpleNamespace(**row))
            if known is not None:
                known.remember(remembered_as, principal, generation)
            return principal
    raise Unauthorized("the API key is unknown or revoked")


_FIND_KEY = ("SELECT id, prefix, key_hash, role, workspace, name FROM api_keys "
             "WHERE prefix = :prefix AND revoked = :revoked")


def principal_of(row) -> Principal:
    """The principal of a key's row (mapped, or plain columns read by attribute)."""
    return Principal(key_id=row.id, prefix=row.prefix, role=Role(row.role), workspace=row.workspace, name=row.name)


def list_keys(ctx: Context, workspace: str | None = None) -> list[KeyInfo]:
    """Keys bound to `workspace`, or every key when it is None."""
    q = select(ApiKeyRow).order_by(ApiKeyRow.id)
    if workspace is not None:
        q = q.where(ApiKeyRow.workspace == workspace)
    with ctx.store.session() as s:
        return [_info(r) for r in s.scalars(q)]


def revoke_key(ctx: Context, key_id: int, actor: str, within: str | None = None) -> KeyInfo:
    """Revoke a key; `within` limits it to keys bound to that workspace (a workspace admin's reach)."""
    with ctx.store.session(write=True) as s:
        row = s.get(ApiKeyRow, key_id)
        if row is None or (within is not None and row.workspace != within):
            raise NotFound(f"no key {key_id}", target=f"key:{key_id}")
        before = {"revoked": row.revoked}
        row.revoked = True
        audit.append(s, workspace=row.workspace or SYSTEM, actor=actor, action="key.revoke",
                     target=f"key:{row.prefix}", before=before, after={"revoked": True})
        if not ctx.store.is_sqlite:
            notify_revocation(s)  # every API process forgets the keys it remembered, at commit
        info = _info(row)
    if ctx.store.known_keys is not None:
        ctx.store.known_keys.forget()
    _checkpoint(ctx)
    return info


def require(principal: Principal, role: Role, workspace: str | None = None) -> Principal:
    """Forbidden unless the principal holds `role` (and, when given, may see `workspace`)."""
    if not principal.has(role):
        raise Forbidden(f"this needs the {role.value} role; the key has {principal.role.value}")
    if workspace is not None and not principal.sees(workspace):
        raise Forbidden(f"the key is bound to another workspace than {workspace}", target=f"workspace:{workspace}")
    return principal


_checkpoint = audit.advance_checkpoint
