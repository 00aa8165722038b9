"""Issue 6 on the real pipeline (real Chromium, real LanceDB on disk, the `shotdex` CLI as a process):
bad input, kill -9, Chromium killed, Ctrl-C, disk full, concurrent searches and a second writer.

The default `reader` embedder (Tesseract + MiniLM) runs where the promise is about the whole pipeline
as users run it (the bad-input corpus). Where the embedder plays no part in the promise (crash
recovery, locking, concurrency), the toy embedder keeps the runs short; the kill -9 loop also runs two
trials with `reader`.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import badcorpus
from reliability_util import (
    TOY, chromium_main_pids, check_consistent, cli_env, kill_group, run_cli, source_rows,
    start_cli, tile_rows,
)

import shotdex


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    for ln in _lines(stderr):
        assert ln.startswith("shotdex: "), f"stray stderr line: {ln!r}"


def _drop_dac_caps() -> list[str]:
    """As root, chmod 000 does not stop reads: run the CLI without CAP_DAC_OVERRIDE/READ_SEARCH so the
    permission bits apply (the run stays root otherwise: same files, same venv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True)
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if probe.returncode == 0 else None


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.slow
def test_bad_input_corpus_one_line_each_good_ones_indexed_nothing_lost(tmp_path):
    """Every bad file: exactly one 'failed:'/'ignored:' line naming it and why; the good ones indexed;
    exit 1; a previously indexed source (untouched, or since turned into junk) keeps its tiles; time and
    memory bounded (1M-row CSV, 200,000 px page, 100-megapixel PNG). Default `reader` embedder, with
    max_tiles=4 so OCR stays small (the caps still bite on the big inputs)."""
    prefix = _drop_dac_caps()
    if prefix is None:
        pytest.skip("running as root without setpriv: chmod 000 cannot make a file unreadable")
    env = {"SHOTDEX_MAX_TILES": "4"}
    db = tmp_path / "db"
    before = tmp_path / "before"
    before.mkdir()
    (before / "keep.md").write_text("# Harbour log\n\nThe ferry to Svolvær leaves at seven.\n")
    (before / "was-good.csv").write_text("planet,moons\nMars,2\nJupiter,95\n")
    p = run_cli("index", before, "--db", db, env=env)
    assert p.returncode == 0, p.stderr
    kept_before = check_consistent(db)
    (before / "was-good.csv").write_bytes(os.urandom(4096))  # the file goes bad after it was indexed

    corpus = tmp_path / "corpus"
    cases = [c for c in badcorpus.build(corpus) if not c.js]
    t0 = time.perf_counter()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = run_cli("index", corpus, before, "--db", db, env=env, prefix=prefix, timeout=400)
    took = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert p.returncode == 1, p.stderr
    _no_traceback(p.stderr)
    lines = _lines(p.stderr)
    assert took < 300, f"bad corpus took {took:.0f}s"
    if usage0 / 1024 < 1500:  # an earlier child's peak would hide ours
        assert peak_mb < 1500, f"peak memory {peak_mb:.0f} MB"

    indexed = {s: r for s, r in source_rows(db).items() if r["status"] == "indexed"}
    for case in cases:
        path = str(corpus / case.name)
        mine = [ln for ln in lines if f": {path}: " in ln]
        if case.expect == "fail":
            assert len([ln for ln in mine if ln.startswith("shotdex: failed: ")]) == 1, (case.name, mine)
            assert case.says in mine[-1].lower(), (case.name, mine)
            assert path not in indexed
        elif case.expect == "skip":
            assert [ln for ln in mine if ln.startswith("shotdex: ignored: ")], (case.name, lines)
            assert case.says in " ".join(mine).lower(), (case.name, mine)
            assert len(mine) == 1, mine
        else:
            assert path in indexed and indexed[path]["tiles"] >= 1, (case.name, mine)
            assert not any(ln.startswith("shotdex: failed: ") for ln in mine), mine
            if case.warns:
                assert any(case.warns in ln.lower() for ln in mine), (case.name, mine)
    # every line is about one file of the run, or the summary
    summary = p.stdout.strip().splitlines()[-1]
    n_fail = sum(c.expect == "fail" for c in cases) + 1  # + was-good.csv
    assert f"{n_fail} failed" in summary, summary
    # what was indexed before is still there: untouched, and turned-to-junk (its old tiles kept)
    assert any("failed: " in ln and "was-good.csv" in ln for ln in lines)
    after = check_consistent(db)
    for src, ids in kept_before.items():
        assert after.get(src) == ids, src
    with shotdex.open(db=db) as idx:
        hits = idx.search("ferry to Svolvær", k=3)
        assert Path(hits[0].source).name == "keep.md"
        weird = [h for h in idx.search("pelican counted seventeen herring", k=3)]
        assert weird and Path(weird[0].source).name == badcorpus.WEIRD_NAME


