"""The shotdex command: parse options, make one library call, print. No logic of its own.

Exit codes: 0 ok; 1 some sources failed; 2 bad usage or query; 3 missing set-up (Chromium,
Tesseract, model weights); 4 index built by another model; 5 index locked by another writer;
6 unusable index folder; 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import ShotdexError
from .settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Search everything as screenshots.")

DbOpt = typer.Option(None, "--db", help="Index folder (default: $SHOTDEX_DB or the user data folder).")
ModelOpt = typer.Option(None, "--model", "-m", help="Embedder (see `shotdex models`); default: the index's own, else reader.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output on stdout.")


def _err(msg: str) -> None:
    typer.echo(f"shotdex: {msg}", err=True)


def _settings(**overrides) -> Settings:
    return Settings.from_env(**overrides)


def _progress(label: str):
    """A Rich progress bar on a terminal; None when stderr is piped."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TextColumn("sources"),
        TextColumn("{task.fields[tiles]} tiles"), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )


def _short(source: str) -> str:
    """A source as a person would type it: relative to the current folder when under it."""
    import os

    if "://" in source:
        return source
    rel = os.path.relpath(source)
    return source if rel.startswith("..") else rel


def _exit_now(code: int) -> None:
    """Exit at once after Ctrl-C. Every index write is an atomic commit and the writer lock is released
    by the kernel, so nothing needs tidying; interpreter shutdown with Playwright's and LanceDB's threads
    cut off mid-call can crash (SIGSEGV) or hang instead of exiting with the documented code."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _print_failures(failed, warnings=(), skipped=()) -> None:
    for src, why in skipped:
        _err(f"skipped: {src}: {why}")
    for src, why in warnings:
        _err(f"warning: {src}: {why}")
    for src, why in failed:
        _err(f"failed: {src}: {why}")


@app.command()
def render(
    sources: List[str] = typer.Argument(..., help="Files, folders or http(s) URLs."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for PNG tiles and manifest.jsonl."),
    as_json: bool = JsonOpt,
    js: bool = typer.Option(False, "--js", help="Run page JavaScript (with a time limit)."),
    tile_width: Optional[int] = typer.Option(None, help="Tile width in CSS px (default 1024)."),
    tile_height: Optional[int] = typer.Option(None, help="Tile height in CSS px (default 768)."),
    max_tiles: Optional[int] = typer.Option(None, help="Most tiles per source (default 32)."),
) -> None:
    """Render sources into screenshot tiles (PNG) plus manifest.jsonl."""
    from .render import RenderSettings
    from .render.export import render_to_dir

    s = _settings(js=js or None, tile_width=tile_width, tile_height=tile_height, max_tiles=max_tiles)
    bar = _progress("render")
    task = None

    def step(done, total, tiles, src):
        nonlocal task
        if bar is not None:
            if task is None:
                task = bar.add_task("render", total=total, tiles=0, rate="")
            bar.update(task, completed=done, tiles=tiles)

    if bar:
        bar.start()
    try:
        report = render_to_dir(sources, out, RenderSettings.from_settings(s), chromium=s.chromium, progress=step)
    finally:
        if bar:
            bar.stop()
    if as_json:
        for line in report.manifest:
            typer.echo(json.dumps(line, ensure_ascii=False))
    from .render.discover import BENIGN_SKIPS

    _print_failures(report.failed, report.warnings, [(p, w) for p, w in report.skipped if w not in BENIGN_SKIPS])
    typer.echo(report.summary(), err=as_json)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def index(
    sources: List[str] = typer.Argument(..., help="Files, folders or http(s) URLs."),
    db: Optional[Path] = DbOpt,
    model: Optional[str] = ModelOpt,
    prune: bool = typer.Option(False, "--prune", help="Drop indexed sources under these folders that no longer exist."),
    js: bool = typer.Option(False, "--js", help="Run page JavaScript (with a time limit)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let URL sources redirect to private/loopback addresses."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Only sources whose path below a folder given (or name) matches this glob (repeatable; * crosses folders)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Leave out sources whose path below a folder given (or name) matches this glob (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """Render, read and embed sources into the index (incremental: unchanged sources are skipped)."""
    import threading

    from .index import open_index

    s = _settings(db=db, model=model, js=js or None, allow_private=allow_private or None)
    bar = _progress("index")
    state = {"task": None, "t0": None}

    def step(ev):
        import time

        if bar is None:
            return
        if state["task"] is None:
            state["task"] = bar.add_task("index", total=ev.sources_total, tiles=0, rate="")
            state["t0"] = time.perf_counter()
        rate = ev.tiles_done / max(1e-6, time.perf_counter() - state["t0"])
        bar.update(state["task"], completed=ev.sources_done, tiles=ev.tiles_done, rate=f"{rate:.1f} tiles/s")

    stop = threading.Event()
    idx = None
    try:
        idx = open_index(settings=s)
        if bar:
            bar.start()
        report = idx.add(sources, progress=step, prune=prune, stop=stop, include=include or None,
                         exclude=exclude or None)
    except KeyboardInterrupt:
        if bar:
            bar.stop()
        _err("interrupted: what was written is kept; run the same command again to resume")
        _exit_now(130)
    finally:
        if bar:
            bar.stop()
        if idx is not None:
            idx.close()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report)))
    _print_failures(report.failed, report.warnings, report.problems)
    typer.echo(report.summary(), err=as_json)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="Query text."),
    image: Optional[Path] = typer.Option(None, "--image", help="Use an image (screenshot, photo) as the query."),
    url: Optional[str] = typer.Option(None, "--url", help="Render a page and use it as the query."),
    render_query: bool = typer.Option(False, "--render-query", help="Render the query text as a screenshot and search image-to-image."),
    k: int = typer.Option(10, "-k", help="Number of results."),
    kind: Optional[List[str]] = typer.Option(None, "--kind", help="Only these kinds: text, table, chart, web, pdf."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL filter on tile metadata, e.g. \"page = 0\"."),
    tiles: bool = typer.Option(False, "--tiles", help="One row per tile instead of per source."),
    hybrid: Optional[bool] = typer.Option(None, "--hybrid/--no-hybrid", help="Fuse vector and full-text rankings (default on)."),
    show: Optional[Path] = typer.Option(None, "--show", help="Write a contact sheet PNG of the top hits."),
    db: Optional[Path] = DbOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Search the index with text, an image, a URL, or rendered text."""
    from .index import open_index

    if query is None and image is None and url is None:
        raise typer.BadParameter("give a query text, --image PATH or --url URL")
    idx = open_index(settings=_settings(db=db, model=model))
    try:
        hits = idx.search(text=query, image=image, url=url, render_query=render_query, k=k, kind=kind,
                          where=where, hybrid=hybrid, tiles=tiles)
        if show is not None:
            from .index.show import contact_sheet

            contact_sheet(idx, hits, show, query=query)
    finally:
        idx.close()
    if as_json:
        for h in hits:
            typer.echo(json.dumps(dataclasses.asdict(h), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped: wide plain rows rather than squeezed columns
    rows = [(str(h.rank), f"{h.score:.3f}", h.kind, f"{_short(h.source)} p{h.page + 1} t{h.tile + 1}", h.snippet) for h in hits]
    src_w = min(60, max([len(r[3]) for r in rows] + [6]))
    snip_w = max(10, console.width - src_w - 2 - 5 - 5 - 8)
    table = Table(box=None, show_edge=False, pad_edge=False)
    for name, width in (("#", 2), ("score", 5), ("kind", 5), ("source", src_w), ("snippet", snip_w)):
        table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=width, max_width=width,
                         justify="right" if name in ("#", "score") else "left")
    for r in rows:
        table.add_row(*r)
    console.print(table if hits else "no results")
    if show is not None:
        _err(f"contact sheet: {show}")


@app.command()
def status(db: Optional[Path] = DbOpt, as_json: bool = JsonOpt) -> None:
    """Sources and tiles by kind, failed sources, embedder, size on disk."""
    from .index import open_index

    st = open_index(settings=_settings(db=db)).stats()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(st)))
        return
    typer.echo(f"index: {st.db}\nmodel: {st.model} ({st.fingerprint[:12]}, dim {st.dim})")
    typer.echo(f"sources: {st.sources}  tiles: {st.tiles}  on disk: {st.bytes_on_disk / 1e6:.1f} MB"
               f"  vector index: {'yes' if st.vector_index else 'no (exact search)'}")
    for kind, c in sorted(st.by_kind.items()):
        typer.echo(f"  {kind:6} {c['sources']:6} sources {c['tiles']:7} tiles")
    for f in st.failed:
        typer.echo(f"  failed: {f['source']}: {f['reason']}")


