"""`ctrlmap demo`: the whole flow on the bundled sample organization, offline.

Ingest the sample policies, propose mappings for the four frameworks, apply the recorded reviewer
decisions, and write the coverage report, proposals, the SOC 2 system description and the canonical texts of
every cited version. A second run reuses stored work: unchanged documents are not parsed or embedded again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag import citations as cites
from rag import workflows
from rag.context import Context
from rag.coverage import coverage
from rag.export import coverage_report, matrix, narrative_docx, narrative_md, soa, tables
from rag.ingest.pipeline import IngestResult
from rag.narrate import load_profile
from rag.review import list_proposals
from rag.samples import DecisionOutcome, apply_decisions, sample_dir

WORKSPACE = "demo"
ACTOR = "ctrlmap-demo"


@dataclass
class DemoResult:
    out: Path
    ingest: list[IngestResult] = field(default_factory=list)
    decisions: DecisionOutcome | None = None
    summary: list[dict] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    citations_total: int = 0
    citations_verified: int = 0
    narrative_problems: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    usage: dict = field(default_factory=dict)  # LLM usage of this demo's runs (mapping and narrative)
    workspace: str = WORKSPACE


Step = Callable[[str], None]


def run_demo(ctx: Context, out: Path, step: Step | None = None, ingest_progress=None, map_progress=None,
             judge=None) -> DemoResult:
    step = step or (lambda _msg: None)
    result = DemoResult(out=out)
    workspace = WORKSPACE
    clock = time.perf_counter()
    with sample_dir() as sample:
        step(f"Ingesting the sample organization's policies into workspace {workspace!r}")
        result.ingest = workflows.ingest_documents(ctx, workspace, [str(sample / "policies")], ACTOR,
                                                   ingest_progress).results
        result.timings["ingest"] = time.perf_counter() - clock

        step("Proposing mappings for SOC 2, ISO 27001, ISO 42001 and NIST AI RMF")
        clock = time.perf_counter()
        judge = judge if judge is not None else workflows.make_run_judge(ctx)  # the run's client and budget
        mapped = workflows.run_mapping(ctx, workspace, ctx.catalog.primary(), ACTOR, map_progress, judge)
        result.usage = mapped.usage
        result.timings["map"] = time.perf_counter() - clock

        step("Applying the recorded reviewer decisions")
        clock = time.perf_counter()
        result.decisions = apply_decisions(ctx, workspace, sample / "decisions.yaml")
        result.timings["review"] = time.perf_counter() - clock

        step("Writing the coverage report, proposals and system description")
        clock = time.perf_counter()
        _write_outputs(ctx, workspace, out, load_profile(sample / "system-profile.yaml"), result,
                       getattr(judge, "client", None))
        result.timings["export"] = time.perf_counter() - clock
    return result


def _write_outputs(ctx: Context, workspace: str, out: Path, profile: dict, result: DemoResult, client) -> None:
    out.mkdir(parents=True, exist_ok=True)
    proposals = list_proposals(ctx, workspace, limit=10**6)
    report = coverage(ctx, workspace)
    files = [out / "coverage.md", out / "coverage.png", out / "proposals.csv", out / "proposals.json",
             out / "system-description.md", out / "system-description.docx"]
    files[0].write_text(coverage_report.markdown(report, "Coverage: Halcyon Labs (sample)"), encoding="utf-8")
    coverage_report.heatmap(report, files[1])
    tables.write_csv(proposals, files[2])
    tables.write_json(proposals, files[3])
    desc = workflows.describe_system(ctx, workspace, profile, client=client)  # narrated on the mapping's client
    result.narrative_problems = desc.problems
    result.usage = workflows.with_narrative(result.usage, desc.usage)
    files[4].write_text(narrative_md.render(desc.sections, desc.title, desc.period), encoding="utf-8")
    narrative_docx.write(desc.sections, desc.title, files[5], desc.period)
    files += matrix.write_all(ctx, workspace, out, f"{profile.organization.legal_name}: control matrix")
    files += soa.write_all(ctx, workspace, out, f"{profile.organization.legal_name}: Statement of Applicability")
    shas = {c.document_sha256 for p in proposals for c in p.citations}
    tables.write_texts(ctx, shas, out / "texts")
    texts = {sha: (out / "texts" / f"{sha}.txt").read_bytes().decode("utf-8") for sha in shas}
    all_citations = [c for p in proposals for c in p.citations]
    result.citations_total = len(all_citations)
    result.citations_verified = sum(cites.verify(c, texts) for c in all_citations)
    result.files = files + [out / "texts"]
    for fw in report.frameworks:
        result.summary.append({"framework": fw.name, "clauses": fw.clauses, "covered": fw.covered + fw.partial,
                               "awaiting review": fw.awaiting, "gaps": fw.gaps,
                               "proposals": sum(1 for p in proposals if p.framework == fw.key),
                               "citations verified": sum(cites.verify(c, texts) for p in proposals
                                                         if p.framework == fw.key for c in p.citations)})
