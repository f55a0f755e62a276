"""LLM narrative mode: the DC5 part of the SOC 2 system description (the criteria and the related controls)
drafted by a model from approved mappings and the system profile, and checked sentence by sentence: only
sentences the checker traces to an approved citation are kept.

The evidence the model sees is exactly the extractive narrative's statements (rag.narrate): verified quotes
of approved mappings, numbered E1, E2, ... Every drafted sentence must carry citation markers naming that
evidence, every quote it gives must be found inside the cited approved span (rag.citations.quote_citation),
and its words must come from the cited quotes (or the organization's and criteria's names): a sentence that
fails any check is dropped, and the extractive statements it would have covered stand in for it. Sections
other than DC5 come from the system profile and stay extractive.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from rag import citations as cites
from rag.context import Context
from rag.errors import BudgetExceeded, LLMError
from rag.llm import LLMClient, cache_key, client_for, load_prompt, looks_like_instructions, message_tokens
from rag.llm_budget import spent_between
from rag.models import Citation, NarrativeSection, NarrativeStatement, Passage
from rag.prose import artefacts

log = logging.getLogger(__name__)

MAX_EVIDENCE = 40  # per call; evidence beyond it keeps its extractive statement
SUPPORT = 0.8  # share of a sentence's content words that must come from its sources
MAX_UNSUPPORTED = 3  # and at most this many words from nowhere
_MARKER = re.compile(r"\[\s*(E\d+)\s*\]")
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]*")
_STOP = set("""a an and are as at be been by for from has have in into is it its of on or that the their them
these this those to under was were which while with within without each every all any also both such than
then there they through when where who whom whose will would can may must should shall not no nor only
organization organisation company policy policies""".split())


class QuoteRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str
    quote: str


class DraftSentence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    quotes: list[QuoteRef]


class Draft(BaseModel):
    """Sentences of one DC5 category, each with citation markers and its supporting quotes."""

    model_config = ConfigDict(extra="forbid", title="dc5_draft")
    sentences: list[DraftSentence]


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP]


def _supported(sentence: str, sources: list[str]) -> bool:
    vocabulary = {w[:5] for s in sources for w in _words(s)}
    words = _words(sentence)
    missing = sum(w[:5] not in vocabulary for w in words)
    return bool(words) and missing <= min(MAX_UNSUPPORTED, (1 - SUPPORT) * len(words))


class LLMNarrator:
    """Redrafts DC5 with `client`: pass the run's client (the judge's) so the narrative spends from the run's
    budget and its calls count in the run's usage; a fresh client of its own when none is given."""

    def __init__(self, ctx: Context, client: LLMClient | None = None) -> None:
        self.ctx = ctx
        self.client = client or client_for(ctx)
        self.prompt = load_prompt("narrate")
        self.counts: Counter = Counter()
        self._usage_before = self.client.usage.as_dict()  # the client may already carry the mapping's calls

    def redraft(self, profile, sections: list[NarrativeSection], texts: dict[str, str] | None = None
                ) -> list[NarrativeSection]:
        """The extractive sections with each DC5 category's statements redrafted where the draft checks out.
        `texts`: the canonical text of each cited version (read from the store when not given)."""
        from rag.profile import coerce

        p = coerce(profile)
        names = [p.organization.legal_name, p.organization.short_name or "", p.report.system_name] if p else \
            ["", "", ""]
        texts = texts if texts is not None else _version_texts(self.ctx, sections)
        for section in sections:
            if section.key != "DC5":
                continue
            for sub in section.subsections:
                if sub.statements:
                    sub.statements = self._category(sub, names, texts)
        return sections

    def _category(self, sub: NarrativeSection, names: list[str], texts: dict[str, str]) -> list[NarrativeStatement]:
        evidence = {f"E{n}": st for n, st in enumerate(sub.statements[:MAX_EVIDENCE], 1)}
        data = self._data(sub, names, evidence)
        key = cache_key("narrate", self.client.model, self.prompt.version, data)
        estimate = message_tokens(self.prompt, data, Draft) + self.ctx.settings.llm_max_output_tokens
        try:
            reply = self.client.ask(self.prompt, data, Draft, key, estimate)
        except (BudgetExceeded, LLMError) as exc:
            log.warning("narrative %s: %s; keeping the extractive text", sub.key, exc)
            reply = None
        if reply is None or reply.failure:
            self.counts.update(fallback_categories=1)
            return sub.statements
        checked = [c for s in Draft.model_validate(reply.data).sentences
                   if (c := self.check(s, evidence, names, texts)) is not None]
        used = {id(evidence[r]) for _, refs in checked for r in refs}
        kept = [st for st, _ in checked]
        rest = [st for st in sub.statements if id(st) not in used]
        self.counts.update(sentences_kept=len(kept), extractive_fallbacks=len(rest))
        order: dict[str | None, int] = {}
        for n, st in enumerate(sub.statements):
            order.setdefault(st.criterion, n)
        return sorted(kept + rest, key=lambda st: order.get(st.criterion, 0))

    def _data(self, sub: NarrativeSection, names: list[str], evidence: dict[str, NarrativeStatement]) -> dict:
        titles = self._titles()
        return {"organization": names[0] or names[1], "system": names[2], "category": sub.title,
                "evidence": [{"ref": ref, "criterion": f"{st.criterion} {titles.get(st.criterion, '')}".strip(),
                              "document": st.citations[0].document_name,
                              "quote": " ".join(c.quote for c in st.citations)}
                             for ref, st in evidence.items()]}

    def _titles(self) -> dict[str, str]:
        return {c.id: c.title for c in self.ctx.catalog.framework("soc2-tsc-2017").clauses}

    def check(self, sentence: DraftSentence, evidence: dict[str, NarrativeStatement], names: list[str],
              texts: dict[str, str]) -> tuple[NarrativeStatement, list[str]] | None:
        """The sentence as a statement (with the refs it rests on), or None (counted) when a check fails."""
        refs = list(dict.fromkeys(_MARKER.findall(sentence.text) + [q.ref.strip() for q in sentence.quotes]))
        text = " ".join(_MARKER.sub("", sentence.text).split())
        text = re.sub(r"\s+([.,;:])", r"\1", text)
        reason = None
        if not refs:
            reason = "no_citation"
        elif any(r not in evidence for r in refs):
            reason = "unknown_ref"
        citations = [] if reason else self._citations(sentence, refs, evidence, texts)
        if not reason and citations is None:
            reason = "quote_not_verified"
        titles = self._titles()
        sources = names + [c.quote for r in refs if r in evidence for c in evidence[r].citations] + [
            titles.get(evidence[r].criterion, "") for r in refs if r in evidence]
        if not reason and looks_like_instructions(text):
            reason = "instruction_like"
        if not reason and artefacts(text):
            reason = "rendering_artefact"
        if not reason and not _supported(text, sources):
            reason = "unsupported_words"
        if reason:
            self.counts.update(sentences_dropped=1, **{reason: 1})
            return None
        proposal_ids = list(dict.fromkeys(pid for r in refs for pid in evidence[r].proposal_ids))
        return NarrativeStatement(text=text, citations=citations, proposal_ids=proposal_ids,
                                  criterion=evidence[refs[0]].criterion), refs

    def _citations(self, sentence: DraftSentence, refs: list[str], evidence: dict[str, NarrativeStatement],
                   texts: dict[str, str]) -> list[Citation] | None:
        """A verified citation per quote (inside the approved span it names); the approved citation itself for
        a ref cited without a quote. None when any quote does not verify."""
        out: list[Citation] = []
        quoted = set()
        for q in sentence.quotes:
            found = next((f for approved in evidence[q.ref.strip()].citations
                          if (f := _within(q.quote, approved, texts)) is not None), None)
            if found is None:
                return None
            out.append(found)
            quoted.add(q.ref.strip())
        out += [c for r in refs if r not in quoted for c in evidence[r].citations]
        return out

    def summary(self) -> dict[str, Any]:
        return {**self.client.usage.as_dict(), **dict(self.counts), "prompt_version": self.prompt.version}

    def spent(self) -> dict[str, Any]:
        """The calls, tokens and cost of this narrator's own drafting (not what its client spent before)."""
        return spent_between(self._usage_before, self.client.usage.as_dict())


