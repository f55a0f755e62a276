"""The per-process context every command and request works in: settings, the store, and lazily the catalog,
embeddings and vector index (nothing heavy happens at import or construction time)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from rag.errors import InvalidInput, NotFound
from rag.settings import Settings

WORKSPACE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_workspace(name: str) -> str:
    if not WORKSPACE_NAME.match(name or ""):
        raise InvalidInput(f"workspace names are 1-63 lowercase letters, digits, '-' or '_' (got {name!r})")
    return name


class Context:
    def __init__(self, settings: Settings | None = None, catalog_overlays: list[Path] | None = None) -> None:
        self.settings = settings or Settings.load()
        self.catalog_overlays = catalog_overlays or []
        self.checkpoint_pacer = None  # set by a server: see `rag.audit.Pacer`

    @cached_property
    def store(self):
        from rag.store import Store

        return Store(self.settings)

    @cached_property
    def catalog(self):
        from rag.catalog import Catalog

        return Catalog.load(self.catalog_overlays)

    @cached_property
    def embeddings(self):
        from rag.embeddings import make_embeddings

        return make_embeddings(self.settings)

    @cached_property
    def index(self):
        from rag.index import VectorIndex

        return VectorIndex(self.settings, self.embeddings)

    def workspace(self, name: str | None = None, create: bool = False) -> str:
        """The workspace to work in. Only actions that add data (`create=True`: ingest, the demo, an admin
        creating one) make a new workspace; a read of one that does not exist is an error naming those that do."""
        name = check_workspace(name or self.settings.workspace)
        if create:
            self.store.ensure_workspace(name)
        elif not self.store.has_workspace(name):
            existing = self.store.workspaces()
            known = ", ".join(existing) if existing else "none yet (`ctrlmap ingest` creates one)"
            raise NotFound(f"no workspace {name!r}; existing workspaces: {known}", target=f"workspace:{name}")
        return name

    def close(self) -> None:
        if self.checkpoint_pacer is not None:
            self.checkpoint_pacer.stop()
            self.checkpoint_pacer = None
        if "store" in self.__dict__:
            self.store.dispose()
