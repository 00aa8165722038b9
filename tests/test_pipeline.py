"""The index pipeline's stages and its local runner: real Chromium, a real LanceDB on disk.

The stages are plain objects: chained by hand, without threads, they must build the same index the
threaded runner builds (the seam another runner maps). Kill -9, Ctrl-C and searches during a run are in
test_reliability.py; those run through this pipeline too.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import shotdex
from shotdex.index.indexer import AddReport
from shotdex.index.pipeline import EmbedStage, EncodeStage, ReadStage, RenderStage, SourceDone, SourceJob, TileRow, WriteStage
from shotdex.index.store import Store
from shotdex.render import RenderSettings

ROOT = Path(__file__).resolve().parents[1]
TOY = shotdex.Settings(plugins="toy_embedder", model="toy", max_tiles=60)


def _corpus(root: Path, n: int = 5) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        lines = 30 + 40 * i  # sources of 1 to several tiles
        (root / f"log{i}.txt").write_text("\n".join(f"entry {j} of log {i}: the lighthouse saw gale {i * j}" for j in range(lines)))
    (root / "broken.csv").write_bytes(b"\x00\x01\x02" * 500)  # fails in the middle of the run
    (root / "table.csv").write_text("city,rain\nBergen,2250\nOslo,760\n")
    return root


def _rows(idx):
    t = idx.store.tiles.to_arrow().select(["id", "source", "text", "vector"]).to_pylist()
    return {r["id"]: (r["source"], r["text"], tuple(round(x, 6) for x in r["vector"])) for r in t}


@pytest.mark.slow
def test_stages_chained_by_hand_build_the_same_index_as_the_runner(tmp_path):
    corpus = _corpus(tmp_path / "c")
    threaded = shotdex.open(db=tmp_path / "threaded", settings=TOY)
    rep = threaded.add([corpus])
    assert [Path(s).name for s, _ in rep.failed] == ["broken.csv"] and len(rep.added) == 6

    by_hand = shotdex.open(db=tmp_path / "by-hand", settings=TOY)
    emb = by_hand.embedder
    by_hand.store.create(emb.name, emb.fingerprint, emb.dim)
    rs = RenderSettings.from_settings(TOY)
    report = AddReport()
    render, embed, encode = RenderStage(rs), EmbedStage(emb), EncodeStage()
    write = WriteStage(by_hand.store, rs.hash, report)
    assert not emb.reads_text  # the toy embedder needs no read stage
    try:
        for src in sorted(str(p) for p in corpus.iterdir()):
            job = SourceJob(src, *map(float, (os.stat(src).st_size, os.stat(src).st_mtime)))
            res = render(job)
            tiles, res.tiles = res.tiles, []
            rows = [encode(r) for r in embed([TileRow(job, t) for t in tiles])]
            write([SourceDone(job, res, rows)])
    finally:
        render.close()
    by_hand.store.maintain()
    assert _rows(by_hand) == _rows(threaded) and len(_rows(threaded)) == rep.tiles
    assert [Path(s).name for s, _ in report.failed] == ["broken.csv"]
    hits = by_hand.search("Bergen rain", k=1)
    assert Path(hits[0].source).name == "table.csv"


def test_read_stage_is_the_reader_embedders_ocr(tmp_path):
    from PIL import Image, ImageDraw

    from shotdex.embed import get_embedder

    emb = get_embedder("reader", shotdex.Settings())
    assert emb.reads_text and emb.read_workers() >= 1
    img = Image.new("RGB", (480, 120), "white")
    ImageDraw.Draw(img).text((10, 40), "LIGHTHOUSE GALE", fill="black", font_size=36)
    read = ReadStage(emb)
    # a picture (not a kind shotdex lays out): Tesseract reads it, as embed_tiles reads a kindless image
    row = read(TileRow(SourceJob("x", 0, 0.0), _FakeTile(img, "image")))
    assert "LIGHTHOUSE" in row.reading[0].upper()
    tess = getattr(emb.ocr._engine, "_tile", emb.ocr._engine)  # shotdex's own engine keeps its Tesseract there
    if emb.ocr.engine == "api":  # a run's reading threads give their Tesseract back when they end
        assert len(tess._apis) == 1
        read.release()
        assert tess._apis == []
    (e,) = EmbedStage(emb)([row])
    assert e.embedding.text == row.reading[0]
    same = emb.embed_tiles([img])[0]  # the one-call path gives the same reading and vector
    assert same.text == e.embedding.text and abs(float(same.vector @ e.embedding.vector) - 1.0) < 1e-5
    emb.close()


class _FakeTile:
    """Just what a read stage looks at: the image and the source kind (the rest of a Tile is provenance)."""

    def __init__(self, image, kind: str = "text"):
        self.image = image
        self.kind = kind
        self.text = ""


def test_progress_moves_per_tile_before_sources_are_written(tmp_path):
    corpus = _corpus(tmp_path / "c", n=3)
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    events = []
    rep = idx.add([corpus], progress=events.append)
    tiles = [e.tiles_done for e in events]
    assert events[0].tiles_done == 0 and events[0].sources_total == 5
    assert max(tiles) == rep.tiles and rep.tiles >= 5
    # every embedded tile moves the count, while sources are still being worked on
    assert sorted(set(tiles)) == list(range(0, rep.tiles + 1))
    assert any(e.sources_done < e.sources_total and e.tiles_done > 0 for e in events)
    assert all(e.current for e in events[1:])
    assert events[-1].sources_done == 5


@pytest.mark.slow
def test_stop_event_ends_a_run_early_and_keeps_whole_sources(tmp_path):
    corpus = _corpus(tmp_path / "c", n=6)
    idx = shotdex.open(db=tmp_path / "db", settings=TOY)
    stop = threading.Event()

    def on_progress(ev):
        if ev.sources_done >= 1:
            stop.set()

    rep = idx.add([corpus], progress=on_progress, stop=stop)
    written = idx.store.source_rows(["tiles", "status"])
    assert 1 <= len(written) < 8  # 6 logs, a table and a broken file: the run ended early
    stored = idx.store.tiles.to_arrow().select(["source"]).column("source").to_pylist()
    for src, row in written.items():  # a source is written whole or not at all
        if row["status"] == "indexed":
            assert stored.count(src) == row["tiles"]
    again = idx.add([corpus])  # the rest comes on the next run
    assert len(again.added) + len(again.skipped) + len(again.updated) == 7
    assert len(again.added) == 7 - sum(r["status"] == "indexed" for r in written.values())
    assert not rep.interrupted


@pytest.mark.slow
def test_memory_stays_bounded_over_a_2000_tile_run(tmp_path):
    """Peak memory of a 2,000-tile run against a 200-tile run of the same sources' shape."""
    # VmHWM: the peak of this process since exec (ru_maxrss keeps the parent's across fork and exec)
    script = (
        "import sys, resource\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\nimport shotdex\n"
        "n, root = int(sys.argv[1]), Path(sys.argv[2])\nroot.mkdir(parents=True)\n"
        "for i in range(n):\n"
        "    (root / f'doc{i}.txt').write_text('\\n'.join(f'source {i} line {j} gale {i * j}' for j in range(1000)))\n"
        "s = shotdex.Settings(plugins='toy_embedder', model='toy', max_tiles=200, tile_width=512, tile_height=384)\n"
        "r = shotdex.open(db=str(root) + '-db', settings=s).add([root])\n"
        "print(r.tiles, int(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:'))) // 1024)\n"
    )
    env = dict(os.environ, LANCEDB_LOG="error")
    peaks = {}
    for n in (3, 29):
        out = subprocess.run([sys.executable, "-c", script, str(n), str(tmp_path / f"c{n}")], capture_output=True,
                             text=True, env=env, cwd=ROOT, timeout=900)
        assert out.returncode == 0, out.stderr
        tiles, peak_mb = map(int, out.stdout.split())
        peaks[n] = (tiles, peak_mb)
    assert peaks[29][0] >= 2000 and peaks[3][0] >= 200
    # ten times the tiles may not need more than a little more memory (measured: +74 MB of 369 MB)
    assert peaks[29][1] - peaks[3][1] < 200, peaks
    assert peaks[29][1] < 1024, peaks


