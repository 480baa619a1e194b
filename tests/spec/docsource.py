"""The public documentation pages the spec cites, read from a folder of markdown (a b24restdocs checkout).

``x-b24-source`` cites ``<page URL> | <table> | <row key>`` (spec/README.md). This module turns a page of the
bitrix24/b24restdocs repository into its tables, keyed by the heading above each table, so a test can check that
a cited row really is in the cited table. It reads the site's markdown dialect (``#|`` opens a table, ``|#``
closes it, ``|| a | b ||`` is a row) and plain ``| a | b |`` tables, and inlines ``{% include %}`` files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs

#: Where the public site serves a page: ``<PUBLIC_BASE><path without .md>``.
PUBLIC_BASE = "https://apidocs.bitrix24.com/"

_HEADING = re.compile(r"^\s*(#{1,6})\s+(?P<text>.*?)\s*(?:\{#[^}]*\})?\s*$")
_INCLUDE = re.compile(r"\{%\s*include\s+(?:notitle\s+)?\[[^\]]*\]\((?P<path>[^)]+)\)\s*%\}")
_ANCHOR = re.compile(r"\{#[^}]*\}")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


@attrs.frozen
class Citation:
    """One parsed ``x-b24-source`` value that cites a public page."""

    url: str
    table: str | None
    row: str | None

    @property
    def path(self) -> str:
        """The page's markdown path inside the docs repository."""
        return self.url.removeprefix(PUBLIC_BASE) + ".md"


def parse_citation(text: str) -> Citation | None:
    """``URL[ | table[ | row]]`` -> Citation; None when the text is not a public-page citation."""
    parts = [p.strip() for p in text.split(" | ")]
    if not parts[0].startswith(PUBLIC_BASE) or not 1 <= len(parts) <= 3 or any(not p for p in parts):
        return None
    return Citation(parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)


def normalize(text: str) -> str:
    """Markup-free text for comparing a cited key with a table cell."""
    text = _LINK.sub(r"\1", text)
    text = text.replace("`", "").replace("**", "").replace("\\", "")
    text = " ".join(text.split())
    return text.rstrip("*").strip().rstrip(".").strip()


def cell_keys(cell: str) -> set[str]:
    """Every way a row can be named by one of its cells: the whole cell, its first line, each code/bold span."""
    keys = {normalize(cell), normalize(cell.strip().split("\n", 1)[0])}
    keys.update(normalize(m) for m in re.findall(r"`([^`]+)`", cell))
    keys.update(normalize(m) for m in re.findall(r"\*\*([^*]+)\*\*", cell))
    return {k for k in keys if k}


def expand_includes(path: Path, root: Path, depth: int = 0) -> tuple[str, list[str]]:
    """The page's text with its ``{% include %}`` files inlined, and the includes that were missing."""
    text = path.read_text(encoding="utf-8")
    missing: list[str] = []

    def inline(match: re.Match[str]) -> str:
        target = (path.parent / match["path"]).resolve()
        if depth < 4 and target.is_file() and target.is_relative_to(root.resolve()):
            inner, more = expand_includes(target, root, depth + 1)
            missing.extend(more)
            return inner
        missing.append(
            str(target.relative_to(root.resolve())) if target.is_relative_to(root.resolve()) else match["path"]
        )
        return ""

    return _INCLUDE.sub(inline, text), missing


def _split_row(row: str) -> list[str]:
    return [c.strip() for c in row.split(" | ")]


def tables(text: str) -> dict[str, list[list[str]]]:
    """Heading text -> the rows (lists of cells) of every table in that heading's section.

    A table belongs to its own heading and to every heading above it ("Returned Data" under "Response Handling"
    is in both), as a reader finds it on the page.
    """
    out: dict[str, list[list[str]]] = {}
    stack: list[tuple[int, str]] = []

    def add(rows: list[list[str]]) -> None:
        for _level, name in stack or [(0, "")]:
            out.setdefault(name, []).extend(rows)

    lines = text.splitlines()
    i = 0
    fence = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = not fence
            i += 1
            continue
        if fence:
            i += 1
            continue
        match = _HEADING.match(line)
        if match and not stripped.startswith("#|"):
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, _ANCHOR.sub("", match["text"]).strip()))
            i += 1
            continue
        if stripped == "#|" or stripped.startswith("#| "):
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "|#":
                body.append(lines[i].strip())
                i += 1
            joined = "\n".join(body).strip()
            rows = [r.strip() for r in re.split(r"\|\|\s*\n?\s*\|\|", joined.strip().strip("|").strip())]
            add([_split_row(r) for r in rows if r])
        elif stripped.startswith("|") and not stripped.startswith("||"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells if c):
                add([cells])
        i += 1
    return out


def has_row(rows: list[list[str]], key: str) -> bool:
    """True when some row names ``key`` in one of its cells."""
    wanted = normalize(key)
    return any(wanted in cell_keys(cell) for row in rows for cell in row)


@attrs.frozen
class RenderedSection:
    """A section of a rendered page copy (``NNN_*.txt``): one token per line, used when an include is absent."""

    url: str
    heading: str
    lines: tuple[str, ...]


def rendered_sections(seed_dir: Path, heading: str) -> Iterator[RenderedSection]:
    """Every rendered copy of a section called ``heading`` in the NNN_*.txt page copies, with its page URL."""
    for path in sorted(seed_dir.glob("[0-9][0-9][0-9]_*.txt")):
        url = ""
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("**Source:**"):
                url = line.removeprefix("**Source:**").strip()
            elif line.strip() == heading and i + 1 < len(lines) and lines[i + 1].strip() != heading:
                end = i + 1
                while end < len(lines) and not lines[end].startswith(("## ", "Copied")):
                    end += 1
                yield RenderedSection(url, heading, tuple(x.strip() for x in lines[i + 1 : end]))
