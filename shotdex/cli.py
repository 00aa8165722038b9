"""The shotdex command: parse options, make one library call, print. No logic of its own.

Exit codes: 0 ok; 1 some sources failed; 2 bad usage, query or setting; 3 missing set-up (Chromium,
Tesseract, model weights); 4 index built by another model; 5 index locked by another writer;
6 unusable index folder; 70 internal error (a bug); 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .cli_output import Rate, err, one_line, plural, print_hits, print_report, progress_bar, short
from .errors import ShotdexError
from .settings import Settings

app = typer.Typer(
    add_completion=True, no_args_is_help=True, help="Search everything as screenshots.",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DbOpt = typer.Option(None, "--db", help="Index folder, or an object-store URI such as s3://bucket/prefix (default: $SHOTDEX_DB or the user data folder).")
ModelOpt = typer.Option(None, "--model", "-m", help="Embedder (see `shotdex models`); default: the index's own, else reader.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output on stdout.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="Print only errors (no progress, warnings or summary).")
VerboseOpt = typer.Option(False, "--verbose", "-v", help="Also name every ignored file, and time each step.")
ReaderEngineOpt = typer.Option(None, "--reader-engine", help="How the reader reads tiles: auto (= shotdex), shotdex (its own recogniser; other kinds and unsure words go to Tesseract) or tesseract. Recorded in the index.")
MaxTilesOpt = typer.Option(None, "--max-tiles", help="Most tiles per source (default 2,000; $SHOTDEX_MAX_TILES).")


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"shotdex {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Search everything as screenshots."""


def _settings(**overrides) -> Settings:
    return Settings.from_env(**overrides)


