"""The vector index: Chroma, derived from the SQL store and rebuildable from it at any time.

One collection per workspace (tenants never share one) holds passage vectors, with the workspace, document
and version in their metadata; one collection per catalog version holds clause vectors. Retrieval queries
it (`nearest`: all clauses of a run in a few batched queries against the workspace's collection). Chroma is always
handed the project's own embedding function (its default would download a model) and runs with telemetry off.

Embedded (a folder in the data directory, one process) by default; with `CTRLMAP_CHROMA_URL` a Chroma server
(`chroma run`) that several API and worker processes share. Chroma's HTTP server has no authentication of its
own worth trusting, so the URL must name a loopback or private address (`CTRLMAP_CHROMA_TOKEN`, if set, is
sent as a bearer token for a proxy in front of it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Callable, Iterable
from urllib.parse import urlparse

import numpy as np

from rag.embeddings import WordLlamaEmbeddings
from rag.errors import ConfigError
from rag.models import Clause, Passage, sha256_hex
from rag.settings import Settings

BATCH = 2000
QUERY_BATCH = 64  # clause vectors per Chroma query


class ChromaEmbeddingFunction:
    """Adapter from our LangChain embeddings to Chroma's EmbeddingFunction protocol."""

    def __init__(self, embeddings) -> None:
        self._embeddings = embeddings

    def __call__(self, input):  # noqa: A002 - Chroma's protocol names it `input`
        return list(self._embeddings.embed_array(list(input)))

    def embed_query(self, input):  # noqa: A002
        return self(input)

    @staticmethod
    def name() -> str:
        return "ctrlmap"

    def get_config(self) -> dict:
        return {"model": getattr(self._embeddings, "model_name", "unknown")}

    @staticmethod
    def build_from_config(config: dict) -> "ChromaEmbeddingFunction":
        return ChromaEmbeddingFunction(WordLlamaEmbeddings(config.get("model", "l2_supercat_256")))

    def is_legacy(self) -> bool:
        return False

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


def passage_document(passage: Passage, title: str) -> str:
    """The text a passage is indexed under: its document title and heading path give it context."""
    heading = " > ".join(h for h in passage.heading_path if h != title)
    return "\n".join(x for x in (title, heading, passage.text) if x)


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()[:48] or "x"