# ------------------------------------------------------------------------------ read worker processes
def _chain_children(parent: int) -> list[int]:
    """Pids of the live read worker processes (procs.py) below `parent`: the one it started first, then
    that one's forks."""
    procs = {}
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and b"shotdex.index.procs" in (d / "cmdline").read_bytes():
                procs[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    first = sorted(pid for pid, pp in procs.items() if pp == parent)
    return first + sorted(pid for pid, pp in procs.items() if pp in first)


def _reader_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    for i in range(4):
        (root / f"log{i}.md").write_text("\n\n".join(f"Entry {j}: the lighthouse at cape {i} saw gale force {i * j + 3}"
                                                       for j in range(12 + 20 * i)))
    (root / "rain.csv").write_text("city,rain\nBergen,2250\nOslo,760\n")
    return root


@pytest.mark.slow
def test_read_worker_processes_build_the_same_index_as_threads(tmp_path):
    """The real reader: read + embed + encode in child processes give the rows the threads give."""
    corpus = _reader_corpus(tmp_path / "c")
    got = {}
    for mode in (True, False):
        s = shotdex.Settings(ocr_workers=2, read_processes=mode)
        with shotdex.open(db=tmp_path / f"db-{mode}", settings=s) as idx:
            rep = idx.add([corpus])
            assert not rep.failed and len(rep.added) == 5
            t = idx.store.tiles.to_arrow().select(["id", "text", "words", "vector", "image"]).to_pylist()
            got[mode] = {r["id"]: (r["text"], r["words"], r["vector"], r["image"]) for r in t}
            assert Path(idx.search("Bergen rain", k=1)[0].source).name == "rain.csv"
    assert len(got[True]) >= 6 and got[True] == got[False]
    assert all(text for text, *_ in got[True].values())


@pytest.mark.slow
def test_read_worker_processes_die_with_a_killed_index_run(tmp_path):
    """kill -9 of `shotdex index` alone (not its group): its read worker processes end by themselves."""
    import signal
    import time

    from reliability_util import kill_group, start_cli

    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"n{i}.md").write_text("\n\n".join(f"note {i} line {j}: gale {i * j}" for j in range(60)))
    proc = start_cli("index", corpus, "--db", tmp_path / "db", env={"SHOTDEX_OCR_WORKERS": "2"})
    try:
        deadline = time.monotonic() + 120
        kids = []
        while len(kids) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            kids = _chain_children(proc.pid)
        assert len(kids) == 2, "the run never started its two read worker processes"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() and
                                                  "Z" not in Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1][:3]
                                                  for k in kids):
            time.sleep(0.1)
        alive = [k for k in kids if Path(f"/proc/{k}").exists()
                 and "Z" not in Path(f"/proc/{k}/stat").read_text().rsplit(")", 1)[1][:3]]
        assert not alive, f"read workers outlived their run: {alive}"
    finally:
        kill_group(proc.pid)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["first", "fork"])