@pytest.mark.slow
def test_js_loop_killed_by_time_limit_popups_and_dialogs_harmless(tmp_path):
    """With --js an endless script is stopped by its time limit (the run goes on); pop-ups, alerts,
    prompts and downloads neither block nor leak."""
    corpus = tmp_path / "corpus"
    cases = [c for c in badcorpus.build(corpus, big=False) if c.js]
    env = dict(TOY, SHOTDEX_JS_TIMEOUT_S="2", SHOTDEX_RENDER_TIMEOUT_S="10")
    t0 = time.perf_counter()
    p = run_cli("index", corpus / "js", "--db", tmp_path / "db", "--js", env=env, timeout=120)
    assert time.perf_counter() - t0 < 60
    assert p.returncode == 1, p.stderr
    _no_traceback(p.stderr)
    rows = source_rows(tmp_path / "db")
    for case in cases:
        row = rows[str(corpus / case.name)]
        if case.expect == "fail":
            assert row["status"] == "failed" and case.says in row["reason"].lower(), row
        else:
            assert row["status"] == "indexed", row
    texts = " ".join(r["true_text"] for r in tile_rows(tmp_path / "db", ("source", "true_text")))
    assert "annoying page" in texts


# ------------------------------------------------------------------------------- crash corpus
def _story(name: str, version: str, paragraphs: int) -> str:
    body = "\n\n".join(f"Paragraph {i}: the {name} lighthouse keeper logged gale {i} in the {version} edition."
                       for i in range(paragraphs))
    return f"# Journal {name} ({version})\n\n{body}\n"


def _crash_corpus(root: Path, version: str) -> None:
    """Ten sources, several of them multi-tile, whose content depends on `version`."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        (root / f"journal-{i}.md").write_text(_story(f"j{i}", version, 25 + 15 * i))
    (root / "prices.csv").write_text("item,price\n" + "".join(f"{version} item {k},{k}\n" for k in range(60)))
    (root / "notes.txt").write_text(f"Telescope notes, {version}: collimate the mirror before Jupiter.\n")
    (root / "page.html").write_text(f"<html><body><h1>Observatory {version}</h1><p>open night</p></body></html>")
    (root / "plan.md").write_text(f"# Plan {version}\n\nBuy rye flour.\n")


def _search_all(db: Path, queries: list[str]) -> list[list[tuple]]:
    """Per-source results (source, score) and per-tile results (tile id, score) for each query. (Which
    of two equally scored tiles a per-source hit names depends on row order, so it is not compared.)"""
    with shotdex.open(db=db, settings=shotdex.Settings(plugins="toy_embedder")) as idx:
        return [[(h.source, h.score) for h in idx.search(q, k=8)]
                + [(h.tile_id, h.score) for h in idx.search(q, k=12, tiles=True)] for q in queries]


@pytest.mark.slow
def test_kill9_at_random_moments_then_rerun_matches_uninterrupted(tmp_path):
    """kill -9s of `shotdex index` at random moments (fixed seed) while sources keep changing between
    runs (so kills land in replacements too), until 18 runs were killed mid-way (a run that finished
    before its moment is not a kill, so how many runs that takes depends on the machine's speed); after every kill the db opens with no duplicate tile and
    no source mixing two versions; a final rerun gives exactly the tiles (ids, counts) and the search
    results of an uninterrupted run. Toy embedder (the promise is about the store)."""
    rng = random.Random(20240606)
    final_dir, work = tmp_path / "ref-corpus", tmp_path / "corpus"
    _crash_corpus(final_dir, "final")
    ref_db = tmp_path / "ref-db"
    t0 = time.perf_counter()
    # the reference run indexes the same paths as the work corpus (ids include the source path)
    _crash_corpus(work, "final")
    assert run_cli("index", work, "--db", ref_db, env=TOY).returncode == 0
    full = time.perf_counter() - t0
    reference = check_consistent(ref_db)
    queries = ["lighthouse keeper gale", "item price final", "collimate mirror Jupiter", "observatory open night",
               "rye flour plan", "journal j3"]
    ref_hits = _search_all(ref_db, queries)
    shutil.rmtree(work)

    db = tmp_path / "db"
    kills = trial = 0
    while kills < 18 and trial < 45:
        version = rng.choice(["a", "b", "final"])
        _crash_corpus(work, version) if trial == 0 else [
            (work / name).write_text((final_dir / name).read_text().replace("final", version))
            for name in rng.sample(sorted(os.listdir(final_dir)), 4)
        ]
        proc = start_cli("index", work, "--db", db, env=TOY)
        time.sleep(rng.uniform(0.3, min(full, 7.0)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        time.sleep(0.2)
        kill_group(proc.pid)  # the Chromium it left behind, if any
        if (db / "shotdex.json").exists():
            check_consistent(db)
            with shotdex.open(db=db, settings=shotdex.Settings(plugins="toy_embedder")) as idx:
                idx.search("lighthouse keeper", k=3)
        trial += 1
    assert kills >= 15, f"only {kills} runs were killed mid-way"
    _crash_corpus(work, "final")
    p = run_cli("index", work, "--db", db, env=TOY)
    assert p.returncode == 0, p.stderr
    got = check_consistent(db)
    assert {s: len(v) for s, v in got.items()} == {s: len(v) for s, v in reference.items()}
    assert got == reference
    assert _search_all(db, queries) == ref_hits
    again = run_cli("index", work, "--db", db, env=TOY)
    assert again.stdout.strip().splitlines()[-1].startswith("0 added, 0 updated, 10 unchanged")


@pytest.mark.slow
def test_kill9_with_default_embedder_then_rerun_matches(tmp_path):
    """Two kill -9 trials with the real `reader` embedder (OCR workers in flight when killed)."""
    work = tmp_path / "corpus"
    work.mkdir()
    for i in range(3):
        (work / f"note-{i}.md").write_text(_story(f"r{i}", "final", 30))
    ref_db, db = tmp_path / "ref", tmp_path / "db"
    t0 = time.perf_counter()
    assert run_cli("index", work, "--db", ref_db).returncode == 0
    full = time.perf_counter() - t0
    for frac in (0.55, 0.8):
        proc = start_cli("index", work, "--db", db)
        time.sleep(frac * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kill_group(proc.pid)
        if (db / "shotdex.json").exists():
            check_consistent(db)
    assert run_cli("index", work, "--db", db).returncode == 0
    assert check_consistent(db) == check_consistent(ref_db)
    with shotdex.open(db=db) as a, shotdex.open(db=ref_db) as b:
        q = "lighthouse keeper logged gale"
        assert [(h.source, h.tile_id) for h in a.search(q, k=3)] == [(h.source, h.tile_id) for h in b.search(q, k=3)]


# ------------------------------------------------------------------------------ Chromium killed
def test_a_run_killed_with_9_leaves_only_folders_the_next_run_removes(tmp_path):
    """Playwright's browser profile and artifacts folders, Chromium's socket folder and LibreOffice's
    profile all live in throw-away folders named after the shotdex process: after kill -9 (which
    nothing can clean up after) only those are left in TMPDIR, and the next run removes them."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="sx-"))  # short: Chromium's sockets under TMPDIR have a path limit
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"note{i:02}.md").write_text(f"# Note {i}\n\nthe kestrel hovered over field {i}\n")
    import docx  # a document for LibreOffice (CI installs it, as for tests/test_office.py)

    d = docx.Document()
    d.add_paragraph("the harbour crane lifted the last crate")
    d.save(corpus / "a-report.docx")
    try:
        proc = start_cli("render", corpus, "--out", out, env={"TMPDIR": str(tmp)})
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and not (
                any(out.glob("*.png")) and any(tmp.glob("shotdex-office-*"))):
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        kill_group(proc.pid)  # shotdex and its Playwright driver, at once
        proc.wait(timeout=60)
        time.sleep(1)
        left = sorted(x.name for x in tmp.iterdir())
        assert left and all(re.match(rf"shotdex-(chromium|office|pdf)-{proc.pid}-", name) for name in left), left
        assert any(name.startswith("shotdex-office-") for name in left), left
        p = run_cli("render", corpus / "note00.md", "--out", tmp_path / "again", env={"TMPDIR": str(tmp)})
        assert p.returncode == 0, p.stderr
        assert sorted(x.name for x in tmp.iterdir()) == []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.slow