def _within(quote: str, approved: Citation, texts: dict[str, str]) -> Citation | None:
    """A verified citation of `quote` inside the approved span, or None."""
    span = Passage(id=approved.passage_id, document_sha256=approved.document_sha256, seq=0, start=approved.start,
                   end=approved.end, text=approved.quote, heading_path=approved.heading_path, page=approved.page)
    text = texts.get(approved.document_sha256, "")
    found = cites.quote_citation(quote, span, text, approved.document_name) if text else None
    return found if found is not None and cites.verify(found, texts) else None


def _version_texts(ctx: Context, sections: list[NarrativeSection]) -> dict[str, str]:
    from rag.corpus import texts_by_sha

    return texts_by_sha(ctx, {c.document_sha256 for st in _statements(sections) for c in st.citations})


def _statements(sections: list[NarrativeSection]):
    for section in sections:  # rag.narrate imports this module: walk the sections here, no import back
        yield from section.statements
        yield from _statements(section.subsections)


def redraft(ctx: Context, workspace: str, profile: dict, sections: list[NarrativeSection],
            narrator: LLMNarrator | None = None) -> list[NarrativeSection]:
    """Demo and CLI entry point: redraft DC5 with the model configured in ctx.settings."""
    del workspace  # the sections were built for it; the texts are looked up by version hash
    return (narrator or LLMNarrator(ctx)).redraft(profile, sections)
