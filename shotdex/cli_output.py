"""What the shotdex command prints: one-line messages, plurals, progress bars, the results table.

Only cli.py uses this; the library never prints.
"""

from __future__ import annotations

import os

import typer

CAP_HINT = "raise the cap with --max-tiles N or SHOTDEX_MAX_TILES=N"


def err(msg: str) -> None:
    typer.echo(f"shotdex: {msg}", err=True)


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 source', '2 sources'."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def progress_bar(label: str, quiet: bool = False):
    """A Rich progress bar on a terminal; None when stderr is piped or with --quiet."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    # Without colour (NO_COLOR) Rich's bar tells done from to-do by colour alone and looks blank: show
    # the share as text instead.
    bar = TextColumn("{task.percentage:>3.0f}%") if console.no_color else BarColumn()
    return Progress(
        TextColumn(f"[bold]{label}"), bar, MofNCompleteColumn(), TextColumn("sources"),
        TextColumn("{task.fields[tiles]} tiles"), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[current]}", style="dim"),
        console=console, transient=False,
    )


class Rate:
    """Tiles per second over the last `window` seconds (what the progress bar shows)."""

    def __init__(self, window: float = 5.0):
        from collections import deque

        self.window = window
        self.points: deque = deque()

    def update(self, now: float, tiles: int) -> float:
        self.points.append((now, tiles))
        while len(self.points) > 2 and now - self.points[0][0] > self.window:
            self.points.popleft()
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0


def short(source: str) -> str:
    """A source as a person would type it: relative to the current folder when under it."""
    if "://" in source:
        return source
    rel = os.path.relpath(source)
    return source if rel.startswith("..") else rel


def print_report(failed, warnings=(), ignored=(), *, quiet: bool = False, verbose: bool = False) -> None:
    """One line per problem on stderr: ignored entries worth naming (all of them with -v), warnings
    (the tile cap's says how to lift it), failures (always, even with -q)."""
    from .render.discover import BENIGN_SKIPS, shown

    # names escaped (a newline or a non-UTF-8 byte in a file name): one line per source, always
    if not quiet:
        for src, why in ignored:
            if verbose or why not in BENIGN_SKIPS:
                err(f"ignored: {shown(src)}: {shown(why, backslashes=False)}")
        for src, why in warnings:
            if "max_tiles=" in why and "stopped at" in why:
                why = f"{why} ({CAP_HINT})"
            err(f"warning: {shown(src)}: {shown(why, backslashes=False)}")
    for src, why in failed:
        err(f"failed: {shown(src)}: {shown(why, backslashes=False)}")


def keep_end(text: str, width: int) -> str:
    """`text` in at most `width` cells, shortened at its start ('…/docs/report.pdf p3 t1'): the file's
    name and the page and tile are what tell hits apart."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return text
    while text and cell_len(text) > width - 1:
        text = text[1:]
    cut = text.find(os.sep)
    return "…" + (text[cut:] if 0 <= cut < len(text) // 2 else text)


def print_hits(hits, where_at) -> None:
    """The hits as a table for people: page and tile count from 1, the tile within its page."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped: wide plain rows rather than squeezed columns
    if not hits:
        console.print("no results")
        return
    rows = []
    for h in hits:
        page, tile = where_at.get(h.tile_id, (h.page + 1, h.tile + 1))
        rows.append((str(h.rank), f"{h.score:.3f}", h.kind, f"{short(h.source)} p{page} t{tile}", h.snippet))
    fixed = 2 + 6 + 5 + 4 * 1  # rank, score, kind, and a space between columns
    room = max(20, console.width - fixed)
    # The source gets what it needs up to half the room (never below 16); the snippet gets the rest.
    src_w = min(max([len(r[3]) for r in rows] + [6]), max(16, room // 2), 60)
    snip_w = max(10, room - src_w)
    table = Table(box=None, show_edge=False, pad_edge=False)
    for name, width in (("#", 2), ("score", 6), ("kind", 5), ("source", src_w), ("snippet", snip_w)):
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=width, max_width=width,
                         justify="right" if name in ("#", "score") else "left")
    for r in rows:
        table.add_row(*r[:3], keep_end(r[3], src_w), r[4])
    console.print(table)


def one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else ""