def test_chromium_killed_mid_source_is_restarted_retried_once_then_failed(tmp_path, monkeypatch):
    """Chromium SIGKILLed (by pid, from outside the renderer) while a source renders: the browser is
    restarted and the source retried; killed on both tries, the source is reported failed; every other
    source is indexed."""
    from shotdex.render import text as text_mod

    corpus = tmp_path / "c"
    corpus.mkdir()
    for name in ("a.md", "flaky.md", "doomed.md", "z.md"):
        (corpus / name).write_text(f"# {name}\n\nContent of {name} about kayaks.\n")
    original = text_mod.capture_page
    tries: dict[str, int] = {}

    def killing(job, *a, **kw):
        # the page is loaded and about to be captured: Chromium dies mid-source
        name = os.path.basename(job.source)
        tries[name] = tries.get(name, 0) + 1
        if name == "doomed.md" or (name == "flaky.md" and tries[name] == 1):
            pids = chromium_main_pids(os.getpid())
            assert pids, "no Chromium found to kill"
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
        return original(job, *a, **kw)

    monkeypatch.setattr(text_mod, "capture_page", killing)
    with shotdex.open(db=tmp_path / "db", settings=shotdex.Settings(plugins="toy_embedder", model="toy")) as idx:
        rep = idx.add([corpus])
    assert tries == {"a.md": 1, "flaky.md": 2, "doomed.md": 2, "z.md": 1}
    assert sorted(Path(s).name for s in rep.added) == ["a.md", "flaky.md", "z.md"]
    assert [(Path(s).name, "crashed twice" in why) for s, why in rep.failed] == [("doomed.md", True)]


