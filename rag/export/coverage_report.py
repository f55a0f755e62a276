"""Coverage to Markdown and a PNG heatmap (frameworks x policies)."""

from __future__ import annotations

from pathlib import Path

from rag.coverage import CoverageReport


def markdown(report: CoverageReport, title: str = "Coverage") -> str:
    out = [f"# {title}", "", "| framework | clauses | covered (full) | covered (partial) | awaiting review | gaps | covered % |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for f in report.frameworks:
        out.append(f"| {f.name} | {f.clauses} | {f.covered} | {f.partial} | {f.awaiting} | {f.gaps} | {f.percent:.0f}% |")
    out += ["", "![coverage heatmap](coverage.png)", "", "## Gaps (no adequate passage found)", ""]
    for fw in report.frameworks:
        gaps = [c for c in report.gaps() if c.framework == fw.key]
        if gaps:
            out += [f"### {fw.name} ({len(gaps)})", ""] + [f"- **{c.clause_id}** {c.title}" for c in gaps] + [""]
    out += ["## Clauses by status", "", "| framework | clause | title | status | evidence |", "|---|---|---|---|---|"]
    for c in report.clauses:
        out.append(f"| {c.framework} | {c.clause_id} | {c.title} | {c.status} | {', '.join(c.documents)} |")
    return "\n".join(out) + "\n"


def heatmap(report: CoverageReport, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    frameworks = list(report.matrix)
    documents = sorted({d for row in report.matrix.values() for d in row})
    if not documents:
        documents = ["(no documents)"]
    data = np.array([[report.matrix[f].get(d, 0) for d in documents] for f in frameworks], dtype=float)
    totals = {f.name: f.clauses for f in report.frameworks}
    share = data / np.array([[max(totals.get(f, 1), 1)] for f in frameworks])
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(documents) + 3), 1.0 * len(frameworks) + 3.2))
    im = ax.imshow(share, cmap="YlGnBu", aspect="auto", vmin=0, vmax=max(0.25, share.max()))
    ax.set_xticks(range(len(documents)), [d.rsplit(".", 1)[0] for d in documents], rotation=55, ha="right",
                  fontsize=8)
    ax.set_yticks(range(len(frameworks)), [f"{f} ({totals.get(f, 0)})" for f in frameworks])
    for i in range(len(frameworks)):
        for j in range(len(documents)):
            if data[i, j]:
                ax.text(j, i, int(data[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.6 * share.max() else "black")
    ax.set_title("Clauses each policy provides evidence for (approved or awaiting review)")
    fig.colorbar(im, ax=ax, label="share of the framework's clauses", fraction=0.025)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