def _exit_now(code: int) -> None:
    """Exit at once after Ctrl-C. Every index write is an atomic commit and the writer lock is released
    by the kernel, so nothing needs tidying; interpreter shutdown with Playwright's and LanceDB's threads
    cut off mid-call can crash (SIGSEGV) or hang instead of exiting with the documented code."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def render(
    sources: List[str] = typer.Argument(..., help="Files, folders or http(s) URLs."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for PNG tiles and manifest.jsonl."),
    as_json: bool = JsonOpt,
    js: bool = typer.Option(False, "--js", help="Run page JavaScript (with a time limit)."),
    tile_width: Optional[int] = typer.Option(None, help="Tile width in CSS px (default 1024)."),
    tile_height: Optional[int] = typer.Option(None, help="Tile height in CSS px (default 768)."),
    max_tiles: Optional[int] = MaxTilesOpt,
    quiet: bool = QuietOpt,
    verbose: bool = VerboseOpt,
    follow_links: bool = typer.Option(False, "--follow-links", help="Follow symbolic links that lead outside the paths given."),
) -> None:
    """Render sources into screenshot tiles (PNG) plus manifest.jsonl."""
    import time

    from . import render_tiles

    s = _settings(js=js or None, tile_width=tile_width, tile_height=tile_height, max_tiles=max_tiles,
                  follow_links=follow_links or None)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="'--out'")
    bar = progress_bar("render", quiet)
    task = None
    clock = {"t": time.perf_counter(), "tiles": 0}

    def step(done, total, tiles, src):
        nonlocal task
        if verbose:
            now = time.perf_counter()
            err(f"rendered {short(src)}: {plural(tiles - clock['tiles'], 'tile')} in {now - clock['t']:.1f}s")
            clock.update(t=now, tiles=tiles)
        if bar is not None:
            if task is None:
                task = bar.add_task("render", total=total, tiles=0, rate="", current="")
            bar.update(task, completed=done, tiles=tiles)

    if bar:
        bar.start()
    try:
        report = render_tiles(sources, out, s, progress=step)
    finally:
        if bar:
            bar.stop()
    if as_json:
        for line in report.manifest:
            typer.echo(json.dumps(line, ensure_ascii=False))
    print_report(report.failed, report.warnings, report.skipped, quiet=quiet, verbose=verbose)
    if not quiet:
        typer.echo(f"{plural(len(report.rendered), 'source')} rendered, {plural(report.tiles, 'tile')}, "
                   f"{len(report.skipped)} ignored, {len(report.failed)} failed -> {report.out}", err=as_json)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def index(
    sources: List[str] = typer.Argument(..., help="Files, folders or http(s) URLs."),
    db: Optional[str] = DbOpt,
    model: Optional[str] = ModelOpt,
    prune: bool = typer.Option(False, "--prune", help="Drop indexed sources under these folders that no longer exist."),
    js: bool = typer.Option(False, "--js", help="Run page JavaScript (with a time limit)."),
    allow_private: bool = typer.Option(False, "--allow-private", help="Let URL sources redirect to private/loopback addresses."),
    max_tiles: Optional[int] = MaxTilesOpt,
    follow_links: bool = typer.Option(False, "--follow-links", help="Follow symbolic links that lead outside the paths given."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Only sources whose path below a folder given (or name) matches this glob (repeatable; * crosses folders)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Leave out sources whose path below a folder given (or name) matches this glob (repeatable)."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run the stages on Ray: --ray alone starts a local instance; --ray ADDRESS joins a cluster (auto, ray://head:10001, head:6379). Needs pip install 'shotdex[ray]'."),
    reader_engine: Optional[str] = ReaderEngineOpt,
    as_json: bool = JsonOpt,
    quiet: bool = QuietOpt,
    verbose: bool = VerboseOpt,
) -> None:
    """Render, read and embed sources into the index (incremental: unchanged sources are not redone)."""
    import threading
    import time

    from .index import open_index

    s = _settings(db=db, model=model, js=js or None, allow_private=allow_private or None, max_tiles=max_tiles,
                  follow_links=follow_links or None, reader_engine=reader_engine)
    bar = progress_bar("index", quiet)
    state = {"task": None, "t0": None, "t": time.perf_counter(), "done": 0, "tiles": 0}

    def step(ev):
        now = time.perf_counter()
        if verbose and ev.sources_done > state["done"]:
            last = f" (up to {short(ev.current)})" if ev.current else ""
            err(f"indexed {plural(ev.sources_done - state['done'], 'source')}, {plural(ev.tiles_done - state['tiles'], 'tile')} "
                 f"in {now - state['t']:.1f}s{last}")
            state.update(t=now, done=ev.sources_done, tiles=ev.tiles_done)
        if bar is None:
            return
        if state["task"] is None:
            state["task"] = bar.add_task("index", total=ev.sources_total, tiles=0, rate="", current="")
            state["rate"] = Rate()
        rate = state["rate"].update(now, ev.tiles_done)
        bar.update(state["task"], completed=ev.sources_done, tiles=ev.tiles_done, rate=f"{rate:.1f} tiles/s",
                   current=short(ev.current)[-40:] if ev.current else "")

    stop = threading.Event()
    idx = None
    try:
        idx = open_index(settings=s)
        if bar:
            bar.start()
        report = idx.add(sources, progress=step, prune=prune, stop=stop, include=include or None,
                         exclude=exclude or None, runner="local" if ray is None else "ray",
                         ray_address=None if ray in (None, "", RAY_LOCAL) else ray)
    except KeyboardInterrupt:
        if bar:
            bar.stop()
        err("interrupted: what was written is kept; run the same command again to resume")
        _exit_now(130)
    finally:
        if bar:
            bar.stop()
        if idx is not None:
            idx.close()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report)))
    print_report(report.failed, report.warnings, report.ignored, quiet=quiet, verbose=verbose)
    if not quiet:
        typer.echo(report.summary(), err=as_json)
        if report.missing:
            err(f"{plural(len(report.missing), 'indexed source')} under these folders no longer "
                 f"{'exists' if len(report.missing) == 1 else 'exist'} and still "
                 f"{'shows' if len(report.missing) == 1 else 'show'} in searches; add --prune to drop them")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="Query text."),
    image: Optional[Path] = typer.Option(None, "--image", help="Use an image (screenshot, photo) as the query."),
    url: Optional[str] = typer.Option(None, "--url", help="Render a page (http(s) or file://) and use it as the query."),
    render_query: bool = typer.Option(False, "--render-query", help="Render the query text as a screenshot and search image-to-image."),
    k: int = typer.Option(10, "--limit", "-k", help="Number of results."),
    kind: Optional[List[str]] = typer.Option(None, "--kind", help="Only these kinds (repeat it, or a comma list): text, table, chart, web, pdf."),
    where: Optional[str] = typer.Option(None, "--where", help="SQL filter on tile columns (page and tile from 0), e.g. \"page = 0\" for p1."),
    tiles: bool = typer.Option(False, "--tiles", help="One row per tile instead of per source."),
    hybrid: Optional[bool] = typer.Option(None, "--hybrid/--no-hybrid", help="Fuse vector and full-text rankings (default on)."),
    show: Optional[Path] = typer.Option(None, "--show", help="Write a contact sheet of the top hits (.png, .jpg or .webp; PNG without an ending)."),
    paths: bool = typer.Option(False, "--paths", help="Print only the matching sources, one a line (for piping)."),
    db: Optional[str] = DbOpt,
    model: Optional[str] = ModelOpt,
    as_json: bool = JsonOpt,
    no_server: bool = typer.Option(False, "--no-server", help="Search here even when a `shotdex serve` of this db is running."),
) -> None:
    """Search the index with text, an image, a URL, or rendered text."""
    from .index.api import parse_kinds
    from .serve.client import server_search

    if sum(x is not None for x in (query, image, url)) != 1:
        raise typer.BadParameter("give one of a query text, --image PATH or --url URL")
    if as_json and paths:
        raise typer.BadParameter("--json and --paths: pick one", param_hint="'--paths'")
    kinds = parse_kinds(kind)
    if show is not None:
        from .index.show import sheet_format

        sheet_format(show)
    answer = None if no_server else server_search(
        _settings(db=db, model=model), query, image=image, url=url, render_query=render_query, k=k, kind=kinds,
        where=where, hybrid=hybrid, tiles=tiles, show=show)
    if answer is not None:
        hits, where_at = answer
    else:
        from .index import open_index
        from .index.lance_import import search_only_process

        search_only_process()  # this process only searches: lancedb may load without pandas (lance_import.py)
        idx = open_index(settings=_settings(db=db, model=model))
        where_at = {}
        try:
            hits = idx.search(text=query, image=image, url=url, render_query=render_query, k=k, kind=kinds,
                              where=where, hybrid=hybrid, tiles=tiles)
            if show is not None:
                from .index.show import contact_sheet

                contact_sheet(idx, hits, show, query=query)
            if not as_json and not paths:
                where_at = idx.positions(hits)
        finally:
            idx.close()
    if as_json:
        for h in hits:
            typer.echo(json.dumps(dataclasses.asdict(h), ensure_ascii=False))
        return
    if paths:
        seen = set()
        for h in hits:
            if h.source not in seen:
                seen.add(h.source)
                typer.echo(h.source)
        return
    print_hits(hits, where_at)
    if show is not None:
        err(f"contact sheet: {show}")


@app.command()
def serve(
    db: Optional[str] = DbOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; any but loopback needs --token."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free one)."),
    open_page: bool = typer.Option(False, "--open", help="Open the page in a web browser."),
    token: Optional[str] = typer.Option(None, "--token", help="Require this token on every request (default: $SHOTDEX_TOKEN)."),
) -> None:
    """Serve the index as a web page and JSON API (Ctrl-C stops it); `search` then goes through it."""
    from .index import open_index
    from .serve.server import serve_forever

    with open_index(settings=_settings(db=db)) as idx:
        serve_forever(idx, host=host, port=port, token=token, open_browser=open_page,
                      on_ready=lambda url: typer.echo(f"shotdex serve: {url} (index {idx.store.folder}); Ctrl-C stops", err=True))
    err("stopped")


@app.command()
def status(db: Optional[str] = DbOpt, as_json: bool = JsonOpt) -> None:
    """Sources and tiles by kind, failed sources, embedder, size on disk."""
    from .index import open_index

    st = open_index(settings=_settings(db=db)).stats()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(st)))
        return
    typer.echo(f"index: {st.db}\nmodel: {st.model} ({st.fingerprint[:12]}, dim {st.dim})")
    typer.echo(f"{plural(st.sources, 'source')}, {plural(st.tiles, 'tile')}, on disk: {st.bytes_on_disk / 1e6:.1f} MB"
               f"  vector index: {'yes' if st.vector_index else 'no (exact search)'}")
    typer.echo("page fields: " + ("yes (whole pages rank by their read text, headings and title)" if st.page_fields
                                  else "no: made by an older shotdex; the next `shotdex index` derives them from the stored words"))
    for kind, c in sorted(st.by_kind.items()):
        typer.echo(f"  {kind:6} {plural(c['sources'], 'source'):>14} {plural(c['tiles'], 'tile'):>13}")
    if st.figures is None:
        typer.echo("figure tags: none (made without the figure tagger; `shotdex reembed` adds them)")
    else:
        shown = ", ".join(f"{t} {n}" for t, n in sorted(st.figures.items(), key=lambda x: (-x[1], x[0])))
        typer.echo(f"figure tags: {shown or 'none so far'}")
    for f in st.failed:
        typer.echo(f"  failed: {f['source']}: {f['reason']}")
    for f in st.stale:
        typer.echo(f"  stale: {f['source']}: {f['reason']} (last good version kept: {f['tiles']} tiles searchable)")


@app.command("ls")
def ls(
    db: Optional[str] = DbOpt,
    as_json: bool = JsonOpt,
    failed: bool = typer.Option(False, "--failed", help="Only the sources that failed."),
) -> None:
    """List the indexed sources: status, kind, tiles, when indexed (`gone`: deleted since; see --prune)."""
    import time

    from .index import open_index

    infos = open_index(settings=_settings(db=db)).sources()
    if failed:
        infos = [i for i in infos if i.status != "indexed"]
    if as_json:
        for i in infos:
            typer.echo(json.dumps(dataclasses.asdict(i), ensure_ascii=False))
        return
    for i in infos:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(i.indexed_at)) if i.indexed_at else "-"
        status_word = i.status if i.exists else "gone"
        reason = f"  ({i.reason})" if i.reason else ""
        typer.echo(f"{status_word:8} {i.kind or '-':6} {i.tiles:6}  {when}  {short(i.source)}{reason}")


app.command("sources", hidden=True, help="The same as `shotdex ls`.")(ls)


@app.command()
def remove(
    sources: List[str] = typer.Argument(..., help="Sources or folders to drop."),
    db: Optional[str] = DbOpt,
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Only list what would be removed."),
    as_json: bool = JsonOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Drop sources (and everything indexed under a folder) from the index; exit 1 when a SRC named
    nothing in it (each named on stderr, the rest removed)."""
    from .index import open_index
    from .index.api import unmatched

    gone = open_index(settings=_settings(db=db)).remove(sources, dry_run=dry_run)
    missing = unmatched(sources, gone)
    if as_json:
        typer.echo(json.dumps({"removed": [] if dry_run else gone, "would_remove": gone if dry_run else [],
                               "dry_run": dry_run, "not_in_index": missing}, ensure_ascii=False))
    else:
        if dry_run:
            for src in gone:
                typer.echo(src)
        if not quiet:
            typer.echo(f"{'would remove' if dry_run else 'removed'} {plural(len(gone), 'source')}", err=dry_run)
    for src in missing:
        err(f"not in the index: {src}")
    if missing:
        raise typer.Exit(1)