@pytest.mark.slow
def test_chromium_killed_from_outside_during_cli_run(tmp_path):
    """The same, as it happens to a user: the `shotdex index` process's Chromium is killed at some
    moment; the run finishes, every source is accounted for, nothing is duplicated."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"n{i:02}.md").write_text(f"# Note {i}\n\n" + "kayak paddle fjord " * 40 * (1 + i % 4))
    proc = start_cli("index", corpus, "--db", tmp_path / "db", env=TOY)
    deadline, killed = time.time() + 60, []
    while time.time() < deadline and not killed and proc.poll() is None:
        pids = chromium_main_pids(proc.pid)
        if pids and (tmp_path / "db" / "shotdex.json").exists():
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed = pids
        time.sleep(0.1)
    out, err = proc.communicate(timeout=180)
    kill_group(proc.pid)
    assert killed, "Chromium was never seen running"
    assert proc.returncode in (0, 1), err
    _no_traceback(err)
    rows = source_rows(tmp_path / "db")
    assert len(rows) == 40
    bad = [r for r in rows.values() if r["status"] != "indexed"]
    assert len(bad) <= 1 and all("chromium" in r["reason"].lower() or "crash" in r["reason"].lower() for r in bad)
    check_consistent(tmp_path / "db")


# ------------------------------------------------------------------------------------- Ctrl-C
@pytest.mark.slow
def _threads_of(pid: int) -> list[str]:
    """Each thread's name, state and kernel wait channel (what a hang is waiting for)."""
    out = []
    for t in sorted(Path(f"/proc/{pid}/task").glob("*")):
        try:
            stat = (t / "stat").read_text()
            out.append(f"{stat[stat.index('(') + 1:stat.rindex(')')]}:{stat.rsplit(')', 1)[1].split()[0]}:"
                       f"{(t / 'wchan').read_text()}")
        except OSError:
            continue
    return out


