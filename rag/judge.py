"""The LLM judge: for each clause, one call that judges its candidate passages, and code that decides what of
the answer to believe.

What it sees: document first, the best passage of each of the clause's top documents in the offline ranking,
each as an excerpt of whole sentences, packed into a fixed input-token allowance per clause (`sendable`),
only ever as a delimited DATA block (see rag.llm). Its answer is used only after validation: judgments naming
a passage that was not sent are discarded; every quote must meet the quote policy and is located in its
passage by rag.citations.quote_citation, dropped when it is not there; a positive verdict left without a
verified quote is no verdict. Each document's verdict is combined with its offline confidence by
rag.mapping.combine, which ranks the clause's documents and decides what is proposed. A clause
whose call fails (refusal, malformed JSON, schema violation, timeout, API error, spent budget) keeps its
offline proposals; a refused key or model, or an endpoint the circuit breaker gave up on, stops the run
(LLMRefused / LLMUnavailable). The model's rationale is stored as untrusted text. The judge only ever
produces proposals: approval is a person's decision.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rag import citations as cites
from rag.context import Context
from rag.errors import BudgetExceeded, LLMError, LLMRefused, LLMUnavailable
from rag.llm import (LLMClient, Prompt, Reply, cache_key, cost, load_prompt, looks_like_instructions,
                     message_tokens, new_client, open_cache, prices)
from rag.mapping import VERDICT_LOG_ODDS, Candidate, JudgeItem, Progress, judged_confidence, propose
from rag.models import Clause, Coverage, Method, Proposal, sha256_hex
from rag.settings import Settings

log = logging.getLogger(__name__)

RATIONALE_CHARS = 400
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


@dataclass(frozen=True)
class Sent:
    """A candidate as put before the model: its local id and the excerpt of its passage that was sent."""

    candidate: Candidate
    start: int  # offsets of the excerpt in the version text (inside the passage)
    end: int

    @property
    def text(self) -> str:
        return self.candidate.version_text[self.start:self.end]


def excerpt(cand: Candidate, terms: set[str], limit: int) -> tuple[int, int]:
    """The passage, or when longer than `limit` characters, whole sentences around its best one."""
    p, text = cand.passage, cand.version_text
    if p.end - p.start <= limit:
        return p.start, p.end
    from rag.ingest.chunk import sentence_spans

    spans = sentence_spans(text, p.start, p.end) or [(p.start, p.end)]
    best_start, _ = cites.best_span(p, text, terms, max_chars=limit, body_first=False)
    b = next((k for k, (s, e) in enumerate(spans) if s <= best_start < e), 0)
    lo = hi = b
    while True:
        grown = False
        if hi + 1 < len(spans) and spans[hi + 1][1] - spans[lo][0] <= limit:
            hi, grown = hi + 1, True
        if lo > 0 and spans[hi][1] - spans[lo - 1][0] <= limit:
            lo, grown = lo - 1, True
        if not grown:
            break
    start, end = spans[lo][0], spans[hi][1]
    if end - start > limit:  # one sentence longer than the limit: cut at a space
        cut = text.rfind(" ", start, start + limit)
        end = cut if cut > start + limit // 2 else start + limit
    return start, end


def sendable(item: JudgeItem, settings: Settings, prompt: Prompt | None = None) -> list[Sent]:
    """What the model sees for this clause: visible candidates, best document first, each as an excerpt,
    packed into `judge_input_tokens` (the whole request: instructions, schema, requirement, passages)."""
    from rag.embeddings import count_tokens

    prompt = prompt or load_prompt("judge")
    terms = cites.query_terms(item.clause.query_text())
    used = message_tokens(prompt, request_data(item.clause, []), ClauseJudgment)
    out: list[Sent] = []
    for cand in item.candidates:
        if cand.passage.hidden:
            continue
        start, end = excerpt(cand, terms, settings.judge_passage_chars)
        sent = Sent(cand, start, end)
        cost = count_tokens(json.dumps(_entry(len(out) + 1, sent), ensure_ascii=False, indent=1)) + 2
        if used + cost > settings.judge_input_tokens:
            break
        used += cost
        out.append(sent)
    # the entries were counted alone; nested in the block they carry more indentation: check the whole request
    while out and message_tokens(prompt, request_data(item.clause, out), ClauseJudgment) > settings.judge_input_tokens:
        out.pop()
    return out


def _entry(n: int, sent: Sent) -> dict:
    c = sent.candidate
    entry = {"id": f"P{n}", "document": c.document_name, "section": " > ".join(c.passage.heading_path),
             "text": sent.text}
    if (sent.start, sent.end) != (c.passage.start, c.passage.end):
        entry["excerpt"] = True
    return entry


def request_data(clause: Clause, sent: list[Sent]) -> dict:
    """The DATA block for one clause: the requirement and the passages, with local ids P1, P2, ..."""
    requirement = {"framework": clause.framework, "id": clause.id, "title": clause.title,
                   "what_an_auditor_looks_for": " ".join(clause.description.split())}
    return {"requirement": requirement, "passages": [_entry(n, s) for n, s in enumerate(sent, 1)]}


def request_key(clause: Clause, sent: list[Sent], model: str, prompt_version: str) -> str:
    """Cache key: clause text, the hashes of the excerpts sent, model and prompt version."""
    return cache_key("judge", clause.key, sha256_hex(clause.query_text()), model,
                     prompt_version, [(s.candidate.passage.id, sha256_hex(s.text)) for s in sent])


def output_estimate(n_passages: int, cap: int) -> int:
    return min(cap, OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_PASSAGE * n_passages)


# --- the judge ----------------------------------------------------------------------------------------


class LLMJudge:
    """Implements rag.mapping.Judge with a language model."""

    def __init__(self, ctx: Context, client: LLMClient | None = None) -> None:
        self.ctx, self.settings = ctx, ctx.settings
        self.client = client or new_client(ctx)
        self.prompt = load_prompt("judge")
        self.counts: Counter = Counter()
        self.stopped: str | None = None
        self.sent_documents: dict[str, set[int]] = {}  # clause key -> documents whose passages reached the model
        self._lock = threading.Lock()

    def review(self, items: list[JudgeItem], progress: Progress | None = None) -> dict[str, list[Proposal]]:
        """Proposals per clause key; records each item's verdicts. Raises LLMRefused or LLMUnavailable (the
        run cannot be judged: the endpoint refuses the key or model, or is down) after stopping every call."""
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
        sent = sendable(item, self.settings, self.prompt)
        if not sent:
            return key, item.offline
        with self._lock:
            self.sent_documents[key] = {s.candidate.passage.document_id for s in sent}
        data = request_data(item.clause, sent)
        estimate = message_tokens(self.prompt, data, ClauseJudgment) + output_estimate(
            len(sent), self.settings.llm_max_output_tokens)
        try:
            reply = self.client.ask(self.prompt, data, ClauseJudgment,
                                    request_key(item.clause, sent, self.client.model, self.prompt.version), estimate)
        except (LLMRefused, LLMUnavailable) as exc:
            self._stop(exc)
            raise
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
                log.warning("judge stopped: %s", exc)

    def _fallback(self, item: JudgeItem, reason: str) -> list[Proposal]:
        self._count(fallbacks=1, **{reason: 1})
        return item.offline

    def _count(self, **kw: int) -> None:
        with self._lock:
            self.counts.update(kw)

    # --- turning a validated answer into verdicts and proposals --------------------------------------

    def proposals(self, item: JudgeItem, sent: list[Sent], judged: ClauseJudgment, reply: Reply) -> list[Proposal]:
        """Record the verdict per document in `item.verdicts` (a positive verdict counts only with a verified
        quote) and propose each document with a verified positive verdict, with a provisional confidence;
        rag.mapping.propose re-scores them with the combined evidence and keeps those above its threshold."""
        by_id = {f"P{n}": s for n, s in enumerate(sent, 1)}
        seen: set[str] = set()
        by_doc: dict[int, list[tuple[str, Candidate, list, str]]] = {}
        for j in judged.judgments:
            pid = j.passage_id.strip()
            sent_one = by_id.get(pid)
            if sent_one is None or pid in seen:
                self._count(discarded=1)
                continue
            seen.add(pid)
            cand = sent_one.candidate
            doc = cand.passage.document_id
            if j.verdict == "does_not":
                item.verdicts.setdefault(doc, "does_not")
                continue
            verified = self._verify(j.quotes, cand)
            if not verified:
                self._count(downgraded=1)
                continue
            if VERDICT_LOG_ODDS[j.verdict] > VERDICT_LOG_ODDS.get(item.verdicts.get(doc), -99):
                item.verdicts[doc] = j.verdict
            by_doc.setdefault(doc, []).append((j.verdict, cand, verified, j.rationale))
        made = [self._proposal(item.clause, rows, reply) for rows in by_doc.values()]
        made.sort(key=lambda p: -p.confidence)
        self._count(judged=1, proposals=len(made))
        return made

    def _verify(self, quotes: list[str], cand: Candidate) -> list:
        verified = []
        for quote in quotes[:4]:
            citation = cites.quote_citation(quote, cand.passage, cand.version_text, cand.document_name,
                                              policy=True)
            if citation is None:
                self._count(dropped_quotes=1)
            elif looks_like_instructions(citation.quote):
                self._count(instruction_quotes=1)
            elif all((c.start, c.end) != (citation.start, citation.end) for c in verified):
                verified.append(citation)
        return verified

    def _proposal(self, clause: Clause, rows: list[tuple[str, Candidate, list, str]], reply: Reply) -> Proposal:
        rows.sort(key=lambda r: (-VERDICT_LOG_ODDS[r[0]], -r[1].fused))
        verdict, best, _, rationale = rows[0]
        citations = [c for r in rows for c in r[2]][:self.settings.citations_per_proposal]
        confidence = judged_confidence(best.confidence, verdict)
        return Proposal(
            framework=clause.framework, clause_id=clause.id, document_id=best.passage.document_id,
            document_name=best.document_name, document_sha256=best.passage.document_sha256, citations=citations,
            score=round(best.fused, 4), confidence=round(confidence, 4),
            coverage=Coverage.full if verdict == "satisfies" else Coverage.partial,
            rationale=untrusted_rationale(verdict, rationale),
            method=Method.llm, prompt_version=self.prompt.version, model=reply.model or self.client.model,
            corpus_version=self.ctx.catalog.version, usage=dict(reply.usage))

    # --- reporting ------------------------------------------------------------------------------------

    def usage_summary(self) -> dict[str, Any]:
        """Calls, tokens, cost and cache hits of this judge's run, and what validation threw away."""
        c = self.counts
        failures = {k: c[k] for k in ("refusal", "malformed", "schema", "timeout", "rate_limited", "api", "stopped")}
        return {**self.client.usage.as_dict(), "model": self.client.model, "prompt_version": self.prompt.version,
                "clauses_judged": c["judged"], "proposals": c["proposals"], "dropped_quotes": c["dropped_quotes"],
                "instruction_quotes": c["instruction_quotes"], "downgraded": c["downgraded"],
                "discarded_ids": c["discarded"], "fallbacks": c["fallbacks"],
                **failures, "stopped": self.stopped}


def untrusted_rationale(verdict: str, rationale: str) -> str:
    """The model's rationale, always framed as untrusted model output (withheld when instruction-shaped)."""
    note = " ".join(rationale.split())[:RATIONALE_CHARS]
    if looks_like_instructions(note):
        note = "(withheld: it echoed instructions found in the policy text)"
    return (f"Model judgment ({verdict}); untrusted model text, not evidence: \"{note}\" "
            "Only the quoted passage is evidence; a reviewer must confirm it meets the clause.")


def make_judge(ctx: Context, http_client: Any = None, client: LLMClient | None = None) -> LLMJudge:
    """A fresh LLM judge for ONE run, with its own client (budget, usage, circuit breaker) unless `client` is
    given. Raises LLMNotConfigured without a key, base URL or Azure settings. `judge.client.preflight()`
    checks key, model and reachability with one cheap call; `judge.usage_summary()` is this run's usage."""
    return LLMJudge(ctx, client or new_client(ctx, http_client))


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
        sent = sendable(item, settings, prompt)
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