@app.command()
def remove(sources: List[str] = typer.Argument(..., help="Sources or folders to drop."), db: Optional[Path] = DbOpt) -> None:
    """Drop sources (and everything indexed under a folder) from the index."""
    from .index import open_index

    gone = open_index(settings=_settings(db=db)).remove(sources)
    typer.echo(f"removed {len(gone)} sources")


@app.command()
def reembed(db: Optional[Path] = DbOpt, model: str = typer.Option(..., "--model", "-m", help="The new embedder.")) -> None:
    """Re-embed the stored tile images with another model (no re-rendering)."""
    from .index import open_index

    n = open_index(settings=_settings(db=db, model=model)).reembed()
    typer.echo(f"re-embedded {n} tiles with {model}")


@app.command()
def models(as_json: bool = JsonOpt) -> None:
    """List the embedders, their dimension, and whether each can run here now."""
    from .embed import list_models

    infos = list_models(_settings())
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(m) for m in infos]))
        return
    for m in infos:
        mark = "yes" if m.available else "no "
        typer.echo(f"{m.name:24} dim {str(m.dim or '?'):>5}  runs here: {mark}  {m.description}  {m.detail}")


@app.command("eval")
def eval_(
    queries: Path = typer.Argument(..., help="queries.jsonl: {id, query or image, relevant: [paths relative to --corpus]}"),
    corpus: Path = typer.Option(..., "--corpus", help="The corpus root the relevant paths are relative to."),
    db: Optional[Path] = DbOpt,
    model: Optional[str] = ModelOpt,
    k: int = typer.Option(10, "-k", help="Cut-off of the metrics: Recall@1/5/10 up to k, Recall@k, MRR@k, nDCG@k."),
    baselines: bool = typer.Option(False, "--baselines", help="Also run text-only retrievers over the renderer's own text."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Use only this many sources (fixed --seed) and their queries."),
    seed: int = typer.Option(0, "--seed", help="Seed for --sample."),
    include: Optional[list[str]] = typer.Option(None, "--include", help="Only sources whose path under --corpus matches this glob (repeatable; * crosses folders)."),
    relevant_share: Optional[float] = typer.Option(None, "--relevant-share", help="With --sample: this share of the sample comes from sources some query names, the rest are distractors."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a Recall@k chart (PNG)."),
    as_json: bool = JsonOpt,
) -> None:
    """Index a corpus (incrementally) and measure how well queries find their relevant sources."""
    from .index import open_index
    from .evaluate import evaluate, metric_keys, plot_recall

    idx = open_index(settings=_settings(db=db, model=model))
    try:
        result = evaluate(idx, queries, corpus, k=k, baselines=baselines, sample=sample, seed=seed,
                          include=include or None, relevant_share=relevant_share)
    finally:
        idx.close()
    if plot is not None:
        plot_recall(result, plot, title=corpus.name or str(corpus))
    public = {key: v for key, v in result.items() if not key.startswith("_")}
    for b in public.get("baselines", {}).values():
        b.pop("_curve", None)
    for f in public["failed"]["queries"]:
        _err(f"query {f['id']} failed (scored as a miss): {f['error']}")
    if as_json:
        typer.echo(json.dumps(public))
        _eval_exit(public)
        return
    keys = metric_keys(k)
    typer.echo(f"{'system':40} " + " ".join(f"{key:>9}" for key in keys))
    typer.echo(f"{'shotdex':40} " + " ".join(f"{public[key]:9.3f}" for key in keys))
    for name, b in public.get("baselines", {}).items():
        typer.echo(f"{name:40} " + " ".join(f"{b[key]:9.3f}" for key in keys))
    for kind, m in public["by_kind"].items():
        typer.echo(f"{'  kind ' + kind + ' (' + str(m['queries']) + ')':40} " + " ".join(f"{m[key]:9.3f}" for key in keys))
    lat = public["latency_ms"]
    typer.echo(f"{public['queries']} queries, latency p50 {lat['p50']} ms, p95 {lat['p95']} ms; "
               f"{public['missing']['count']} queries skipped: relevant source not in the corpus")
    if plot is not None:
        _err(f"plot: {plot}")
    _eval_exit(public)


def _eval_exit(result: dict) -> None:
    """Exit 1 when some queries failed: the figures count them as misses."""
    n = result["failed"]["count"]
    if n:
        _err(f"{n} of {result['queries']} queries failed; each is scored as a miss")
        raise typer.Exit(1)


def _finish(code: int) -> None:
    """Exit without the interpreter's teardown: every write is committed and every browser closed by
    now, and unwinding LanceDB's and the embedder's runtimes costs ~0.4 s of a 3 s search."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes."""
    try:
        rc = app(standalone_mode=False)  # returns typer.Exit's code in this mode
        _finish(rc if isinstance(rc, int) else 0)
    except ShotdexError as exc:
        _err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        show = getattr(exc, "show", None)
        if callable(show):
            show()
            sys.exit(getattr(exc, "exit_code", 2))
        raise


if __name__ == "__main__":
    main()