def test_ctrl_c_stops_fast_keeps_what_was_written_and_says_how_to_resume(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    n = 480  # enough that a busy machine cannot finish the run between the check and the Ctrl-C (160 once did:
    # the first commit, at 64 tiles, already held 40% of them)
    for i in range(n):
        (corpus / f"n{i:02}.md").write_text(f"# Note {i}\n\n" + "sourdough starter rye " * 60)
    db = tmp_path / "db"
    proc = start_cli("index", corpus, "--db", db, env=TOY)
    deadline, seen = time.time() + 90, 0
    while time.time() < deadline and proc.poll() is None:
        if (db / "shotdex.json").exists() and (seen := len(source_rows(db))) >= 8:
            break
        time.sleep(0.2)
    # interrupt at once, with the rows just seen as what must be kept
    assert proc.poll() is None, "the run finished before it could be interrupted"
    t0 = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # say where each thread of the run waits, then fail
        where = _threads_of(proc.pid)
        kill_group(proc.pid)
        pytest.fail(f"`shotdex index` did not stop 30 s after Ctrl-C; its threads: {where}")
    stopped = time.perf_counter() - t0
    kill_group(proc.pid)
    assert proc.returncode == 130, (out[-300:], err)
    assert stopped < 2.5, f"took {stopped:.1f}s to stop"
    assert "run the same command again to resume" in err
    _no_traceback(err)
    kept = check_consistent(db)
    assert len(source_rows(db)) >= seen and len(kept) >= seen
    # Sources the journal still names (stopped between their tiles and clearing the journal) are
    # rewritten by the rerun: "updated" where their source row was written, else "added"; every
    # other indexed source is skipped as unchanged.
    journal = db / "pending.json"
    in_flight = set(json.loads(journal.read_text())) if journal.exists() else set()
    indexed = {s for s, r in source_rows(db).items() if r["status"] == "indexed"}
    updated, unchanged = len(indexed & in_flight), len(indexed - in_flight)
    p = run_cli("index", corpus, "--db", db, env=TOY)
    assert p.returncode == 0, p.stderr
    summary = p.stdout.strip().splitlines()[-1]
    assert (f"{n - updated - unchanged} added" in summary and f"{updated} updated" in summary
            and f"{unchanged} unchanged" in summary), (summary, len(in_flight))
    assert len(check_consistent(db)) == n


# ---------------------------------------------------------------------------------- disk full
def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_disk_full_on_a_real_small_filesystem(tmp_path):
    """The db lives on a 24 MB tmpfs; the disk fills during a run: one clear line (no traceback), exit 6;
    after space is freed the db opens with its earlier contents and a rerun finishes the job."""
    fs = tmp_path / "fs"
    if not _mount_tmpfs(fs, "24m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount); the in-process test covers the message")
    try:
        db = fs / "db"
        first = tmp_path / "first"
        first.mkdir()
        (first / "keep.md").write_text("# Harbour log\n\nThe ferry to Svolvær leaves at seven.\n")
        assert run_cli("index", first, "--db", db, env=TOY).returncode == 0
        before = check_consistent(db)
        more = tmp_path / "more"
        more.mkdir()
        rng = random.Random(3)
        for i in range(12):  # noisy pictures compress badly: ~0.5 MB of tiles each
            from PIL import Image

            Image.frombytes("RGB", (400, 400), rng.randbytes(400 * 400 * 3)).save(more / f"noise-{i:02}.png")
        filler = fs / "filler"
        free = shutil.disk_usage(fs).free
        filler.write_bytes(b"\0" * max(0, free - 1_500_000))
        p = run_cli("index", more, "--db", db, env=TOY)
        assert p.returncode == 6, (p.returncode, p.stderr[-2000:])
        _no_traceback(p.stderr)
        assert len(_lines(p.stderr)) == 1 and "disk full" in p.stderr, p.stderr
        filler.unlink()
        after = check_consistent(db)
        for src, ids in before.items():
            assert after[src] == ids
        with shotdex.open(db=db, settings=shotdex.Settings(plugins="toy_embedder")) as idx:
            assert Path(idx.search("ferry to Svolvær", k=1)[0].source).name == "keep.md"
        p = run_cli("index", more, first, "--db", db, env=TOY)
        assert p.returncode == 0, p.stderr[-2000:]
        assert len(check_consistent(db)) == 13
    finally:
        subprocess.run(["umount", "-l", str(fs)], capture_output=True)


@pytest.mark.slow
def test_disk_full_error_from_lance_becomes_one_clear_error(tmp_path, monkeypatch):
    """LanceDB reports ENOSPC as a RuntimeError with 'os error 28': the library raises IndexError_
    (exit 6 in the CLI) and the earlier contents stay readable."""
    from shotdex.errors import IndexError_

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("# Alpha\n\nfirst source\n")
    settings = shotdex.Settings(plugins="toy_embedder", model="toy")
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        idx.add([corpus])
    before = check_consistent(tmp_path / "db")
    (corpus / "b.md").write_text("# Beta\n\nsecond source\n")

    def full(self, *a, **kw):
        raise RuntimeError("lance error: LanceError(IO): Unable to copy data to file: No space left on device (os error 28)")

    from lancedb.merge import LanceMergeInsertBuilder

    monkeypatch.setattr(LanceMergeInsertBuilder, "execute", full)  # every upsert of tiles or sources
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        with pytest.raises(IndexError_, match="disk full") as err:
            idx.add([corpus])
    assert "\n" not in str(err.value) and err.value.exit_code == 6
    monkeypatch.undo()
    assert check_consistent(tmp_path / "db")[str(corpus / "a.md")] == before[str(corpus / "a.md")]
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        rep = idx.add([corpus])
    assert [Path(s).name for s in rep.added] == ["b.md"] and len(check_consistent(tmp_path / "db")) == 2


# -------------------------------------------------------------------------------- concurrency
_SEARCHER = r"""
import json, sys, time, os
import shotdex
db, out, stop = sys.argv[1:4]
idx = shotdex.open(db=db, settings=shotdex.Settings(plugins="toy_embedder"))
n = 0
with open(out, "w") as f:
    while not os.path.exists(stop):
        try:
            hits = idx.search("lighthouse keeper logged gale edition", k=300, tiles=True)
            f.write(json.dumps({"ids": [[h.source, h.tile_id] for h in hits]}) + "\n")
        except Exception as e:
            f.write(json.dumps({"error": f"{type(e).__name__}: {e}"}) + "\n")
        f.flush()
        n += 1
"""


@pytest.mark.slow
def test_searches_during_a_1000_source_run_never_fail_nor_see_a_half_replaced_source(tmp_path):
    """A searcher process loops over per-tile searches while `shotdex index` adds 1,000 small sources
    (tiny PNG charts: no browser time) and replaces 10 multi-tile journals with new versions. No search
    fails; in every result set each journal's tiles are all of its old version or all of its new one.
    A second writer started meanwhile is refused at once with a clear message (exit 5)."""
    from PIL import Image

    corpus = tmp_path / "c"
    corpus.mkdir()
    journals = [corpus / f"n{100 * i:04}-journal.md" for i in range(10)]
    for j in journals:
        j.write_text(_story(j.stem, "old", 40))
    db = tmp_path / "db"
    assert run_cli("index", corpus, "--db", db, env=TOY).returncode == 0
    old_ids = {i for ids in check_consistent(db).values() for i in ids}
    assert len(old_ids) >= 20
    for j in journals:
        j.write_text(_story(j.stem, "new", 40))
    for i in range(1000):
        Image.new("RGB", (24 + i % 50, 16), (i % 256, (7 * i) % 256, 90)).save(corpus / f"n{i:04}.png")

    out, stop = tmp_path / "searches.jsonl", tmp_path / "stop"
    searcher = subprocess.Popen([sys.executable, "-c", _SEARCHER, str(db), str(out), str(stop)], env=cli_env())
    time.sleep(3)
    writer = start_cli("index", corpus, "--db", db, env=TOY)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (db / ".write.lock").read_text().strip() == str(writer.pid):
            time.sleep(0.1)
        t0 = time.perf_counter()
        second = run_cli("index", corpus, "--db", db, env=TOY, timeout=60)
        refused_in = time.perf_counter() - t0
        _, err = writer.communicate(timeout=400)
    finally:
        stop.write_text("")
        searcher.wait(timeout=60)
        kill_group(writer.pid)
    assert writer.returncode == 0, err[-2000:]
    assert second.returncode == 5, second.stderr
    assert "being written" in second.stderr and len(_lines(second.stderr)) == 1
    assert refused_in < 15
    final = check_consistent(db)
    assert len(final) == 1010
    new_ids = {i for j in journals for i in final[str(j)]}
    results = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors[:3]
    assert len(results) >= 20, len(results)
    journal_names = {str(j) for j in journals}
    for r in results:
        versions: dict[str, set] = {}
        for src, tid in r["ids"]:
            if src in journal_names:
                v = "old" if tid in old_ids else "new" if tid in new_ids else "unknown"
                versions.setdefault(src, set()).add(v)
        for src, vs in versions.items():
            assert vs in ({"old"}, {"new"}), (src, vs)
    assert any(any(tid in new_ids for _, tid in r["ids"]) for r in results)


# ------------------------------------------------------------------------------- bombs (issue 9)
_MEASURED = (
    "import json, os, resource, signal, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)\n"
    "try:\n"
    "    out, err = p.communicate(timeout=float(sys.argv[1]))\n"
    "except subprocess.TimeoutExpired:\n"
    "    os.killpg(p.pid, signal.SIGKILL)\n"
    "    out, err = p.communicate()\n"
    "took = time.perf_counter() - t\n"
    "print(json.dumps([p.returncode, took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, err, out]))\n"
)


def run_measured(*args, env=None, limit_s: float = 60) -> tuple[int, float, float, str]:
    """`shotdex ARGS` in a fresh intermediate process: (exit code, seconds, peak RSS in MB of the
    largest process of the run, stderr). Killed (process group) after limit_s."""
    p = subprocess.run([sys.executable, "-c", _MEASURED, str(limit_s), *SHOTDEX_CMD, *map(str, args)],
                       capture_output=True, text=True, env=cli_env(env), cwd=badcorpus.ROOT, timeout=limit_s + 60)
    rc, took, peak_mb, err, _ = json.loads(p.stdout)
    return rc, took, peak_mb, err


SHOTDEX_CMD = [sys.executable, "-m", "shotdex.cli"]
BOMBS = {
    "yaml-billion-laughs": ("laughs.chart.yaml", lambda p: p.write_text(badcorpus.billion_laughs_yaml()), "alias"),
    "xlsx-sheet-1.1GB": ("sheet-bomb.xlsx", lambda p: badcorpus.xlsx_bomb(p, inflated_mb=1100), "bomb"),
    "xlsx-shared-strings": ("strings-bomb.xlsx", lambda p: badcorpus.xlsx_bomb(p, inflated_mb=600, part="strings"),
                            "bomb"),
    "json-nested-100k": ("deep.json", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested"),
    "png-text-chunk": ("text-chunk.png", lambda p: p.write_bytes(badcorpus.png_text_bomb()), "text chunk"),
}


@pytest.mark.parametrize("bomb", [pytest.param(b, marks=pytest.mark.slow) if b.startswith("xlsx") else b for b in BOMBS])
def test_bombs_fail_in_bounded_time_and_memory_and_the_run_goes_on(tmp_path, bomb):
    """Each bomb: one 'failed:' line naming the file and what is wrong in words, in < 30 s and < 1 GB
    peak for the whole run (largest process), and the good file beside it is rendered."""
    name, make, word = BOMBS[bomb]
    folder = tmp_path / "in"
    folder.mkdir()
    make(folder / name)
    (folder / "good.md").write_text("# Good note\n\nStill rendered after the bomb.\n")
    rc, took, peak_mb, err = run_measured("render", folder, "--out", tmp_path / "out", limit_s=90)
    assert took < 30, f"{bomb}: {took:.0f} s"
    assert peak_mb < 1024, f"{bomb}: peak {peak_mb:.0f} MB"
    assert rc == 1, err
    _no_traceback(err)
    lines = _lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"shotdex: failed: {folder / name}: "), lines
    assert word in lines[0].lower() and "Error" not in lines[0], lines
    manifest = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(ln)["source"] for ln in manifest] == [str(folder / "good.md")]


