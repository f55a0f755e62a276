"""Ingestion benchmark: `python -m evals.bench.ingest [--policies 1000] [--compare-parsers]`.

Prints figures, asserts nothing (it is not a timed test):
  * PDF pages/s and DOCX pages/s parsed (in process, and through the limited parser child);
  * Markdown MB/s end to end (parse, chunk, embed, index) and the time to ingest N Markdown policies, made by
    varying the sample organization's policies (names, numbers and section order differ in each);
  * re-ingesting the unchanged folder, with the number of parses and embeddings it caused (must be 0);
  * the time each hostile specimen took against its limit, and the peak RSS of this process and its children.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path

NAMES = ["Aldergrove", "Brightwater", "Cobalt Reach", "Dunmore", "Eastwind", "Fernhill", "Graniteview", "Harborlight",
         "Ironbridge", "Juniper", "Kestrel", "Lakemont", "Marlowe", "Northgate", "Oakridge", "Pinecrest", "Quillon",
         "Redfern", "Silverline", "Thornbury", "Umberfield", "Valemont", "Westbrook", "Yarrow", "Zephyr"]
PEOPLE = ["Ana Ortiz", "Ben Cho", "Chidi Obi", "Dana Weiss", "Eli Novak", "Farah Khan", "Gus Lind", "Hana Sato"]


def sample_policies() -> dict[str, str]:
    folder = resources.files("corpora") / "samples" / "halcyon" / "policies"
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.endswith(".md")}


def vary(text: str, rng: random.Random, k: int) -> str:
    """A distinct policy: another company and owner, other numbers, level-2 sections in another order."""
    company = f"{rng.choice(NAMES)} {rng.choice(['Labs', 'Systems', 'Analytics', 'Cloud', 'AI'])} {k}"
    text = text.replace("Halcyon Labs, Inc.", company).replace("Halcyon", company.split()[0])
    text = re.sub(r"Priya Raman|Marcus Feld|Grace Lin|Lena Okafor", lambda _: rng.choice(PEOPLE), text)
    text = re.sub(r"\b(\d{1,3})( (?:days|hours|minutes|months|years|per cent|%))",
                  lambda m: f"{max(1, int(m.group(1)) + rng.randint(-2, 5))}{m.group(2)}", text)
    head, *sections = re.split(r"(?m)^(?=## )", text)
    rng.shuffle(sections)
    return head + "".join(sections) + f"\n\nDocument reference: POL-{k:05d}.\n"


def build_policies(folder: Path, count: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    base = sorted(sample_policies().items())
    total = 0
    for k in range(count):
        name, text = base[k % len(base)]
        data = vary(text, rng, k).encode("utf-8")
        (folder / f"{k:04d}-{name}").write_bytes(data)
        total += len(data)
    return total


class Counters:
    """Counts parses and embedded texts by wrapping the functions the pipeline calls."""

    def __init__(self, ctx) -> None:
        import rag.ingest.pipeline as pipeline

        self.parses = self.embedded = 0
        self._pipeline, self._parse = pipeline, pipeline.parse_bytes
        self._embed = ctx.embeddings.embed_array
        emb = ctx.embeddings

        def parse(*a, **kw):
            self.parses += 1
            return self._parse(*a, **kw)

        def embed(texts):
            self.embedded += len(texts)
            return self._embed(texts)

        pipeline.parse_bytes, emb.embed_array = parse, embed
        self._emb = emb

    def close(self) -> None:
        self._pipeline.parse_bytes = self._parse
        self._emb.embed_array = self._embed


def rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _time_parse(parse, data: bytes):
    """(document, seconds in process, seconds in the limited child), after one warm-up parse."""
    from rag.ingest.worker import run_limited

    parse(data)
    started = time.perf_counter()
    doc = parse(data)
    inproc = time.perf_counter() - started
    started = time.perf_counter()
    run_limited(parse, (data,), timeout_s=120, memory_mb=1536)
    return doc, inproc, time.perf_counter() - started


def bench_pdf(pages: int = 200) -> None:
    from rag.ingest import specimens
    from rag.ingest.pdf import parse_pdf

    data = specimens.text_pdf(specimens.policy_pages(pages))
    doc, inproc, child = _time_parse(parse_pdf, data)
    print(f"PDF   {doc.pages} pages, {len(doc.text) / doc.pages:.0f} chars/page: {doc.pages / inproc:7.1f} pages/s in "
          f"process, {doc.pages / child:7.1f} pages/s in the limited child")
    hidden = specimens.text_pdf([[("#op 1 1 1 rg|" + t if i % 9 == 0 else t, s) for i, (t, s) in enumerate(p)]
                                 for p in specimens.policy_pages(pages)])
    started = time.perf_counter()
    doc = parse_pdf(hidden)
    print(f"PDF   worst case (white text on every page, every character checked): "
          f"{doc.pages / (time.perf_counter() - started):7.1f} pages/s, {len(doc.hidden)} hidden spans flagged")


def bench_docx(pages: int = 100) -> None:
    from rag.ingest import specimens
    from rag.ingest.office import parse_docx

    data = specimens.policy_docx(sections=pages, paragraphs=20)
    doc, inproc, child = _time_parse(parse_docx, data)
    words = len(doc.text.split()) / pages
    print(f"DOCX  {pages} pages (one per page break, {words:.0f} words and a table each): {pages / inproc:7.1f} "
          f"pages/s in process, {pages / child:7.1f} pages/s in the limited child")


def bench_markdown(count: int) -> None:
    from rag.context import Context
    from rag.ingest.pipeline import ingest_paths
    from rag.settings import Settings

    base = Path(tempfile.mkdtemp(prefix="ctrlmap-bench-"))
    try:
        folder = base / "policies"
        folder.mkdir()
        size = build_policies(folder, count)
        ctx = Context(Settings.load("offline", data_dir=base / "data"))
        workspace = ctx.workspace("bench", create=True)
        ctx.embeddings.embed_array(["warm up the embedding model"])  # loading the model is not ingestion
        counters = Counters(ctx)
        started = time.perf_counter()
        results = ingest_paths(ctx, workspace, [str(folder)])
        first = time.perf_counter() - started
        passages = sum(r.passages for r in results)
        print(f"MD    {count} policies, {size / 1e6:.1f} MB, {passages} passages: {first:.1f} s "
              f"({count / first:.0f} policies/s, {size / 1e6 / first:.2f} MB/s end to end: parse, chunk, embed, "
              f"index); statuses {_statuses(results)}")
        parses, embedded = counters.parses, counters.embedded
        started = time.perf_counter()
        again = ingest_paths(ctx, workspace, [str(folder)])
        second = time.perf_counter() - started
        print(f"MD    re-ingest unchanged folder: {second:.2f} s, {counters.parses - parses} parses, "
              f"{counters.embedded - embedded} texts embedded; statuses {_statuses(again)}")
        counters.close()
        ctx.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _statuses(results) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def bench_hostile() -> None:
    from rag.context import Context
    from rag.errors import IngestError
    from rag.ingest import specimens
    from rag.ingest.pipeline import ingest_bytes
    from rag.settings import Settings

    base = Path(tempfile.mkdtemp(prefix="ctrlmap-hostile-"))
    settings = Settings.load("offline", data_dir=base / "data")
    ctx = Context(settings)
    workspace = ctx.workspace("hostile", create=True)
    cases = {"pdf-bomb-2GB.pdf": lambda: specimens.bomb_pdf(2048),
             "pdf-circular.pdf": specimens.circular_pdf,
             "pdf-truncated.pdf": lambda: specimens.truncated(specimens.text_pdf(specimens.policy_pages(3))),
             "pdf-scanned.pdf": specimens.scanned_pdf,
             "docx-zip-bomb.docx": lambda: specimens.zip_bomb_docx(64),
             "docx-xxe.docx": specimens.xxe_docx,
             "docx-billion-laughs.docx": specimens.billion_laughs_docx,
             "docx-truncated.docx": lambda: specimens.truncated(specimens.policy_docx(3))}
    print(f"HOSTILE limits: {settings.parse_timeout_s:g} s, {settings.parse_memory_mb} MB per parse")
    try:
        for name, make in cases.items():
            data = make()
            started = time.perf_counter()
            try:
                ingest_bytes(ctx, workspace, name, data)
                outcome = "ingested"
            except IngestError as exc:
                outcome = f"{exc.reason}: {exc.message}"
            took = time.perf_counter() - started
            flag = "ok" if took < settings.parse_timeout_s else "OVER LIMIT"
            print(f"  {name:26s} {len(data) / 1024:8.0f} KB {took:6.2f} s [{flag}] {outcome[:90]}")
    finally:
        ctx.close()
        shutil.rmtree(base, ignore_errors=True)


def compare_parsers(pages: int = 150) -> None:
    """pypdfium2 against pypdf and pdfplumber on the same generated PDF (each only if installed)."""
    import io

    from rag.ingest import specimens

    data = specimens.text_pdf(specimens.policy_pages(pages))

    def pdfium():
        import pypdfium2

        doc = pypdfium2.PdfDocument(data)
        return sum(len(doc[i].get_textpage().get_text_range()) for i in range(len(doc)))

    def pypdf():
        import pypdf

        return sum(len(p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(data)).pages)

    def plumber():
        import pdfplumber

        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return sum(len(p.extract_text() or "") for p in pdf.pages)

    from rag.ingest.pdf import parse_pdf

    for name, fn in [("pypdfium2 (text only)", pdfium), ("pypdf", pypdf), ("pdfplumber", plumber),
                     ("ctrlmap parse_pdf (pypdfium2 + structure)", lambda: len(parse_pdf(data).text))]:
        try:
            started = time.perf_counter()
            chars = fn()
            print(f"  {name:42s} {pages / (time.perf_counter() - started):7.1f} pages/s, {chars} chars")
        except ImportError:
            print(f"  {name:42s} not installed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--compare-parsers", action="store_true")
    args = parser.parse_args()
    from rag.ingest.worker import overhead_ms, server_stats

    started = time.perf_counter()
    print(f"limited parser child: {overhead_ms():.1f} ms per file (median, empty job)")
    bench_pdf()
    bench_docx()
    bench_markdown(args.policies)
    ordinary = server_stats()
    own, _ = rss_mb()
    print(f"peak RSS: {own:.0f} MB this process (ingest, embed, index); parser server {ordinary['server_peak_mb']:.0f} "
          f"MB, largest parser child {ordinary['child_peak_mb']:.0f} MB")
    bench_hostile()
    print(f"  largest parser child including the hostile files: {server_stats()['child_peak_mb']:.0f} MB (capped "
          f"by RLIMIT_AS)")
    if args.compare_parsers:
        print("PDF libraries on the same generated file (after the figures above: pdfplumber's memory would "
              "distort peak RSS):")
        compare_parsers()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
