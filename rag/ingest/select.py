"""Which files of a folder are policy documents.

A folder given to ingest is walked and each file is taken or skipped with a reason. By default only document
types are taken (PDF, DOCX, Markdown, text, HTML); code, lock files, machine data (JSON, YAML, CSV...), template
sources and dependency or hidden folders are skipped, and so is a file with a document extension whose content
looks like code or machine data. `.ctrlmapignore` at the root of the folder (gitignore syntax) skips more;
`include` patterns bring files back over every default rule and the ignore file; `exclude` patterns win over
everything. Files named one by one on the command line are always taken: the person asked for them.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from rag import placeholders

IGNORE_FILE = ".ctrlmapignore"
DOCUMENT_SUFFIXES = {".pdf", ".docx", ".md", ".markdown", ".txt", ".text", ".html", ".htm", ".xhtml"}
SNIFFED_SUFFIXES = {".md", ".markdown", ".txt", ".text"}  # plain text can hide code or data
SKIP_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
DEPENDENCY_DIRS = {"node_modules", "vendor", "site-packages", "__pycache__", "bower_components", "venv",
                   "dist", "build", "target", "coverage"}
LOCK_NAMES = {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
              "Pipfile.lock", "Gemfile.lock", "composer.lock", "Cargo.lock", "go.sum", "uv.lock", "flake.lock",
              "requirements.txt", "constraints.txt"}
DATA_SUFFIXES = {".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".csv", ".tsv", ".xml", ".ini", ".cfg",
                 ".conf", ".env", ".properties", ".sql", ".db", ".sqlite", ".parquet", ".xlsx", ".xls", ".lock",
                 ".map", ".log"}
TEMPLATE_SUFFIXES = {".hbs", ".handlebars", ".mustache", ".j2", ".jinja", ".jinja2", ".njk", ".liquid", ".erb",
                     ".ejs", ".tmpl", ".tpl", ".pug", ".eta"}
CODE_SUFFIXES = {".py", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".kt", ".go", ".rs", ".rb",
                 ".php", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh", ".bash", ".zsh",
                 ".ps1", ".bat", ".pl", ".lua", ".r", ".css", ".scss", ".sass", ".less", ".vue", ".svelte",
                 ".tf", ".hcl", ".gradle", ".dockerfile", ".makefile", ".mk", ".ipynb"}
CODE_NAMES = {"Dockerfile", "Makefile", "Jenkinsfile", "Procfile", "Vagrantfile", "Gemfile", "Rakefile",
              "CMakeLists.txt", "LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "CODEOWNERS", "robots.txt"}
_CODE_LINE = re.compile(r"^\s*(import\s|from\s+\S+\s+import\s|def\s|class\s+\w+[(:{]|function[\s(]|const\s|let\s|"
                        r"var\s|#include|package\s|public\s|private\s|return\b|if\s*\(|for\s*\(|}\s*else)|"
                        r"[;{}]\s*$|^\s*[})\]],?\s*$")


@dataclass
class Skipped:
    name: str
    reason: str


@dataclass
class Selection:
    files: list[tuple[str, Path]] = field(default_factory=list)  # (document name, path)
    skipped: list[Skipped] = field(default_factory=list)

    def reasons(self) -> Counter:
        return Counter(s.reason for s in self.skipped)


def select_files(paths: list[str], include: list[str] | tuple = (), exclude: list[str] | tuple = ()) -> Selection:
    """Expand files, folders (recursively) and globs; keep the documents, say why each other file was left."""
    selection = Selection()
    rules = Rules(include, exclude)
    for arg in paths:
        if glob.has_magic(arg):
            for match in sorted(glob.glob(arg, recursive=True)):
                path = Path(match)
                if path.is_dir():
                    _walk(path, rules, selection)
                elif path.is_file():
                    rules.judge(path.name, path, selection)
        elif Path(arg).is_dir():
            _walk(Path(arg), rules, selection)
        else:
            selection.files.append((Path(arg).name, Path(arg)))  # named on purpose: always taken
    return selection


class Rules:
    def __init__(self, include, exclude, ignore: GitIgnoreSpec | None = None) -> None:
        self.patterns = list(include)
        self.include = GitIgnoreSpec.from_lines(self.patterns) if include else None
        self.exclude = GitIgnoreSpec.from_lines(list(exclude)) if exclude else None
        self.ignore = ignore

    def with_ignore_file(self, root: Path) -> "Rules":
        file = root / IGNORE_FILE
        if not file.is_file():
            return self._copy(None)
        return self._copy(GitIgnoreSpec.from_lines(file.read_text(encoding="utf-8", errors="replace").splitlines()))

    def _copy(self, ignore: GitIgnoreSpec | None) -> "Rules":
        other = Rules((), ())
        other.patterns, other.include, other.exclude = self.patterns, self.include, self.exclude
        other.ignore = ignore
        return other

    def folder_reason(self, rel: str, name: str) -> str | None:
        """Why a whole folder is left out (None: walk into it)."""
        if self._included(rel + "/") or any(name in p for p in self.patterns):
            return None  # an --include may name something inside
        if self.exclude and self.exclude.match_file(rel + "/"):
            return "excluded by --exclude"
        if name.startswith("."):
            return "hidden folder"
        if name in DEPENDENCY_DIRS:
            return "dependency or build folder"
        if self.ignore and self.ignore.match_file(rel + "/"):
            return f"listed in {IGNORE_FILE}"
        return None

    def _included(self, rel: str) -> bool:
        return bool(self.include and self.include.match_file(rel))

    def judge(self, rel: str, path: Path, selection: Selection) -> None:
        reason = self.file_reason(rel, path)
        if reason is None:
            selection.files.append((rel, path))
        else:
            selection.skipped.append(Skipped(rel, reason))

    def file_reason(self, rel: str, path: Path) -> str | None:
        if self.exclude and self.exclude.match_file(rel):
            return "excluded by --exclude"
        if self._included(rel):
            return None
        if self.ignore and self.ignore.match_file(rel):
            return f"listed in {IGNORE_FILE}"
        return default_reason(path)


def default_reason(path: Path) -> str | None:
    """Why a file is not a policy document by default (None: it is one)."""
    name, suffix = path.name, path.suffix.lower()
    if name in SKIP_NAMES or name == IGNORE_FILE:
        return "system file"
    if name.startswith("."):
        return "hidden file"
    if name in LOCK_NAMES or name.endswith((".lock", "-lock.json", "-lock.yaml")):
        return "lock file"
    if name in CODE_NAMES:
        return "project file, not a policy"
    if suffix in CODE_SUFFIXES:
        return f"code ({suffix})"
    if suffix in TEMPLATE_SUFFIXES or any(s in TEMPLATE_SUFFIXES for s in path.suffixes[:-1]):
        return "template source (render it first)"
    if suffix in DATA_SUFFIXES:
        return f"machine data ({suffix})"
    if suffix not in DOCUMENT_SUFFIXES:
        return f"not a document type ({suffix or 'no extension'})"
    if suffix in SNIFFED_SUFFIXES:
        return content_reason(path)
    return None


def content_reason(path: Path, sample: int = 16384) -> str | None:
    """A text file whose content is really code or machine data."""
    try:
        with path.open("rb") as fh:
            text = fh.read(sample).decode("utf-8", errors="replace")
    except OSError:
        return None  # the ingest step reports unreadable files
    stripped = text.strip()
    if stripped[:1] in "{[" and _is_json(stripped, len(text) < sample):
        return "machine data (JSON content)"
    lines = [line for line in (placeholders.PATTERN.sub("", raw) for raw in text.splitlines())  # a templated
             if line.strip() and not line.lstrip().startswith(("#", "//"))]                     # policy is prose
    if len(lines) >= 5:
        if sum(1 for line in lines if _CODE_LINE.search(line)) / len(lines) > 0.4 and "```" not in text:
            return "looks like code"
        commas = {line.count(",") for line in lines[:50]}
        if len(commas) == 1 and commas.pop() >= 2:
            return "machine data (comma-separated rows)"
    return None


def _is_json(text: str, whole: bool) -> bool:
    if not whole:
        return text.count('":') > 10
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _walk(root: Path, rules: Rules, selection: Selection) -> None:
    rules = rules.with_ignore_file(root)
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        kept = []
        for d in sorted(dirs):
            rel = (here / d).relative_to(root).as_posix()
            reason = rules.folder_reason(rel, d)
            if reason is None:
                kept.append(d)
            else:
                selection.skipped.append(Skipped(rel + "/", reason))
        dirs[:] = kept
        for f in sorted(files):
            path = here / f
            if path.is_file():
                rules.judge(path.relative_to(root).as_posix(), path, selection)