@pytest.mark.slow
def test_render_of_a_long_text_is_bounded_per_tile_and_streams_its_tiles_to_disk(tmp_path):
    """`shotdex render` of a ~250-tile text under a 4 s time limit: the limit bounds the making of each
    tile, not the whole source (about 25 s here; it failed with 'timed out' before), and each tile goes
    to disk as it is made: the run's largest process stays far below the ~0.9 GB that holding all the
    tiles took."""
    src, out = tmp_path / "long.txt", tmp_path / "out"
    src.write_text("\n".join(f"line {i} of a long log about tides and harbours" for i in range(8000)))
    rc, _, peak_mb, err = run_measured("render", src, "--out", out, env={"SHOTDEX_RENDER_TIMEOUT_S": "4"}, limit_s=400)
    assert rc == 0, err
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) > 150 and sorted(p.name for p in out.glob("*.png")) == sorted(x["file"] for x in lines)
    assert "line 7999 of" in lines[-1]["text"]
    assert peak_mb < 500, f"peak {peak_mb:.0f} MB"


@pytest.mark.slow
def test_search_during_the_first_seconds_of_a_fresh_index_sees_an_empty_index(tmp_path):
    """A search started while a fresh `shotdex index` holds the writer lock but has not written the
    index's metadata yet waits for it and answers (exit 0), instead of 'no index at ...' (exit 2)."""
    corpus = tmp_path / "notes"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"note{i}.md").write_text(f"# Note {i}\n\nThe lighthouse keeper counted {i} gulls.\n")
    db = tmp_path / "db"
    writer = start_cli("index", corpus, "--db", db, env=TOY)
    try:
        deadline = time.monotonic() + 60
        while not (db / ".write.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (db / ".write.lock").exists(), "the writer never took its lock"
        early = not (db / "shotdex.json").exists()
        p = run_cli("search", "lighthouse gulls", "--db", db, "--json", env=TOY, timeout=120)
        assert early, "the writer wrote its metadata before the search started: nothing was tested"
        assert p.returncode == 0, p.stderr
        assert "no index" not in p.stderr
        writer.wait(timeout=300)
        assert writer.returncode == 0
    finally:
        kill_group(writer.pid)
        writer.wait()


@pytest.mark.slow
def test_snippets_do_not_depend_on_the_hash_seed():
    """Equal-length query words found far apart: the snippet is the same under every PYTHONHASHSEED."""
    text = "alpha " + "filler words here " * 40 + "omega " + "more filler " * 40
    code = f"from shotdex.index.search import snippet; print(snippet({text!r}, 'omega alpha zebra'))"
    seen = set()
    for seed in range(12):
        env = dict(cli_env(), PYTHONHASHSEED=str(seed))
        seen.add(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                cwd=badcorpus.ROOT, check=True).stdout)
    assert len(seen) == 1, seen


