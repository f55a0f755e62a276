"""Remembered keys (rag/known_keys.py, PostgreSQL): an API process stops looking a valid key up on every
request, and still refuses it as soon as any process revokes it."""

from __future__ import annotations

import pytest

from rag.auth import Role, authenticate, create_key, revoke_key
from rag.context import Context
from rag.errors import Unauthorized
from rag.known_keys import digest
from rag.settings import Settings
from tests.waiting import eventually


@pytest.fixture
def two_processes(pg_url, tmp_path):
    """Two contexts on one database, as two processes would be: `api` remembers keys, `cli` revokes them."""
    settings = Settings.load("offline", data_dir=tmp_path / "data", database_url=pg_url)
    api, cli = Context(settings), Context(settings)
    api.store.remember_keys()
    assert eventually(lambda: api.store.known_keys.live, 10.0), "the revocation listener did not connect"
    api.workspace("acme", create=True)
    yield api, cli
    api.close()
    cli.close()


def test_a_valid_key_is_looked_up_once(two_processes):
    api, _ = two_processes
    key, _ = create_key(api, Role.reviewer, "acme", name="Rita Reviewer")
    first = authenticate(api, key)
    assert api.store.known_keys.get(digest(key)) == first
    api.store.read = None  # a second lookup would fail: the key must come from memory
    try:
        assert authenticate(api, key) == first
    finally:
        del api.store.read


def test_a_revocation_in_another_process_is_refused_at_once(two_processes):
    api, cli = two_processes
    key, info = create_key(api, Role.reviewer, "acme", name="Rita Reviewer")
    authenticate(api, key)
    revoke_key(cli, info.id, "admin")  # another process: only the notification reaches `api`
    assert eventually(lambda: api.store.known_keys.get(digest(key)) is None, 5.0)
    with pytest.raises(Unauthorized, match="unknown or revoked"):
        authenticate(api, key)


def test_a_lookup_overtaken_by_a_revocation_is_not_remembered(two_processes):
    api, _ = two_processes
    key, info = create_key(api, Role.reviewer, "acme", name="Rita Reviewer")
    known = api.store.known_keys
    generation = known.generation()  # a lookup starts ...
    principal = authenticate(api, key)  # (remembers it, with the then current generation)
    known.forget()  # ... a revocation is announced before it finishes ...
    known.remember(digest(key), principal, generation)  # ... so what it found is not kept
    assert known.get(digest(key)) is None


def test_nothing_is_remembered_without_a_listener(two_processes):
    api, _ = two_processes
    key, _ = create_key(api, Role.reviewer, "acme", name="Rita Reviewer")
    api.store.known_keys.set_live(False)  # as when its connection is lost
    authenticate(api, key)
    assert api.store.known_keys.get(digest(key)) is None
