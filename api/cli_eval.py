"""`ctrlmap eval` and `ctrlmap bench`: measured quality and speed."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from api.console import STATE, console, errors, handle_errors, table
from rag.errors import InvalidInput

bench_app = typer.Typer(help="Benchmarks: scripts that print figures (not timed tests).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.add_typer(bench_app, name="bench")


@handle_errors
def eval_command(
    dataset: list[Path] = typer.Option(..., "--dataset", "-d", exists=True, file_okay=False,
                                       help="Labeled dataset folder (FORMAT.md layout). Repeatable."),
    framework: list[str] = typer.Option([], "--framework", "-f", help="Only these framework keys."),
    mode: str = typer.Option("offline", help="offline, or llm (judge with the configured model)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the runs as JSON here."),
    report: Optional[Path] = typer.Option(None, help="Write report.md and eval.png into this folder."),
    baselines: bool = typer.Option(True, help="Also score the bm25, dense and hybrid baselines."),
    catalog: list[Path] = typer.Option([], "--catalog", exists=True, dir_okay=False,
                                       help="Load another catalog (OSCAL, CSV or JSON) over the bundled one, "
                                            "e.g. the reference texts. Repeatable."),
    judge: list[str] = typer.Option([], "--judge", help="Also run the LLM path under a SIMULATED judge of known "
                                                        "quality, in its own rows: oracle (answers from the gold "
                                                        "labels) or noisy:P (the oracle with a share P of its "
                                                        "answers flipped, seeded). Repeatable."),
) -> None:
    """Score the mapping pipeline (and the baselines) on real labeled policy sets."""
    from evals import report as reporting
    from evals.run import evaluate
    from evals.simulated import parse_judge

    if mode not in ("offline", "llm"):
        raise typer.BadParameter("mode must be offline or llm")
    judges = [parse_judge(j) for j in judge]
    factory = _judge_factory() if mode == "llm" else None
    methods = ["ctrlmap", "bm25", "dense", "hybrid"] if baselines else ["ctrlmap"]
    results = []
    for path in dataset:
        console.print(f"[cyan]•[/] {path.name}: ingesting through the pipeline into a throw-away workspace")
        try:
            results += evaluate(path, framework or None, mode, [*STATE.catalogs, *catalog], methods, factory,
                                log=lambda line: console.print(line, highlight=False), judges=judges)
        except InvalidInput as exc:
            if len(dataset) == 1:
                raise
            errors.print(f"[yellow]skipped[/]: {exc}")
    if not results:
        raise InvalidInput("none of the datasets had labels in a framework to score")
    console.print(table("Evaluation", reporting.rows(results)))
    console.print(table("Means over dataset x framework pairs", reporting.means(results)))
    if json_out:
        reporting.write_json(results, json_out)
        console.print(f"wrote {json_out}")
    if report:
        report.mkdir(parents=True, exist_ok=True)
        (report / "report.md").write_text(reporting.markdown(results), encoding="utf-8")
        reporting.plot(results, report / "eval.png")
        console.print(f"wrote {report / 'report.md'} and {report / 'eval.png'}")


def _judge_factory():
    """A fresh judge (own client, budget and usage) per framework run, after one pre-flight check of the
    configured endpoint (a refused key, an unknown model or a server that is down stops here, exit 8)."""
    from rag.judge import make_judge
    from rag.llm import new_client
    from rag.settings import Settings

    new_client(Settings.load(STATE.preset or "llm", data_dir=STATE.data_dir, mode="llm")).preflight()

    def make(ctx):
        return make_judge(ctx)

    return make


@bench_app.command("map")
@handle_errors
def bench_map(sizes: list[int] = typer.Option([300, 5000], "--size", help="Corpus sizes (documents)."),
              loop_clauses: int = typer.Option(40, help="Clauses timed in the per-clause loop comparison.")) -> None:
    """Map all clauses of the four frameworks against generated corpora; prints time, RSS and batching gain."""
    from evals.bench.mapping import run

    for row in run(sizes, loop_clauses, log=lambda line: console.print(line, highlight=False)):
        console.print(table(f"bench map: {row['documents']} documents", [row]))


@bench_app.command("scale")
@handle_errors
def bench_scale(workspaces: int = typer.Option(20), documents: int = typer.Option(500, help="Per workspace."),
                reviewers: int = typer.Option(50), decisions: int = typer.Option(2000),
                pg_url: str = typer.Option("postgresql://postgres@127.0.0.1:5432/test")) -> None:
    """2 API + 2 worker processes, a Chroma server and PostgreSQL: ingest and map while reviewers decide."""
    from evals.bench.scale import main

    raise typer.Exit(main(["--workspaces", str(workspaces), "--documents", str(documents), "--reviewers",
                           str(reviewers), "--decisions", str(decisions), "--pg-url", pg_url]))