@app.command()
def reembed(
    db: Optional[str] = DbOpt,
    model: str = typer.Option(..., "--model", "-m", help="The new embedder."),
    reader_engine: Optional[str] = ReaderEngineOpt,
    as_json: bool = JsonOpt,
    quiet: bool = QuietOpt,
) -> None:
    """Re-embed the stored tile images with another model (no re-rendering)."""
    from .index import open_index

    n = open_index(settings=_settings(db=db, model=model, reader_engine=reader_engine)).reembed()
    if as_json:
        typer.echo(json.dumps({"tiles": n, "model": model}))
    elif not quiet:
        typer.echo(f"re-embedded {plural(n, 'tile')} with {model}")


@app.command()
def models(as_json: bool = JsonOpt) -> None:
    """List the embedders, their dimension, and whether each can run here now."""
    from .embed import list_models

    infos = list_models(_settings())
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(m) for m in infos]))
        return
    for m in infos:
        # An embedder whose dimension depends on its weights (hf:) runs only once weights are named.
        mark = "no" if not m.available else ("yes" if m.dim else "needs weights (a hub id reachable, or a local folder)")
        typer.echo(f"{m.name:24} dim {str(m.dim or '?'):>5}  runs here: {mark}  {m.description}  {m.detail}")


@app.command("eval")
def eval_(
    queries: Path = typer.Argument(..., help="queries.jsonl: {id, query or image, relevant: \\[paths relative to --corpus]}"),
    corpus: Path = typer.Option(..., "--corpus", help="The corpus root the relevant paths are relative to."),
    db: Optional[str] = DbOpt,
    model: Optional[str] = ModelOpt,
    k: int = typer.Option(10, "--limit", "-k", help="Cut-off of the metrics: Recall@1/5/10 up to k, Recall@k, MRR@k, nDCG@k."),
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
        b.pop("_ndcg", None)
    for f in public["failed"]["queries"]:
        err(f"query {f['id']} failed (scored as a miss): {f['error']}")
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
        typer.echo(f"{'  kind ' + kind + ' (' + plural(m['queries'], 'query', 'queries') + ')':40} " + " ".join(f"{m[key]:9.3f}" for key in keys))
    lat = public["latency_ms"]
    missing = public["missing"]["count"]
    typer.echo(f"{plural(public['queries'], 'query', 'queries')}, latency p50 {lat['p50']} ms, p95 {lat['p95']} ms; "
               f"{plural(missing, 'query', 'queries')} left out: relevant source not in the corpus")
    if plot is not None:
        err(f"plot: {plot}")
    _eval_exit(public)


def _eval_exit(result: dict) -> None:
    """Exit 1 when some queries failed: the figures count them as misses."""
    n = result["failed"]["count"]
    if n:
        err(f"{n} of {result['queries']} queries failed; each is scored as a miss")
        raise typer.Exit(1)


RAY_LOCAL = "local"  # `--ray` with no address: a local Ray instance


def _ray_argv(argv: list[str]) -> list[str]:
    """`--ray [ADDRESS]`: click options cannot take an optional value, so a bare --ray (last, before
    another option, or before a source rather than an address) becomes --ray=local."""
    import re

    out = list(argv)
    for i, a in enumerate(out):
        if a != "--ray":
            continue
        nxt = out[i + 1] if i + 1 < len(out) else None
        address = nxt is not None and (nxt in ("auto", RAY_LOCAL) or nxt.startswith("ray://")
                                       or bool(re.fullmatch(r"[\w.-]+:\d+", nxt))) and not os.path.exists(nxt)
        if address:
            out[i:i + 2] = [f"--ray={nxt}"]
        else:
            out[i] = f"--ray={RAY_LOCAL}"
        break
    return out


def run(argv: list[str] | None = None) -> int:
    """Run the command line; the one place errors become messages and exit codes. Returns the code."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    argv = _ray_argv(sys.argv[1:] if argv is None else list(argv))
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 goes out as the bytes it is (as `ls` prints it), not a crash
        try:
            stream.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError):
            pass
    debug = "-v" in argv or "--verbose" in argv or os.environ.get("SHOTDEX_DEBUG") == "1"
    try:
        rc = app(args=argv, prog_name="shotdex", standalone_mode=False)  # returns typer.Exit's code here
        return rc if isinstance(rc, int) else 0
    except ShotdexError as exc:
        msg = str(exc) if debug else one_line(exc)
        hint = getattr(exc, "hint", "")
        err(f"error: {msg}" + (f"; {hint}" if hint else ""))
        return exc.exit_code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        exc.show()
        return 2
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "shotdex"
        err(f"error: {one_line(exc.format_message())} (see `{where} -h`)")
        return exc.exit_code
    except ClickException as exc:
        err(f"error: {one_line(exc.format_message())}")
        return exc.exit_code
    except typer.Abort:
        err("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback with -v or SHOTDEX_DEBUG=1
        if debug:
            import traceback

            traceback.print_exc()
        err(f"internal error: {type(exc).__name__}: {one_line(exc)} (a bug; SHOTDEX_DEBUG=1 shows the traceback)")
        return 70


def _finish(code: int) -> None:
    """Exit without the interpreter's teardown: every write is committed and every browser closed by
    now, and unwinding LanceDB's and the embedder's runtimes costs ~0.4 s of a 3 s search."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    """Console entry point."""
    _finish(run())


if __name__ == "__main__":
    main()
