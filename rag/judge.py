"""The LLM judge: for each clause, one call that judges its candidate passages, and code that decides what of
the answer to believe.

The model sees the clause and the candidates only as a delimited DATA block (see rag.llm). Its answer is
used only after validation: judgments naming a passage that was not sent are discarded; every quote is
located in its passage by rag.citations.quote_citation and dropped when it is not there; a positive verdict
left without a verified quote is downgraded (no proposal). A clause whose call fails (refusal, malformed
JSON, schema violation, timeout, API error, spent budget) keeps its offline proposals. The judge only ever
produces proposals: approval is a person's decision.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rag import citations as cites
from rag.context import Context
from rag.errors import BudgetExceeded, LLMError
from rag.llm import (LLMClient, Reply, cache_key, client_for, cost, load_prompt, looks_like_instructions,
                     message_tokens, open_cache, prices)
from rag.mapping import Candidate, JudgeItem, Progress, propose
from rag.models import Clause, Coverage, Method, Proposal, sha256_hex

log = logging.getLogger(__name__)

PASSAGE_CHARS = 1400  # a candidate's text is cut (at a space) beyond this; chunks are ~180 tokens anyway
RATIONALE_CHARS = 400
VERDICT_WEIGHT = {"satisfies": 0.9, "partial": 0.55}
OUTPUT_TOKENS_PER_PASSAGE, OUTPUT_TOKENS_BASE = 75, 15  # dry-run estimate of the reply's length


class PassageJudgment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passage_id: str
    verdict: Literal["satisfies", "partial", "does_not"]
    rationale: str
    quotes: list[str]


class ClauseJudgment(BaseModel):
    """Judgments of the candidate passages for one requirement."""

    model_config = ConfigDict(extra="forbid", title="clause_judgment")
    judgments: list[PassageJudgment]


# --- what is sent -------------------------------------------------------------------------------------


def sendable(item: JudgeItem, limit: int) -> list[Candidate]:
    """The candidates put before the model: visible passages only (hidden text is never cited or sent)."""
    return [c for c in item.candidates if not c.passage.hidden][:limit]


def _trim(text: str, limit: int = PASSAGE_CHARS) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = text.rfind(" ", 0, limit)
    return text[:cut if cut > limit // 2 else limit], True


def request_data(clause: Clause, sent: list[Candidate]) -> dict:
    """The DATA block for one clause: the requirement and the passages, with local ids P1, P2, ..."""
    passages = []
    for n, c in enumerate(sent, 1):
        text, cut = _trim(c.passage.text)
        entry = {"id": f"P{n}", "document": c.document_name, "section": " > ".join(c.passage.heading_path),
                 "text": text}
        if cut:
            entry["truncated"] = True
        passages.append(entry)
    requirement = {"framework": clause.framework, "id": clause.id, "title": clause.title,
                   "what_an_auditor_looks_for": " ".join(clause.description.split())}
    return {"requirement": requirement, "passages": passages}


def request_key(clause: Clause, sent: list[Candidate], model: str, prompt_version: str) -> str:
    """Cache key: clause text, passage hashes, model and prompt version."""
    return cache_key("judge", clause.key, sha256_hex(clause.query_text()), model,
                     prompt_version, [(c.passage.id, sha256_hex(c.passage.text)) for c in sent])


def output_estimate(n_passages: int, cap: int) -> int:
    return min(cap, OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_PASSAGE * n_passages)


# --- the judge ----------------------------------------------------------------------------------------


class LLMJudge:
    """Implements rag.mapping.Judge with a language model."""

    def __init__(self, ctx: Context, client: LLMClient | None = None) -> None:
        self.ctx, self.settings = ctx, ctx.settings
        self.client = client or client_for(ctx)
        self.prompt = load_prompt("judge")
        self.counts: Counter = Counter()
        self.stopped: str | None = None
        self._lock = threading.Lock()

    def review(self, items: list[JudgeItem], progress: Progress | None = None) -> dict[str, list[Proposal]]:
        out: dict[str, list[Proposal]] = {}
        done = 0
        workers = max(1, self.settings.llm_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="judge") as pool:
            for key, proposals in pool.map(self._one, items):
                out[key] = proposals
                done += 1
                if progress:
                    progress("judge", done, len(items))
        return out

    def _one(self, item: JudgeItem) -> tuple[str, list[Proposal]]:
        key = item.clause.key
        if self.stopped:
            return key, self._fallback(item, "stopped")
        sent = sendable(item, self.settings.judge_candidates)
        if not sent:
            return key, item.offline
        data = request_data(item.clause, sent)
        estimate = message_tokens(self.prompt, data, ClauseJudgment) + output_estimate(
            len(sent), self.settings.llm_max_output_tokens)
        try:
            reply = self.client.ask(self.prompt, data, ClauseJudgment,
                                    request_key(item.clause, sent, self.client.model, self.prompt.version), estimate)
        except (BudgetExceeded, LLMError) as exc:
            self._stop(exc)
            return key, self._fallback(item, "stopped")
        if reply.failure:
            log.warning("judge %s: %s (%s); keeping the offline proposals", key, reply.failure, reply.detail)
            return key, self._fallback(item, reply.failure)
        return key, self.proposals(item, sent, ClauseJudgment.model_validate(reply.data), reply)

    def _stop(self, exc: Exception) -> None:
        with self._lock:
            if not self.stopped:
                self.stopped = f"{type(exc).__name__}: {exc}"
                log.warning("judge stopped: %s; remaining clauses keep their offline proposals", exc)

    def _fallback(self, item: JudgeItem, reason: str) -> list[Proposal]:
        self._count(fallbacks=1, **{reason: 1})
        return item.offline

    def _count(self, **kw: int) -> None:
        with self._lock:
            self.counts.update(kw)

    # --- turning a validated answer into proposals ------------------------------------------------------

    def proposals(self, item: JudgeItem, sent: list[Candidate], judged: ClauseJudgment, reply: Reply
                  ) -> list[Proposal]:
        by_id = {f"P{n}": c for n, c in enumerate(sent, 1)}
        seen: set[str] = set()
        by_doc: dict[int, list[tuple[str, Candidate, list, str]]] = {}
        for j in judged.judgments:
            cand = by_id.get(j.passage_id.strip())
            if cand is None or j.passage_id.strip() in seen:
                self._count(discarded=1)
                continue
            seen.add(j.passage_id.strip())
            if j.verdict == "does_not":
                continue
            verified = self._verify(j.quotes, cand)
            if not verified:
                self._count(downgraded=1)
                continue
            by_doc.setdefault(cand.passage.document_id, []).append((j.verdict, cand, verified, j.rationale))
        made = [self._proposal(item.clause, rows, reply) for rows in by_doc.values()]
        made.sort(key=lambda p: -p.confidence)
        self._count(judged=1, proposals=len(made[:self.settings.max_proposals_per_clause]))
        return made[:self.settings.max_proposals_per_clause]

    def _verify(self, quotes: list[str], cand: Candidate) -> list:
        verified = []
        for quote in quotes[:4]:
            citation = cites.quote_citation(quote, cand.passage, cand.version_text, cand.document_name)
            if citation is None:
                self._count(dropped_quotes=1)
            elif looks_like_instructions(citation.quote):
                self._count(instruction_quotes=1)
            elif all((c.start, c.end) != (citation.start, citation.end) for c in verified):
                verified.append(citation)
        return verified

    def _proposal(self, clause: Clause, rows: list[tuple[str, Candidate, list, str]], reply: Reply) -> Proposal:
        rows.sort(key=lambda r: (-VERDICT_WEIGHT[r[0]], -r[1].fused))
        verdict, best, _, rationale = rows[0]
        citations = [c for r in rows for c in r[2]][:self.settings.citations_per_proposal]
        confidence = 0.6 * VERDICT_WEIGHT[verdict] + 0.4 * best.confidence
        note = " ".join(rationale.split())[:RATIONALE_CHARS]
        if looks_like_instructions(note):
            note = "(the model's rationale was withheld: it echoed instructions found in the policy text.)"
        return Proposal(
            framework=clause.framework, clause_id=clause.id, document_id=best.passage.document_id,
            document_name=best.document_name, document_sha256=best.passage.document_sha256, citations=citations,
            score=round(best.fused, 4), confidence=round(confidence, 4),
            coverage=Coverage.full if verdict == "satisfies" else Coverage.partial,
            rationale=f"Model judgment ({verdict}): {note} A reviewer must confirm the passage meets the clause.",
            method=Method.llm, prompt_version=self.prompt.version, model=reply.model or self.client.model,
            corpus_version=self.ctx.catalog.version, usage=dict(reply.usage))

    # --- reporting ------------------------------------------------------------------------------------

    def usage_summary(self) -> dict[str, Any]:
        """Calls, tokens, cost and cache hits of the run, and what validation threw away."""
        c = self.counts
        failures = {k: c[k] for k in ("refusal", "malformed", "schema", "timeout", "rate_limited", "api", "stopped")}
        return {**self.client.usage.as_dict(), "model": self.client.model, "prompt_version": self.prompt.version,
                "clauses_judged": c["judged"], "proposals": c["proposals"], "dropped_quotes": c["dropped_quotes"],
                "instruction_quotes": c["instruction_quotes"], "downgraded": c["downgraded"],
                "discarded_ids": c["discarded"], "fallbacks": c["fallbacks"],
                **failures, "stopped": self.stopped}


def make_judge(ctx: Context, http_client: Any = None) -> LLMJudge:
    """The LLM judge for this context (raises LLMNotConfigured without a key, base URL or Azure settings)."""
    return LLMJudge(ctx, client_for(ctx, http_client))


# --- cost before spending -----------------------------------------------------------------------------


class _Recorder:
    """A judge that only records what would be sent; the offline proposals stand."""

    def __init__(self) -> None:
        self.items: list[JudgeItem] = []

    def review(self, items: list[JudgeItem], progress: Progress | None = None) -> dict[str, list[Proposal]]:
        self.items = list(items)
        return {}


def dry_run(ctx: Context, workspace: str, keys: list[str]) -> dict[str, Any]:
    """Calls, tokens and cost the judge would spend on these frameworks; nothing is sent anywhere."""
    settings = ctx.settings
    recorder = _Recorder()
    propose(ctx, workspace, keys, judge=recorder)
    prompt = load_prompt("judge")
    cache = open_cache(settings)
    per_clause, outputs, cached = [], 0, 0
    for item in recorder.items:
        sent = sendable(item, settings.judge_candidates)
        if not sent:
            continue
        if cache.get(request_key(item.clause, sent, settings.llm_model, prompt.version)) is not None:
            cached += 1
            continue
        per_clause.append(message_tokens(prompt, request_data(item.clause, sent), ClauseJudgment))
        outputs += output_estimate(len(sent), settings.llm_max_output_tokens)
    inputs = sum(per_clause)
    _, _, known = prices(settings)
    return {"model": settings.llm_model, "calls": len(per_clause), "cached": cached, "tokens_in": inputs,
            "tokens_out": outputs, "in_per_call": round(inputs / len(per_clause)) if per_clause else 0,
            "usd": cost(settings, inputs, outputs) if known else "unknown"}