class VectorIndex:
    def __init__(self, settings: Settings, embeddings) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self._client = None
        self._function = ChromaEmbeddingFunction(embeddings)
        self.model = _slug(getattr(embeddings, "model_name", "model"))

    @property
    def client(self):
        if not self.settings.chroma_dir.is_dir():
            self.reset()  # its files were removed under this process: chromadb's cached handle is stale
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            options = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
            if self.settings.chroma_url:
                url = check_chroma_url(self.settings.chroma_url)
                token = self.settings.chroma_token
                headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
                self._client = chromadb.HttpClient(host=url.hostname, port=url.port or 8000,
                                                   ssl=url.scheme == "https", headers=headers, settings=options)
            else:
                self.settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.settings.chroma_dir), settings=options)
        return self._client

    def reset(self) -> None:
        """Forget the open client (and chromadb's per-process cache of it), so the next call reopens the store
        from disk: after its files were removed or damaged under a running process."""
        from chromadb.api.shared_system_client import SharedSystemClient

        self._client = None
        SharedSystemClient.clear_system_cache()

    def _collection(self, name: str):
        return self.client.get_or_create_collection(
            name=name, embedding_function=self._function, metadata={"hnsw:space": "cosine"})

    def collection_name(self, workspace: str) -> str:
        """One collection per workspace, named by a digest of its full name: two workspaces never share one,
        however alike their names are."""
        return f"passages-{sha256_hex(workspace)[:24]}-{self.model}-2"

    def passages(self, workspace: str):
        return self._collection(self.collection_name(workspace))

    # --- passages -------------------------------------------------------------------------------------

    def add(self, workspace: str, items: list[tuple[Passage, str]],
            progress: Callable[[int], None] | None = None) -> int:
        """Embed and store passages given as (passage, indexed text)."""
        col = self.passages(workspace)
        for i in range(0, len(items), BATCH):
            batch = items[i:i + BATCH]
            texts = [t for _, t in batch]
            # the text itself stays in the SQL store (the source of truth); Chroma holds vectors and metadata
            col.upsert(ids=[p.id for p, _ in batch], embeddings=self.embeddings.embed_array(texts),
                       metadatas=[{"workspace": workspace, "document_id": p.document_id or 0,
                                   "version_id": p.version_id or 0, "sha256": p.document_sha256,
                                   "hidden": p.hidden} for p, _ in batch])
            if progress:
                progress(len(batch))
        return len(items)

    def ids(self, workspace: str) -> set[str]:
        return set(self.passages(workspace).get(include=[])["ids"])

    def remove(self, workspace: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        col = self.passages(workspace)
        for i in range(0, len(ids), BATCH):
            col.delete(ids=ids[i:i + BATCH])

    def vectors(self, workspace: str, ids: list[str]) -> np.ndarray:
        """Stored vectors in the order of `ids` (all must be indexed: call `sync` first)."""
        if not ids:
            return np.zeros((0, 1), dtype=np.float32)
        col = self.passages(workspace)
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 20000):
            got = col.get(ids=ids[i:i + 20000], include=["embeddings"])
            found.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
        return np.stack([found[i] for i in ids])

    def nearest(self, workspace: str, queries: np.ndarray, k: int) -> list[tuple[list[str], np.ndarray]]:
        """For each query vector, the ids of its `k` nearest passages of the workspace and their cosine
        similarities, best first (Chroma queries of QUERY_BATCH vectors each)."""
        col = self.passages(workspace)
        k = min(k, col.count())
        if k == 0:
            return [([], np.zeros(0, np.float32)) for _ in range(len(queries))]
        out = []
        for i in range(0, len(queries), QUERY_BATCH):
            # no metadata filter: the collection is the workspace's own and holds only its current passages
            # (a `where` on 50k vectors made each batch several times slower)
            got = col.query(query_embeddings=queries[i:i + QUERY_BATCH], n_results=k, include=["distances"])
            out += [(ids, 1.0 - np.asarray(d, dtype=np.float32)) for ids, d in zip(got["ids"], got["distances"])]
        return out

    def drop(self, workspace: str, force: bool = False) -> None:
        """Delete the workspace's collection; with `force`, also when listing collections fails (a damaged
        collection is deleted by name)."""
        name = self.collection_name(workspace)
        try:
            exists = name in {c.name for c in self.client.list_collections()}
        except Exception:  # noqa: BLE001 - damaged metadata: try the delete anyway
            if not force:
                raise
            exists = True
        if exists:
            try:
                self.client.delete_collection(name)
            except Exception:  # noqa: BLE001
                if not force:
                    raise

    # --- clauses --------------------------------------------------------------------------------------

    def clause_vectors(self, catalog_version: str, clauses: list[Clause], texts: list[str],
                       variant: str = "full") -> np.ndarray:
        """Clause query vectors, embedded once per catalog version and kept beside the passages."""
        col = self._collection(f"clauses-{catalog_version}-{self.model}")
        ids = [f"{c.key}#{variant}".replace(" ", "_") for c in clauses]
        have = set(col.get(ids=ids, include=[])["ids"])
        missing = [(i, t) for i, t in zip(ids, texts) if i not in have]
        for k in range(0, len(missing), BATCH):
            batch = missing[k:k + BATCH]
            col.upsert(ids=[i for i, _ in batch], documents=[t for _, t in batch],
                       embeddings=self.embeddings.embed_array([t for _, t in batch]))
        got = col.get(ids=ids, include=["embeddings"])
        found = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
        return np.stack([found[i] for i in ids])


# --- a shared server ------------------------------------------------------------------------------------


def check_chroma_url(raw: str):
    """The parsed URL of a Chroma server, refused unless its host is loopback or a private address."""
    url = urlparse(raw)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"CTRLMAP_CHROMA_URL must be http(s)://HOST:PORT (got {raw!r})")
    try:
        addresses = {ipaddress.ip_address(a[4][0]) for a in socket.getaddrinfo(url.hostname, None)}
    except (socket.gaierror, ValueError) as exc:
        raise ConfigError(f"cannot resolve the Chroma server {url.hostname!r}: {exc}") from None
    public = [str(a) for a in addresses if not (a.is_loopback or a.is_private)]
    if public:
        raise ConfigError(f"the Chroma server {url.hostname} resolves to a public address ({public[0]}); Chroma's "
                          "HTTP server must only listen on loopback or a private network")
    return url


def require_shared_index(settings: Settings) -> None:
    """Several processes share the vector index only through a Chroma server: embedded Chroma belongs to
    one process."""
    if not settings.chroma_url:
        raise ConfigError("several ctrlmap processes need a shared Chroma server: start one with `chroma run "
                          "--host 127.0.0.1 --port 8001 --path DIR` and set CTRLMAP_CHROMA_URL=http://127.0.0.1:8001")
    check_chroma_url(settings.chroma_url)
