"""Render Word outputs to PDF (LibreOffice, Debian package libreoffice-writer-nogui) and pages to PNG
(pypdfium2), so a person can look at what an auditor receives. Not a test: run it by hand.

    python scripts/render_docx.py ctrlmap-demo/system-description.docx --out evals/reports --pages 1,5
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path


def to_pdf(docx: Path, out: Path) -> Path:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise SystemExit("LibreOffice is not installed (apt-get install -y libreoffice-writer-nogui)")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:  # a private LibreOffice profile: no clash with a running one
        subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
                        "--outdir", str(out), str(docx)], check=True, capture_output=True, timeout=300)
    return out / (docx.stem + ".pdf")


def to_png(pdf: Path, pages: list[int], out: Path, scale: float = 1.6) -> list[Path]:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(str(pdf))
    written = []
    for number in pages:
        if 1 <= number <= len(document):
            path = out / f"{pdf.stem}-page{number}.png"
            document[number - 1].render(scale=scale).to_pil().save(path)
            written.append(path)
    print(f"{pdf}: {len(document)} pages")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docx", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("rendered"))
    parser.add_argument("--pages", default="1", help="comma-separated page numbers to write as PNG")
    args = parser.parse_args()
    pages = [int(p) for p in args.pages.split(",") if p.strip()]
    for docx in args.docx:
        for path in to_png(to_pdf(docx, args.out), pages, args.out):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
