"""The per-process context every command and request works in: settings, the store, and lazily the catalog,
embeddings and vector index (nothing heavy happens at import or construction time)."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from rag.errors import InvalidInput
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

    def workspace(self, name: str | None = None) -> str:
        name = check_workspace(name or self.settings.workspace)
        self.store.ensure_workspace(name)
        return name

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.dispose()
