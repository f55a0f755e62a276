"""Eval reports: a console/Markdown table, JSON, and a PNG comparing the pipeline with the baselines."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from evals.run import RunResult

COLUMNS = ["dataset", "framework", "method", "clauses", "documents", "map", "R@1", "R@3", "R@5", "R@10",
           "precision", "recall", "f1", "kappa", "citation_failures", "seconds", "peak_rss_mb"]


def rows(results: list[RunResult]) -> list[dict]:
    out = []
    for r in results:
        d = r.as_dict()
        d.update({f"R@{k}": v for k, v in r.recall_at.items()})
        out.append({c: d.get(c) for c in COLUMNS})
    return out


def means(results: list[RunResult]) -> list[dict]:
    by: dict[str, list[RunResult]] = defaultdict(list)
    for r in results:
        by[r.method].append(r)
    return [{"method": m, "pairs": len(rs), "mean map": round(sum(r.map for r in rs) / len(rs), 3),
             "mean ceiling": round(sum(r.extra.get("ceiling", 0.0) for r in rs) / len(rs), 3)
             if all("ceiling" in r.extra for r in rs) else None,
             "mean f1": round(sum(r.f1 for r in rs) / len(rs), 3),
             "mean kappa": round(sum(r.kappa for r in rs) / len(rs), 3),
             "citation failures": sum(r.citation_failures for r in rs)} for m, rs in by.items()]


def write_json(results: list[RunResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": [r.as_dict() for r in results]}, indent=1), encoding="utf-8")


def markdown(results: list[RunResult], title: str = "ctrlmap mapping evaluation") -> str:
    table = rows(results)
    out = [f"# {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        out.append("| " + " | ".join(_fmt(row[c]) for c in COLUMNS) + " |")
    out += ["", "## Means over dataset x framework pairs", "", "| method | pairs | mean MAP | mean F1 | mean kappa |"
            " mean candidate ceiling | citation failures |", "|---|---|---|---|---|---|---|"]
    for m in means(results):
        ceiling = "" if m["mean ceiling"] is None else f"{m['mean ceiling']:.3f}"
        out.append(f"| {m['method']} | {m['pairs']} | {m['mean map']:.3f} | {m['mean f1']:.3f} | "
                   f"{m['mean kappa']:.3f} | {ceiling} | {m['citation failures']} |")
    out += simulated_section(results)
    llm = [r for r in results if r.extra.get("calls") is not None and r.mode != "simulated"]
    if llm:
        out += ["", "## Language model usage", "", "| dataset | framework | calls | input tokens | output tokens |"
                " cost (USD) | cache hits |", "|---|---|---|---|---|---|---|"]
        for r in llm:
            e = r.extra
            out.append(f"| {r.dataset} | {r.framework} | {e.get('calls')} | {e.get('input_tokens')} | "
                       f"{e.get('output_tokens')} | {e.get('cost_usd')} | {e.get('cache_hits')} |")
    out += ["", "![MAP and F1 by dataset and framework against the baselines](eval.png)", ""]
    return "\n".join(out)


SIM_NOTE = ("Simulated judges answer from the gold labels (oracle) or flip a seeded share P of those answers "
            "(noisy:P), served in process through the same client, parsing and quote checks as a real model. "
            "They measure the pipeline around a model (what reaches the judge, how verdicts become proposals "
            "and rankings), never a model's quality.")


def simulated_section(results: list[RunResult]) -> list[str]:
    """Per pair and simulated judge: candidate ceiling, P/R/F1, MAP, calls and tokens per clause."""
    sims = [r for r in results if r.mode == "simulated"]
    if not sims:
        return []
    out = ["", "## Simulated judges (simulations, not a model)", "", SIM_NOTE, "",
           "| dataset | framework | judge | ceiling | precision | recall | F1 | MAP | calls / clause | "
           "input tokens / clause | output tokens / clause |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sims:
        e = r.extra
        out.append(f"| {r.dataset} | {r.framework} | {r.method} | {e['ceiling']:.3f} | {r.precision:.3f} | "
                   f"{r.recall:.3f} | {r.f1:.3f} | {r.map:.3f} | {e['calls_per_clause']:.2f} | "
                   f"{e['input_tokens_per_clause']:.0f} | {e['output_tokens_per_clause']:.0f} |")
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)


TARGETS = {"map": 0.60, "f1": 0.45}  # the offline targets the mapping-quality issue sets (mean over pairs)


def plot(results: list[RunResult], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pairs = sorted({(r.dataset, r.framework) for r in results})
    methods = [m for m in ("ctrlmap", "hybrid", "bm25", "dense") if any(r.method == m for r in results)]
    value = {(r.dataset, r.framework, r.method): r for r in results}
    colors = {"ctrlmap": "#1f6f8b", "hybrid": "#99a8b2", "bm25": "#c7d3dd", "dense": "#e6d5b8"}
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 1.5 * len(pairs) + 4), 4.8), sharey=True)
    width = 0.8 / max(1, len(methods))
    for ax, metric in zip(axes, ("map", "f1")):
        mean = np.mean([getattr(value[(d, f, "ctrlmap")], metric) for d, f in pairs
                        if (d, f, "ctrlmap") in value] or [0.0])
        ax.axhline(mean, color=colors["ctrlmap"], linewidth=1, linestyle=":", label=f"ctrlmap mean {mean:.3f}")
        ax.axhline(TARGETS[metric], color="#b03a2e", linewidth=1, linestyle="--",
                   label=f"offline target {TARGETS[metric]:.2f}")
        for i, m in enumerate(methods):
            vals = [getattr(value[(d, f, m)], metric) if (d, f, m) in value else 0 for d, f in pairs]
            ax.bar(np.arange(len(pairs)) + i * width, vals, width, label=m, color=colors.get(m))
        ax.set_xticks(np.arange(len(pairs)) + width * (len(methods) - 1) / 2,
                      [f"{d}\n{f}" for d, f in pairs], rotation=35, ha="right", fontsize=7)
        ax.set_title("MAP (ranking)" if metric == "map" else "pair F1 at the operating point")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
