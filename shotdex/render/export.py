"""`shotdex render`: sources -> PNG tiles + manifest.jsonl in a folder."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

__all__ = ["ExportReport", "render_to_dir"]


@dataclass
class ExportReport:
    """What a render run wrote."""

    out: str
    rendered: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    tiles: int = 0
    manifest: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{len(self.rendered)} sources rendered, {self.tiles} tiles, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed -> {self.out}"
        )


def _slug(source: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.split("://")[-1].strip("/"))[-80:].strip("._") or "source"
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    used.add(name)
    return name


class _TileFiles:
    """One source's tiles written to PNG files as they are made (a long document is never held whole);
    a retry after a Chromium crash (attempt 2) replaces the first try's files. Attachments' tiles
    (source 'parent#name') get file names of their own."""

    def __init__(self, out: Path, used: set[str]):
        self.out, self.used = out, used
        self.slugs: dict[str, str] = {}
        self.attempt = 1
        self.lines: list[dict] = []

    def __call__(self, tile, attempt: int) -> None:
        self.start(attempt)
        if tile.source not in self.slugs:
            self.slugs[tile.source] = _slug(tile.source, self.used)
        name = f"{self.slugs[tile.source]}.p{tile.page:03d}.t{tile.tile:03d}.png"
        tile.image.save(self.out / name)
        self.lines.append(dict(tile.provenance(), file=name))

    def start(self, attempt: int) -> None:
        if attempt != self.attempt:
            self.drop()
            self.attempt = attempt

    def drop(self) -> None:
        for line in self.lines:
            (self.out / line["file"]).unlink(missing_ok=True)
        self.lines = []


def render_to_dir(
    paths: Iterable[str],
    out: str | Path,
    settings=None,
    chromium: str | None = None,
    progress: Callable[[int, int, int, str], None] | None = None,
) -> ExportReport:
    """Render every source under paths into out/ as PNG tiles, with one manifest line per tile."""
    from . import Renderer, discover

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = discover([str(p) for p in paths], follow_links=bool(getattr(settings, "follow_links", False)))
    report = ExportReport(out=str(out), skipped=list(found.skipped))
    used: set[str] = set()
    total = len(found.sources)
    with Renderer(settings, chromium=chromium) as renderer, open(out / "manifest.jsonl", "w") as manifest:
        for n, src in enumerate(found.sources):
            files = _TileFiles(out, used)
            res = renderer.render(src, on_tile=files)
            report.warnings += [(src, w[len(src) + 2 :] if w.startswith(src + ": ") else w) for w in res.warnings]
            if not res.ok:
                files.drop()
                used.difference_update(files.slugs.values())
                report.failed.append((src, res.error))
            else:
                files.start(res.attempt)
                for t in res.tiles:  # attachments' tiles: render() keeps them
                    files(t, res.attempt)
                report.rendered.append(src)
                for line in files.lines:
                    manifest.write(_json_line(line) + "\n")
                    report.manifest.append(line)
                report.tiles += len(files.lines)
            if progress:
                progress(n + 1, total, report.tiles, src)
    return report


def _json_line(line: dict) -> str:
    """One JSON line, UTF-8 where it can be; a name with bytes that are not UTF-8 keeps them as \\udcXX
    escapes (Python's surrogate escapes: json.loads gives the same name back)."""
    text = json.dumps(line, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(line)