@pytest.mark.slow
def test_names_with_bytes_that_are_not_utf8_or_with_newlines_are_indexed_losslessly(tmp_path):
    """A file named b'caf\\xe9-menu.md' is indexed, found, and named losslessly: the library gives back the
    path Python opens (its byte as a surrogate escape), the CLI prints its bytes, `remove` drops it; a
    bad file with a newline in its name gets one escaped 'failed' line; the other sources are indexed,
    including one with a newline in its name. Twice: a rerun finds them unchanged."""
    import shotdex

    corpus = tmp_path / "names"
    corpus.mkdir()
    raw = os.path.join(os.fsencode(corpus), b"caf\xe9-menu.md")
    with open(raw, "wb") as f:
        f.write(b"# Menu\n\ncroissant and coffee\n")
    (corpus / "bad\nname.csv").write_bytes(os.urandom(2048) + b"\0")
    (corpus / "new\nline.md").write_text("# Two-line name\n\nthe otter slept on the pier\n")
    (corpus / "good.md").write_text("# Good\n\nthe heron waited by the weir\n")
    db = tmp_path / "db"
    name = os.fsdecode(raw)  # 'caf\udce9-menu.md': what os.listdir gives and open() takes
    for run in range(2):
        p = run_cli("index", corpus, "--db", db, env=TOY)
        assert p.returncode == 1, p.stderr
        _no_traceback(p.stderr)
        lines = _lines(p.stderr)
        nl = [ln for ln in lines if f"{corpus}/bad\\nname.csv: " in ln]
        assert len(nl) == 1 and nl[0].startswith("shotdex: failed: "), lines
        assert len(lines) == 1, lines
        rows = source_rows(db)
        for src in (str(corpus / "good.md"), str(corpus / "new\nline.md"), name):
            assert rows[src]["status"] == "indexed", sorted(rows)
        assert ("3 unchanged" if run else "3 added") in p.stdout, p.stdout
    idx = shotdex.open(db=db, settings=shotdex.Settings(plugins="toy_embedder", model="toy"))
    hit = idx.search("croissant coffee", k=1)[0]
    assert hit.source == name and os.fsencode(hit.source) == raw
    with open(hit.source, "rb") as f:  # the name the library gives back opens the file
        assert b"croissant" in f.read()
    p = subprocess.run([*SHOTDEX_CMD, "search", "croissant coffee", "--db", str(db), "--paths", "-k", "1"],
                       capture_output=True, env=cli_env(TOY), cwd=badcorpus.ROOT)
    assert p.returncode == 0 and p.stdout.strip() == raw, p  # its bytes, as `ls` would print them
    p = subprocess.run([*SHOTDEX_CMD, "search", "croissant coffee", "--db", str(db), "--json", "-k", "1"],
                       capture_output=True, env=cli_env(TOY), cwd=badcorpus.ROOT)
    hit_json = json.loads(p.stdout.decode("utf-8", "surrogateescape"))
    assert p.returncode == 0 and hit_json["source"] == name  # read back as Python reads such names
    assert idx.remove([hit.source]) == [name]
    assert name not in source_rows(db)
    assert all(h.source != name for h in idx.search("croissant coffee", k=3))
    idx.close()


