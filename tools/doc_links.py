"""`scripts/check docs`: every file the README, docs/*.md and the Dockerfiles name must exist.

Two kinds of reference are checked:
- markdown links and images (`[text](path)`, `![alt](path)`, reference definitions), relative
  to the page that holds them, as GitHub resolves them; web addresses and anchors are skipped;
- repository paths written out in the text, in backticks, code blocks or Dockerfile comments
  (`docs/docker.md`, `scripts/install`, `tests/integration/test_*_on_postgres.py`), relative
  to the repository root. A word counts as one only when its first part is a top-level
  directory of the repository that git does not ignore, so `phoenix/` (a folder of the state
  directory) or `@anthropic-ai/claude-code` are not taken for paths.

Usage: python -m tools.doc_links [REPO]   (exit 1 naming each missing file, 0 when none is)
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

DOCS = ("README.md", "docs/*.md", "Dockerfile", "docker/*/Dockerfile")
# A path written out: directories separated by `/`, not preceded by what would make it part
# of a longer path, a URL, a package name (`@scope/name`) or a variable (`$S/postgres`).
WRITTEN_PATH = re.compile(r"(?<![\w./~$@:%<>-])((?:[\w.-]+/)+[\w.*-]*)")


@dataclass(frozen=True)
class Missing:
    doc: str  # the page, relative to the repository
    line: int
    target: str  # as written

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.target}: no such file"


def documents(repo: Path) -> list[Path]:
    return sorted({path for pattern in DOCS for path in repo.glob(pattern) if path.is_file()})


def path_roots(repo: Path) -> set[str]:
    """Top-level directories a written path may start with: those git keeps (not .git, not ignored)."""
    ignored = [".git"]
    gitignore = repo / ".gitignore"
    if gitignore.is_file():
        lines = (line.strip().strip("/") for line in gitignore.read_text().splitlines())
        ignored += [line for line in lines if line and not line.startswith(("#", "!")) and "/" not in line]
    return {
        entry.name
        for entry in repo.iterdir()
        if entry.is_dir() and not any(fnmatch.fnmatch(entry.name, pattern) for pattern in ignored)
    }


def markdown_links(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every link and image of a markdown page, code blocks excluded."""
    lines = text.splitlines()
    for block in MarkdownIt("commonmark").parse(text):
        if block.type != "inline" or not block.children:
            continue
        start, end = block.map if block.map else (0, 1)
        for token in block.children:
            target = token.attrs.get("href") if token.type == "link_open" else token.attrs.get("src")
            if isinstance(target, str) and token.type in ("link_open", "image"):
                # The block's first line that spells the target out (a paragraph spans several).
                line = next((i for i in range(start, end) if target in lines[i]), start)
                yield line + 1, target


def written_paths(text: str, roots: set[str]) -> Iterator[tuple[int, str]]:
    """(line, path) of every repository path written out in the text."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in WRITTEN_PATH.finditer(line):
            path = match.group(1).rstrip(".,:;")
            if path.split("/", 1)[0] in roots:
                yield number, path


def _exists(base: Path, target: str) -> bool:
    if "*" in target:  # a glob names files that exist when it matches one
        return any(base.glob(target))
    return (base / target).exists()


def _local_target(href: str) -> str | None:
    """The file part of a link that names a file of the repository; None for web addresses and anchors."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return unquote(parts.path)


def missing_files(repo: Path) -> list[Missing]:
    repo = repo.resolve()
    roots = path_roots(repo)
    found: dict[Missing, None] = {}  # in order, each once (a link is often written out too)
    for doc in documents(repo):
        text = doc.read_text(encoding="utf-8")
        name = doc.relative_to(repo).as_posix()
        if doc.suffix == ".md":
            for line, href in markdown_links(text):
                target = _local_target(href)
                if target is None:
                    continue
                base = repo if target.startswith("/") else doc.parent  # GitHub: "/" is the repository
                if not _exists(base, target.lstrip("/")):
                    found[Missing(name, line, target)] = None
        for line, path in written_paths(text, roots):
            if not _exists(repo, path):
                found[Missing(name, line, path)] = None
    return list(found)


def main(argv: list[str]) -> int:
    repo = Path(argv[0]) if argv else Path.cwd()
    missing = missing_files(repo)
    for item in missing:
        print(f"check: docs: {item}", file=sys.stderr)
    checked = ", ".join(doc.relative_to(repo.resolve()).as_posix() for doc in documents(repo.resolve()))
    if missing:
        print(f"check: docs: {len(missing)} missing (checked {checked})", file=sys.stderr)
        return 1
    print(f"check: docs: every linked or named file exists ({checked})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
