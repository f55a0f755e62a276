"""The language-model reply cache in the SQL store (table `llm_replies`), used when ctrlmap runs on a server
database, so that every API and worker process, on any host, reuses replies another one paid for."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rag.store import LlmReplyRow


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True)  # the table comes from the migrations, run when the store opens


class DatabaseCache:
    """Same interface as `rag.llm.ResponseCache`: `get(key)` and `put(key, model, prompt, reply)`."""

    def __init__(self, url: str) -> None:
        self.engine = _engine(url)

    def get(self, key: str) -> dict | None:
        with Session(self.engine) as s:
            return s.scalar(select(LlmReplyRow.reply).where(LlmReplyRow.key == key))

    def put(self, key: str, model: str, prompt: str, reply: dict) -> None:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        row = {"key": key, "model": model[:128], "prompt": (prompt or "")[:64], "reply": reply}
        with Session(self.engine) as s, s.begin():  # two processes caching the same reply: the first one stays
            s.execute(dialect.insert(LlmReplyRow).values(**row).on_conflict_do_nothing(index_elements=["key"]))
