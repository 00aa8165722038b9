"""Which sources exist and what kind each one is: the one place that maps file endings to kinds."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["BENIGN_SKIPS", "LINK_OUTSIDE", "shown", "KIND_BY_SUFFIX", "kind_of", "is_url", "suffix_of", "Discovery", "discover", "content_hash"]

# Longest endings first matter: '.vl.json' is a chart, '.json' a table. suffix_of() tries compound
# endings before simple ones, so order here is documentation only.
KIND_BY_SUFFIX: dict[str, str] = {
    # charts: specs and images
    ".vl.json": "chart",
    ".chart.json": "chart",
    ".chart.yaml": "chart",
    ".chart.yml": "chart",
    ".png": "chart",
    ".jpg": "chart",
    ".jpeg": "chart",
    ".svg": "chart",
    # tables
    ".csv": "table",
    ".tsv": "table",
    ".xlsx": "table",
    ".json": "table",
    ".parquet": "table",
    # text: prose and source code
    ".txt": "text",
    ".md": "text",
    ".markdown": "text",
    ".rst": "text",
    ".py": "text",
    ".js": "text",
    ".ts": "text",
    ".java": "text",
    ".c": "text",
    ".h": "text",
    ".cpp": "text",
    ".hpp": "text",
    ".go": "text",
    ".rs": "text",
    ".rb": "text",
    ".sh": "text",
    ".sql": "text",
    ".toml": "text",
    ".yaml": "text",
    ".yml": "text",
    ".ini": "text",
    ".cfg": "text",
    ".r": "text",
    ".jl": "text",
    ".kt": "text",
    ".swift": "text",
    ".tex": "text",
    # web pages
    ".html": "web",
    ".htm": "web",
    # documents
    ".pdf": "pdf",
    # e-books and mail
    ".epub": "epub",
    ".eml": "mail",
    # photos and scans
    ".tif": "image",
    ".tiff": "image",
    ".gif": "image",
    ".webp": "image",
    ".bmp": "image",
    ".heic": "image",
    ".heif": "image",
    # office documents (LibreOffice -> PDF)
    ".docx": "office",
    ".doc": "office",
    ".odt": "office",
    ".rtf": "office",
    ".pptx": "office",
    ".ppt": "office",
    ".odp": "office",
    ".xls": "office",
    ".ods": "office",
}

# Skip reasons too common to mention one by one (any real folder is full of them); the others
# (symlink loops, pipes, unreadable folders) get a line each.
BENIGN_SKIPS = ("hidden", "unknown ending", "excluded")

_COMPOUND = sorted((s for s in KIND_BY_SUFFIX if s.count(".") > 1), key=len, reverse=True)


def is_url(source: str) -> bool:
    """True for explicit http(s) URLs."""
    s = source[:8].lower()
    return s.startswith("http://") or s.startswith("https://")


def suffix_of(source: str) -> str:
    """The ending that decides the kind: a known compound ending ('.vl.json') or the last one."""
    name = os.path.basename(source).lower()
    for compound in _COMPOUND:
        if name.endswith(compound) and len(name) > len(compound):
            return compound
    return os.path.splitext(name)[1]


def kind_of(source: str) -> str | None:
    """The kind ('text', 'table', 'chart', 'web', 'pdf', 'office', ...) of a path or URL, or None if
    shotdex does not render it. A local file of no known ending is text when its first KB is."""
    if is_url(source):
        return "web"
    kind = KIND_BY_SUFFIX.get(suffix_of(source))
    return kind if kind is not None else _sniffed_kind(source)


# Text files that belong to another source rather than stand alone: a web page's styles and source maps.
NOT_SNIFFED = (".css", ".map")


def _sniffed_kind(source: str) -> str | None:
    """'text' for an existing file of unknown ending (README, Makefile, .conf, .log, x.gz) holding text."""
    if suffix_of(source) in NOT_SNIFFED or not os.path.isfile(source):
        return None
    from .sniff import sniff_text_file

    return "text" if sniff_text_file(source) else None


@dataclass
class Discovery:
    """The renderable sources found (sorted, absolute) and what was skipped with why."""

    sources: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".") and name not in (".", "..")


LINK_OUTSIDE = "symbolic link to outside the given folders; not followed (--follow-links follows it)"


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def discover(paths: Iterable[str], follow_links: bool = False) -> Discovery:
    """Walk files and folders (recursively, sorted); pass URLs through.

    Skipped entries are counted with a reason: 'hidden', 'unknown ending', 'symlink loop',
    'not found', 'unreadable', LINK_OUTSIDE. Real paths of visited folders are tracked so symlink loops
    end. Files named explicitly are kept even when hidden; hidden entries inside folders are skipped.
    A symbolic link met inside a folder is followed only when its target lies under one of the paths
    given (their real paths), unless follow_links; a path given explicitly is always followed.
    """
    paths = [str(p) for p in paths]
    found = Discovery()
    seen_files: set[str] = set()
    roots = None if follow_links else [
        os.path.realpath(os.path.abspath(os.path.expanduser(p))) for p in paths if not is_url(p)]
    for raw in paths:
        raw = str(raw)
        if is_url(raw):
            if raw not in seen_files:
                seen_files.add(raw)
                found.sources.append(raw)
            continue
        path = os.path.abspath(os.path.expanduser(raw))
        if os.path.isdir(path):
            _walk(path, found, set(), seen_files, roots)
        elif os.path.isfile(path):
            _add_file(path, found, seen_files)
        elif os.path.islink(path):
            found.skipped.append((path, "broken symlink"))
        elif os.path.exists(path):
            found.skipped.append((path, "not a regular file"))
        else:
            found.skipped.append((path, "not found"))
    return found


def shown(name: str, backslashes: bool = True) -> str:
    """A path as one printable line, losslessly: bytes that are not UTF-8 (surrogate escapes, as
    os.listdir gives them) as \\xNN, control characters (a newline in a name) as \\n, \\t or \\xNN,
    and (with backslashes) a backslash doubled, so the line reads back as exactly one name."""
    out = []
    for ch in name:
        o = ord(ch)
        if ch == "\\" and backslashes:
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 32 or o == 127 or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\x{o:02x}" if o < 256 else f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _add_file(path: str, found: Discovery, seen: set[str]) -> None:
    if kind_of(path) is None:
        found.skipped.append((path, "unknown ending"))
    elif path not in seen:
        seen.add(path)
        found.sources.append(path)


def _walk(folder: str, found: Discovery, visiting: set[str], seen: set[str], roots: list[str] | None) -> None:
    real = os.path.realpath(folder)
    if real in visiting:
        found.skipped.append((folder, "symlink loop"))
        return
    visiting = visiting | {real}
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        found.skipped.append((folder, f"unreadable ({e.strerror or e})"))
        return
    for name in names:
        path = os.path.join(folder, name)
        if _hidden(name):
            found.skipped.append((path, "hidden"))
        elif roots is not None and os.path.islink(path) and os.path.exists(path) \
                and not _inside(os.path.realpath(path), roots):
            found.skipped.append((path, LINK_OUTSIDE))
        elif os.path.isdir(path):
            _walk(path, found, visiting, seen, roots)
        elif os.path.isfile(path):
            _add_file(path, found, seen)
        elif os.path.islink(path):
            found.skipped.append((path, "broken symlink"))
        else:
            found.skipped.append((path, "not a regular file"))


def content_hash(source: str) -> str:
    """sha256 hex of the source's bytes. For a URL: of the URL string itself (the page is not fetched
    here; the index re-renders URLs on request rather than by content change)."""
    h = hashlib.sha256()
    if is_url(source):
        h.update(source.encode())
        return h.hexdigest()
    with open(source, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
