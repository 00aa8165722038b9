"""--include / --exclude: keep the discovered sources whose path matches, drop the others with a reason."""

from __future__ import annotations

import os
from fnmatch import fnmatchcase

from .discover import Discovery, is_url

__all__ = ["filter_sources"]


def _relative(source: str, roots: list[str]) -> str:
    """The source's path below the root it was found under (its name when it was named itself)."""
    for root in roots:
        if source == root:
            return os.path.basename(source)
        if source.startswith(root.rstrip("/") + "/"):
            return source[len(root.rstrip("/")) + 1:]
    return os.path.basename(source)


def _matches(rel: str, patterns: list[str]) -> bool:
    # `*` crosses folders; a pattern also matches the bare name, so `*.log` and `README` work anywhere
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatchcase(rel, p) or fnmatchcase(name, p) for p in patterns)


def filter_sources(found: Discovery, paths: list[str], include: list[str] | None = None,
                   exclude: list[str] | None = None) -> Discovery:
    """Sources kept by the globs (matched against the path below the folder given, and the bare name);
    the others move to `skipped` as 'excluded'. URLs are never filtered. No globs: found as it is."""
    if not include and not exclude:
        return found
    roots = [os.path.abspath(os.path.expanduser(str(p))) for p in paths if not is_url(str(p))]
    roots.sort(key=len, reverse=True)
    out = Discovery(skipped=list(found.skipped))
    for src in found.sources:
        if is_url(src):
            out.sources.append(src)
            continue
        rel = _relative(src, roots)
        if (include and not _matches(rel, include)) or (exclude and _matches(rel, exclude)):
            out.skipped.append((src, "excluded"))
        else:
            out.sources.append(src)
    return out