@pytest.mark.slow
def test_utf16_tables_and_parquet_structs_render_their_values(tmp_path):
    """UTF-16 CSV/TSV (with and without BOM) are read as text, and Parquet structs holding a timestamp,
    a decimal and bytes are shown: the values appear in the tiles' text."""
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "bom.csv").write_bytes(badcorpus.UTF16_TABLE.encode("utf-16"))
    (folder / "nobom.tsv").write_bytes(badcorpus.UTF16_TABLE.encode("utf-16-le"))
    (folder / "be.csv").write_bytes(badcorpus.UTF16_TABLE.encode("utf-16-be"))
    badcorpus.struct_parquet(folder / "struct.parquet")
    p = run_cli("render", folder, "--out", tmp_path / "out", "--json")
    assert p.returncode == 0, p.stderr
    texts = {Path(t["source"]).name: t["text"] for t in map(json.loads, p.stdout.splitlines())}
    for name in ("bom.csv", "nobom.tsv", "be.csv"):
        assert "Tromsø 77000 Bodø 53000" in texts[name], texts[name]
        assert "city population" in texts[name]
    assert '"when":"2024-05-01T12:30:00","price":"12.50","blob":"<3 bytes: 00 01 02>"' in texts["struct.parquet"]
    assert "<2 bytes: ff fe>" in texts["struct.parquet"]


_LEPTONICA = r"""
import ctypes, glob, os, sys
import tesserocr
from shotdex.embed.ocr import OcrPool
from PIL import Image
pool = OcrPool(workers=1, engine="api")
pool.read([Image.new("RGB", (200, 60), "white")])
libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(tesserocr.__file__)), "tesserocr.libs", "liblept*"))
lib = ctypes.CDLL(libs[0])
lib.pixScanForForeground.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
lib.boxClipToRectangle.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
lib.boxClipToRectangle.restype = ctypes.c_void_p
lib.pixScanForForeground(None, None, 0, None)  # what Tesseract hits on odd tiles: Leptonica complains
lib.boxClipToRectangle(None, 10, 10)
print("ran")
"""


def test_leptonica_prints_nothing_on_stderr():
    """Leptonica's own 'Error in pixScanForForeground' / 'boxClipToRectangle' lines (written to fd 2
    from inside Tesseract) are switched off once the reader's OCR engine is up."""
    from shotdex.embed.ocr import choose_engine

    if choose_engine() != "api":
        pytest.skip("tesserocr not installed: the tesseract program's stderr is captured anyway")
    p = subprocess.run([sys.executable, "-c", _LEPTONICA], capture_output=True, text=True, env=cli_env(),
                       cwd=badcorpus.ROOT, timeout=120)
    assert p.stdout.strip() == "ran", p.stderr
    assert p.stderr == "", p.stderr


def _big_json(path: Path, mb: int = 100) -> None:
    """A valid JSON table of ~mb MB of small records: under the size cap, so only the budget bounds it."""
    record = '{"city":"Tromsø","population":77000,"note":"by the fjord"},'
    block = record * ((1 << 20) // len(record) + 1)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for _ in range(mb):
            f.write(block)
        f.write(record[:-1] + "]")


@pytest.mark.parametrize("limit", ["memory", pytest.param("time", marks=pytest.mark.slow)])
def test_reader_budget_stops_a_python_reader_that_passes_every_check(tmp_path, limit):
    """A 100 MB JSON table passes the format checks; its Python reader runs in the readers' child
    process, which holds it to a memory cap (SHOTDEX_READER_MEMORY_MB) and a deadline (half of
    SHOTDEX_RENDER_TIMEOUT_S): one line naming the limit, the file beside it rendered, the run bounded."""
    folder = tmp_path / "in"
    folder.mkdir()
    _big_json(folder / "big.json")
    (folder / "good.md").write_text("# Good note\n\nStill rendered.\n")
    env = {"SHOTDEX_READER_MEMORY_MB": "400"} if limit == "memory" else {"SHOTDEX_RENDER_TIMEOUT_S": "4"}
    rc, took, peak_mb, err = run_measured("render", folder, "--out", tmp_path / "out", env=env, limit_s=90)
    assert rc == 1, err
    _no_traceback(err)
    lines = _lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"shotdex: failed: {folder / 'big.json'}: "), lines
    # time: the reader's deadline (half the render limit) names "too long"; where the machine reads the
    # file within it, the page's own render limit stops the huge table instead ("timed out after 4 s")
    assert ("memory" in lines[0]) if limit == "memory" else ("too long" in lines[0] or "timed out after 4 s" in lines[0]), lines
    assert took < 30 and peak_mb < 1024, (took, peak_mb)
    manifest = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(ln)["source"] for ln in manifest] == [str(folder / "good.md")]