def test_a_read_worker_process_that_dies_ends_the_run_with_one_clear_error(tmp_path, which):
    """A worker killed from outside (the OOM killer, say), the process the run started or the fork it made
    of itself: the run stops with an EmbedderError naming it, and what was committed before stays."""
    import signal

    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"n{i}.md").write_text("\n\n".join(f"note {i} line {j}: gale {i * j}" for j in range(60)))
    killed = []

    def on_progress(ev):
        if ev.tiles_done >= 3 and not killed:
            kids = _chain_children(os.getpid())
            assert len(kids) == 2, "two read workers: the first and its fork"
            victim = kids[0] if which == "first" else kids[1]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with shotdex.open(db=tmp_path / "db", settings=shotdex.Settings(ocr_workers=2)) as idx:
        with pytest.raises(shotdex.EmbedderError, match="read worker process ended"):
            idx.add([corpus], progress=on_progress)
        assert killed
        rows = idx.store.source_rows(["tiles", "status"]) if idx.store.exists else {}
        stored = idx.store.tiles.to_arrow().column("source").to_pylist() if rows else []
        for src, row in rows.items():  # written whole or not at all
            assert row["status"] == "indexed" and stored.count(src) == row["tiles"]
        assert not _chain_children(os.getpid())  # the other worker was ended too
        rep = idx.add([corpus])  # and the next run finishes the job
        assert len(rep.added) + len(rows) == 30 and not rep.failed


