"""Folder ingest takes the policies of a real repository and leaves its code, lock files, data and template
sources, saying why; `--include`, `--exclude` and `.ctrlmapignore` change the choice; unrendered placeholders
are flagged per document and never cited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from rag import citations, placeholders
from rag.ingest.select import select_files
from rag.models import Passage

POLICY = ("# Access Control Policy\n\n## Authentication\n\nAll staff must use multi-factor authentication for "
          "remote access to production systems. Access rights are reviewed every quarter by system owners.\n")
TEMPLATED = ("# {{companyShortName}} Backup Policy\n\n## Backups\n\n{{companyShortName}} backs up production "
             "databases every day and tests restores every quarter. Backups are kept for ${retentionDays} days.\n"
             + "".join(f"\n{{{{#if {fw}}}}}\nKeep the {fw} evidence of each restore test.\n{{{{/if}}}}\n"
                       for fw in ("soc2", "hipaa", "iso27001")))


def build_repo(root: Path) -> Path:
    files = {
        "policies/access-control.md": POLICY,
        "policies/backup.md": TEMPLATED,
        "policies/hr-security.txt": "Human resources security\n\nBackground checks are completed before hire.\n",
        "policies/README.html": "<html><body><h1>Policies</h1><p>The policies of the company.</p></body></html>",
        "yarn.lock": "# yarn lockfile v1\n\nleft-pad@^1.0.0:\n  version \"1.3.0\"\n",
        "package.json": json.dumps({"name": "policies", "version": "1.0.0"}),
        "data/soc2-criteria.json": json.dumps([{"id": "CC6.1", "text": "logical access"}] * 5),
        "src/render.js": "const fs = require('fs');\nmodule.exports = function render() { return 1; };\n",
        "scripts/build.py": "import sys\n\ndef main():\n    return 0\n",
        "templates/policy.md.hbs": "# {{title}}\n\n{{body}}\n",
        "notes/export.txt": json.dumps({"rows": [{"a": 1}, {"b": 2}]}),
        "notes/helper.md": "import os\nimport sys\n\ndef run():\n    x = {\n    }\n    return x\n",
        "node_modules/left-pad/README.md": "# left-pad\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "drafts/old-policy.md": "# Old\n\nA draft that is not in force any more, kept for history only.\n",
        ".ctrlmapignore": "drafts/\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def invoke(tmp_path: Path, *args: str):
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "--workspace", "acme", "ingest", *args,
                                      "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_folder_ingest_takes_only_the_policies_and_says_why_it_skips_the_rest(tmp_path):
    repo = build_repo(tmp_path / "repo")
    rows = invoke(tmp_path, str(repo))
    taken = {n for n, r in rows.items() if r["status"] == "ingested"}
    assert taken == {"policies/access-control.md", "policies/backup.md", "policies/hr-security.txt",
                     "policies/README.html"}
    reasons = {n: r["reason"] for n, r in rows.items() if r["status"] == "skipped"}
    assert reasons == {
        "yarn.lock": "lock file", "package.json": "machine data (.json)",
        "data/soc2-criteria.json": "machine data (.json)", "src/render.js": "code (.js)",
        "scripts/build.py": "code (.py)", "templates/policy.md.hbs": "template source (render it first)",
        "notes/export.txt": "machine data (JSON content)", "notes/helper.md": "looks like code",
        "node_modules/": "dependency or build folder", ".git/": "hidden folder",
        "drafts/": "listed in .ctrlmapignore", ".ctrlmapignore": "system file"}
    warning = rows["policies/backup.md"]["warnings"]
    assert warning and "{{companyShortName}}" in warning[0] and "${retentionDays}" in warning[0]
    assert not rows["policies/access-control.md"]["warnings"]


def test_include_brings_a_file_back_and_exclude_wins(tmp_path):
    repo = build_repo(tmp_path / "repo")
    rows = invoke(tmp_path, str(repo), "--include", "notes/helper.md", "--include", "drafts/",
                  "--exclude", "*.html")
    assert rows["notes/helper.md"]["status"] == "ingested"
    assert rows["drafts/old-policy.md"]["status"] == "ingested"
    assert rows["policies/README.html"] == {"name": "policies/README.html", "status": "skipped",
                                            "reason": "excluded by --exclude"}
    assert rows["yarn.lock"]["status"] == "skipped"


def test_the_table_lists_skipped_files_with_counts(tmp_path):
    repo = build_repo(tmp_path / "repo")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "ingest", str(repo)])
    assert result.exit_code == 0, result.output
    assert "Skipped 12 file(s) or folder(s)" in result.output
    assert "2  machine data (.json): package.json, data/soc2-criteria.json" in result.output
    assert "4 ingested" in result.output and "12 skipped" in result.output and "1 with warnings" in result.output


def test_a_folder_without_documents_is_one_clear_error(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "main.py").write_text("print(1)\n")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "ingest", str(tmp_path / "code")])
    assert result.exit_code == 3 and "no documents among" in result.output and "code (.py)" in result.output


def test_a_file_named_on_purpose_is_always_taken(tmp_path):
    repo = build_repo(tmp_path / "repo")
    assert [n for n, _ in select_files([str(repo / "package.json")]).files] == ["package.json"]


@pytest.mark.parametrize("text, found", [
    ("{{companyShortName}} requires MFA.", ["{{companyShortName}}"]),
    ("{% if soc2 %}Backups run daily.{% endif %}", ["{% if soc2 %}", "{% endif %}"]),
    ("Keep logs for ${retention.days} days.", ["${retention.days}"]),
    ("A set {a, b} and $5 and {{ not closed", []),
    ("[Company Name] encrypts data.", ["[Company Name]"]),
    ("Lock screens after [Duration, e.g., 15 minutes] and [insert date].",
     ["[Duration, e.g., 15 minutes]", "[insert date]"]),
    ("Ask [URL] or [Phone Number]; owner: [Role Title, e.g., IT Manager]", ["[URL]", "[Phone Number]",
                                                                           "[Role Title, e.g., IT Manager]"]),
    ("See [the policy](https://x.test), [RES-PROC-003], [1], [x] done, [ ] open, [Company](https://c.test).", []),
])
def test_placeholders_are_found(text, found):
    assert placeholders.find(text) == found


def test_a_placeholder_is_never_cited():
    text = TEMPLATED
    start = text.index("{{companyShortName}} backs")
    passage = Passage(id="p1", version_id=1, document_id=1, document_sha256="a" * 64, seq=0, start=start,
                      end=len(text), text=text[start:], heading_path=["Backups"])
    assert citations.quote_citation("{{companyShortName}} backs up production databases", passage, text) is None
    with pytest.raises(Exception, match="placeholder"):
        citations.cite(passage, text, start, start + 60)
    span = citations.best_span(passage, text, {"backup", "production", "databases", "restores"})
    quote = text[span[0]:span[1]]
    assert quote.startswith("backs up production databases") and not placeholders.has(quote)


def test_the_command_line_shows_bracketed_text_as_written(tmp_path):
    """A placeholder such as "[specify period]" (or any bracketed text of a policy) is printed literally, not
    read as console markup and dropped from the warning or the review view."""
    from rag.context import Context
    from rag.review import add_manual
    from rag.settings import Settings

    folder = tmp_path / "policies"
    folder.mkdir()
    quote = "Security logs are reviewed monthly by the security team [see RES-PROC-003]."
    (folder / "retention.md").write_text(f"# Retention Policy\n\n## Logs\n\n{quote}\n\nSecurity logs are kept "
                                         "for [specify period].\n", encoding="utf-8")
    base = ["--data-dir", str(tmp_path / "data"), "--workspace", "acme"]
    ingested = CliRunner().invoke(cli, [*base, "ingest", str(folder)], env={"COLUMNS": "300"})
    assert ingested.exit_code == 0 and "[specify period]" in ingested.output
    ctx = Context(Settings.load("offline", data_dir=tmp_path / "data"))
    pid = add_manual(ctx, "acme", "soc2", "CC7.2", "retention.md", [quote], "dana")
    ctx.close()
    shown = CliRunner().invoke(cli, [*base, "review", "show", str(pid)], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "[see RES-PROC-003]" in shown.output, shown.output