@pytest.mark.slow
def test_a_new_index_starts_its_read_workers_before_its_tables_and_ends_them_on_failure(tmp_path, monkeypatch):
    """A fresh index starts its read worker processes before it makes LanceDB's tables (they load while
    it works), the run uses those and no others, and a failure before the pipeline starts ends them."""
    from shotdex.index import procs

    corpus = _reader_corpus(tmp_path / "c")
    started, at_create = [], []
    start, create = procs.start_chain_processes, Store.create

    def spy_start(*a, **k):
        chains = start(*a, **k)
        started.append(chains)
        return chains

    def spy_create(self, *a, **k):
        at_create.append([len(c) for c in started if c[0].proc.poll() is None])
        return create(self, *a, **k)

    monkeypatch.setattr(procs, "start_chain_processes", spy_start)
    monkeypatch.setattr(Store, "create", spy_create)
    settings = shotdex.Settings(ocr_workers=2)
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        rep = idx.add([corpus])
        assert not rep.failed and len(rep.added) == 5
        assert Path(idx.search("Bergen rain", k=1)[0].source).name == "rain.csv"
    assert at_create == [[2]] and len(started) == 1  # started before the tables, and no others after
    assert started[0][0].proc.poll() is not None and not _chain_children(os.getpid())

    def broken_callback(ev):
        raise RuntimeError("the caller's progress callback failed")

    with shotdex.open(db=tmp_path / "db2", settings=settings) as idx:
        with pytest.raises(RuntimeError, match="progress callback failed"):
            idx.add([corpus], progress=broken_callback)
    assert at_create == [[2], [2]] and len(started) == 2
    assert started[1][0].proc.poll() is not None  # ended with the failure, not left running
    time.sleep(0.5)  # its fork ends with it (the parent death signal), a moment later
    assert not _chain_children(os.getpid())


@pytest.mark.slow
def test_a_read_worker_that_cannot_make_its_embedder_says_why_but_one_killed_while_loading_is_an_error(tmp_path):
    """(Three workers, as on a machine of three cores: each fork must keep its own socket.) Two ways a
    child can fail before its first tile: it cannot rebuild the caller's embedder (the
    runner then reads on its own threads, so wait_ready hands back the reason), or it is killed while it
    loads (the OOM killer under load, say): that must end the run, never fall back silently."""
    import signal
    from types import SimpleNamespace

    from shotdex.index import procs

    settings = shotdex.Settings(ocr_workers=2)
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        emb = idx.embedder
        odd = SimpleNamespace(name=emb.name, options=emb.options, fingerprint="not-" + emb.fingerprint)
    chains = procs.start_chain_processes(odd, settings, 3)
    try:
        for chain in chains:  # the first and its two forks
            assert "differs" in chain.wait_ready()
            with pytest.raises(shotdex.EmbedderError, match="differs"):
                chain(None)
    finally:
        for chain in chains:
            chain.close()
    doomed = procs.start_chain_processes(emb, settings, 2)
    try:
        os.kill(doomed[0].proc.pid, signal.SIGKILL)
        for chain in doomed:
            with pytest.raises(shotdex.EmbedderError, match="read worker process ended"):
                chain.wait_ready()
    finally:
        for chain in doomed:
            chain.close()


@pytest.mark.slow
def test_read_workers_that_cannot_make_the_embedder_leave_the_run_on_threads_and_say_so(tmp_path, monkeypatch):
    """Worker processes rebuild the embedder and compare fingerprints; when theirs differs (here the
    caller's is altered), the run reads on its own threads instead: every source indexed, searchable,
    one warning naming why, and no worker process left behind."""
    from shotdex.embed.reader import ReaderEmbedder

    real = ReaderEmbedder.fingerprint
    monkeypatch.setattr(ReaderEmbedder, "fingerprint", property(lambda self: real.fget(self) + "|altered"))
    corpus = _reader_corpus(tmp_path / "c")
    with shotdex.open(db=tmp_path / "db", settings=shotdex.Settings(ocr_workers=2)) as idx:
        rep = idx.add([corpus])
        assert not rep.failed and len(rep.added) == 5
        assert Path(idx.search("Bergen rain", k=1)[0].source).name == "rain.csv"
    said = [why for src, why in rep.warnings if src == "read workers"]
    assert len(said) == 1 and "read on threads" in said[0] and "differs" in said[0], rep.warnings
    assert not _chain_children(os.getpid())
