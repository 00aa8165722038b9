"""Misuse as a new user meets it (issue 10): each mistake is one line on stderr with the documented exit
code, never a traceback and never a silent exit 0. Real processes, real Chromium, real LanceDB on disk;
the toy embedder keeps OCR out of it."""

import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import SAMPLES, TOY, run


def one_line(p, code):
    assert p.returncode == code, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr.startswith("shotdex: error: "), p.stderr
    return p.stderr


def pdf(path: Path, pages: int) -> Path:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(612, 792)
    doc.save(str(path))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    c = tmp_path_factory.mktemp("c") / "docs"
    c.mkdir()
    shutil.copy(SAMPLES / "tables" / "nordic_capitals.csv", c)
    shutil.copy(SAMPLES / "notes" / "sourdough-baking.md", c)
    (c / "telescope.md").write_text("# Telescope\n\nThe telescope mirror was ground by hand.\n")
    (c / ".hidden.md").write_text("# hidden")
    pdf(c / "three.pdf", 3)
    return c


@pytest.fixture(scope="module")
def db(folder, tmp_path_factory):
    d = tmp_path_factory.mktemp("db") / "db"
    run("index", folder, "--db", d, env=TOY, check=0)
    return d


# -- tracebacks where one line is promised ----------------------------------------------------------
@pytest.mark.parametrize("cmd", ["index", "remove", "status", "ls"])
@pytest.mark.parametrize("target", ["afile", "/dev/null", "/proc/nope"])
def test_unusable_db_is_one_line(cmd, target, tmp_path, folder):
    db = tmp_path / "afile.txt" if target == "afile" else Path(target)
    if target == "afile":
        db.write_text("not an index")
    args = {"index": ["index", folder], "remove": ["remove", folder], "status": ["status"], "ls": ["ls"]}[cmd]
    p = run(*args, "--db", db, env=TOY)
    missing = target == "/proc/nope" and cmd != "index"  # nothing there to read
    msg = one_line(p, 2 if missing else 6)
    assert str(db) in msg
    assert "no index at" in msg or "cannot create" in msg
    if target == "afile":
        assert db.read_text() == "not an index"


def test_render_out_is_a_file(tmp_path, folder):
    out = tmp_path / "afile.txt"
    out.write_text("x")
    msg = one_line(run("render", folder / "telescope.md", "--out", out), 2)
    assert "--out" in msg and "not a folder" in msg


@pytest.mark.slow
def test_show_without_or_with_unknown_ending(tmp_path, db):
    sheet = tmp_path / "sheet"
    p = run("search", "telescope", "--db", db, "--show", sheet, env=TOY, check=0)
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", p.stderr
    msg = one_line(run("search", "telescope", "--db", db, "--show", tmp_path / "s.xyz", env=TOY), 2)
    assert ".xyz" in msg and ".png" in msg


@pytest.mark.parametrize("var, value", [("SHOTDEX_TILE_WIDTH", "abc"), ("SHOTDEX_MAX_TILES", "0"), ("SHOTDEX_JS", "perhaps")])
def test_bad_environment_setting_is_one_line(var, value):
    msg = one_line(run("models", env={var: value}), 2)
    assert var in msg or var[len("SHOTDEX_"):].lower() in msg


@pytest.mark.parametrize("args, field", [
    (["index", "{folder}", "--db", "{tmp}/db", "--max-tiles", "0"], "max_tiles"),
    (["render", "{folder}", "--out", "{tmp}/o", "--tile-width", "0"], "tile_width"),
])
def test_out_of_range_options_name_the_range(args, field, tmp_path, folder):
    args = [a.format(folder=folder, tmp=tmp_path) for a in args]
    msg = one_line(run(*args, env=TOY), 2)
    assert field in msg and " from " in msg and " to " in msg
    assert not (tmp_path / "db").exists() and not (tmp_path / "o").exists()


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_out_of_range_names_the_range(port, db):
    msg = one_line(run("serve", "--db", db, "--port", port, env=TOY), 2)
    assert "port" in msg and "from 0 to 65535" in msg and port in msg


def test_removing_what_is_not_in_the_index_says_so_and_removes_the_rest(tmp_path, folder):
    db = tmp_path / "db"
    shutil.copytree(folder, tmp_path / "c")
    run("index", tmp_path / "c", "--db", db, env=TOY, check=0)
    p = run("remove", tmp_path / "nothing.md", tmp_path / "c" / "telescope.md", "--db", db, "--json", check=1)
    assert p.stderr == f"shotdex: not in the index: {tmp_path / 'nothing.md'}\n", p.stderr
    out = json.loads(p.stdout)
    assert out["removed"] == [str(tmp_path / "c" / "telescope.md")] and out["not_in_index"] == [str(tmp_path / "nothing.md")]
    p = run("remove", tmp_path / "c" / "telescope.md", "--db", db, check=1)  # gone already
    assert "removed 0 sources" in p.stdout and "not in the index" in p.stderr
    assert run("remove", tmp_path / "c", "--db", db, check=0).stdout.startswith("removed 3 sources")


def test_library_raises_typed_errors_naming_parameters(tmp_path, db):
    import shotdex
    from shotdex import BadIndex, QueryError, Settings, SettingsError, ShotdexError

    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    with pytest.raises(BadIndex):
        shotdex.open(db=afile, settings=Settings(plugins="toy_embedder", model="toy")).add([SAMPLES / "notes"])
    with pytest.raises(BadIndex):
        shotdex.open(db="/proc/nope/db", settings=Settings(plugins="toy_embedder", model="toy")).add([SAMPLES / "notes"])
    for bad in (dict(tile_width="abc"), dict(tile_width=0), dict(max_tiles=0), dict(js="yes"), dict(tile_overlap=800)):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings(**bad)
    idx = shotdex.open(db=db, settings=Settings(plugins="toy_embedder", model="toy"))
    for kw in (dict(k="5"), dict(k=0), dict(kind="photo"), dict(kind=["pdf", 3])):
        with pytest.raises(QueryError) as err:
            idx.search("telescope", **kw)
        assert "--" not in str(err.value)
    with pytest.raises(QueryError) as err:
        idx.search("telescope", image="x.png")
    assert "--" not in str(err.value)
    with pytest.raises(QueryError, match="paths must be"):
        idx.remove(5)
    for call in (idx.add, lambda p: shotdex.render_tiles(p, db.parent / "tiles")):  # None, as from a failed lookup
        with pytest.raises(QueryError, match="paths must be a path, a URL or a list of them, not NoneType"):
            call(None)
    from shotdex.serve import start

    with pytest.raises(SettingsError, match="from 0 to 65535"):
        start(idx, port=70000)
    assert issubclass(SettingsError, ShotdexError) and shotdex.IndexError_ is BadIndex
    assert repr(idx) == f"<shotdex.Index {str(db)!r} model='toy'>"


# -- mistakes that exited 0 silently ---------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["index", "render"])
@pytest.mark.parametrize("source", ["/no/such/path", "ftp://example.org/a.pdf"])
def test_missing_path_or_other_scheme_is_exit_2_and_does_nothing(cmd, source, tmp_path, folder):
    out = ["--db", tmp_path / "db"] if cmd == "index" else ["--out", tmp_path / "o"]
    msg = one_line(run(cmd, folder / "telescope.md", source, *out, env=TOY), 2)
    assert source in msg
    assert not (tmp_path / "db").exists() and not (tmp_path / "o").exists()


def test_kinds_are_validated_and_take_comma_lists_in_any_case(db):
    msg = one_line(run("search", "telescope", "--db", db, "--kind", "photo", env=TOY), 2)
    assert "photo" in msg and all(k in msg for k in ("text", "table", "chart", "web", "pdf", "office", "image"))
    p = run("search", "telescope", "--db", db, "--kind", "PDF,Text", "--json", env=TOY, check=0)
    kinds = {json.loads(x)["kind"] for x in p.stdout.splitlines()}
    assert kinds == {"pdf", "text"}


@pytest.mark.parametrize("args", [["status"], ["remove", "x.md"], ["reembed", "-m", "toy"], ["ls"]])
def test_reading_commands_never_create_a_db(args, tmp_path):
    db = tmp_path / "nothing"
    msg = one_line(run(*args, "--db", db, env=TOY), 2)
    assert f"no index at {db}" in msg and "shotdex index" in msg
    assert not db.exists()


# -- wrong or confusing output ---------------------------------------------------------------------
@pytest.mark.slow
def test_people_count_pages_and_tiles_from_1_within_the_page(db):
    p = run("search", "x", "--db", db, "--where", "page = 2", "--kind", "pdf", env=TOY, check=0)
    assert "three.pdf p3 t1" in p.stdout, p.stdout
    hit = json.loads(run("search", "x", "--db", db, "--where", "page = 2", "--json", env=TOY, check=0).stdout.splitlines()[0])
    assert (hit["page"], hit["tile"]) == (2, 2)  # machines: from 0, tile across the source


def test_model_mismatch_shows_what_differs_and_suggests_what_works(tmp_path, folder):
    db = tmp_path / "db"
    run("index", folder / "telescope.md", "--db", db, env=TOY, check=0)
    meta = json.loads((db / "shotdex.json").read_text())
    meta["fingerprint"] = meta["fingerprint"].replace("salt:", "salt:older")
    (db / "shotdex.json").write_text(json.dumps(meta))
    msg = one_line(run("search", "telescope", "--db", db, env=TOY), 4)
    assert "salt:older" in msg and "'salt:'" in msg
    assert "--model toy," not in msg and "pass --model" not in msg
    assert f"shotdex reembed --db {db} --model toy" in msg


@pytest.mark.slow
def test_one_word_each_unchanged_and_ignored(tmp_path, folder, db):
    rep = json.loads(run("index", folder, "--db", db, "--json", env=TOY, check=0).stdout)
    assert "skipped" not in rep and len(rep["unchanged"]) == 4 and len(rep["ignored"]) == 1
    p = run("render", folder / "telescope.md", folder / ".hidden.md", folder, "--out", tmp_path / "o", "-v", check=0)
    assert "skipped" not in p.stdout + p.stderr
    assert "1 ignored" in p.stdout and "ignored: " in p.stderr and ".hidden.md" in p.stderr


@pytest.mark.slow
def test_file_url_works_as_a_source_and_a_query(tmp_path, folder):
    db = tmp_path / "db"
    url = (folder / "telescope.md").as_uri()
    assert run("index", url, "--db", db, env=TOY, check=0).stdout.startswith("1 added")
    p = run("search", "--url", url, "--db", db, "--paths", env=TOY, check=0)
    assert p.stdout.splitlines() == [str(folder / "telescope.md")]


def test_eval_help_keeps_its_brackets():
    p = run("eval", "--help", env={"COLUMNS": "200"}, check=0)
    assert "[paths relative to --corpus]" in p.stdout


def test_models_says_hf_needs_weights():
    line = next(ln for ln in run("models", check=0).stdout.splitlines() if ln.startswith("hf "))
    assert "needs weights (a hub id reachable, or a local folder)" in line and "runs here: yes" not in line


@pytest.mark.slow
def test_plurals_and_where_columns(tmp_path, folder, db):
    p = run("render", folder / "telescope.md", "--out", tmp_path / "o", check=0)
    assert p.stdout.startswith("1 source rendered, 1 tile,")
    msg = one_line(run("search", "x", "--db", db, "--where", "nope = 1", env=TOY), 2)
    assert msg.rstrip().endswith("id, words") and "true_text" in msg


@pytest.mark.parametrize("where", ["page = 'a'", "kind = 3", "page >"])
def test_a_where_filter_of_the_wrong_type_or_syntax_is_one_line(db, where):
    """A type mismatch is only found when LanceDB resolves the filter: still the caller's mistake (exit 2)."""
    msg = one_line(run("search", "x", "--db", db, "--where", where, env=TOY), 2)
    assert "bad where filter" in msg and where in msg and msg.rstrip().endswith("id, words")


def _pty(args, env, cols=80):
    import fcntl
    import pty
    import struct
    import termios

    m, s = pty.openpty()
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    e = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parent), **env)
    e.pop("COLUMNS", None)
    p = subprocess.Popen([sys.executable, "-m", "shotdex.cli", *map(str, args)], stdin=s, stdout=s, stderr=s, env=e)
    os.close(s)
    out = b""
    while select.select([m], [], [], 120)[0]:
        try:
            chunk = os.read(m, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=120)
    os.close(m)
    return p.returncode, out.decode(errors="replace")


def test_80_columns_keep_a_readable_snippet(db):
    rc, out = _pty(["search", "telescope mirror", "--db", db, "--kind", "text"], TOY)
    assert rc == 0
    row = next(ln for ln in out.splitlines() if "telescope.md" in ln)
    assert "telescope.md Telescope The" in row, row  # the snippet column: ~28 characters, not 7


@pytest.mark.slow
def test_no_color_progress_is_not_blank(tmp_path, folder):
    rc, out = _pty(["index", folder, "--db", tmp_path / "db"], dict(TOY, NO_COLOR="1"))
    assert rc == 0 and "100%" in out, out[-2000:]


# -- what users expect ------------------------------------------------------------------------------
def test_version_and_short_help():
    import shotdex

    assert run("--version", check=0).stdout.strip() == f"shotdex {shotdex.__version__}"
    assert "--limit" in run("search", "-h", check=0).stdout
    assert "--show-completion" in run("-h", check=0).stdout


@pytest.mark.slow
def test_quiet_and_verbose(tmp_path, folder):
    p = run("index", folder, "--db", tmp_path / "db", "-q", env=TOY, check=0)
    assert p.stdout == "" and p.stderr == ""
    p = run("index", folder, "--db", tmp_path / "db2", "-v", env=TOY, check=0)
    assert "ignored: " in p.stderr and ".hidden.md: hidden" in p.stderr
    # one line per commit of the pipeline, naming how many sources and tiles it wrote and how long it took
    import re

    lines = re.findall(r"indexed (\d+) sources?, (\d+) tiles? in \d+\.\ds", p.stderr)
    assert lines and sum(int(a) for a, _ in lines) == 4 and sum(int(b) for _, b in lines) == 6, p.stderr


@pytest.mark.slow
def test_limit_paths_ls_and_dry_run(tmp_path, folder):
    db = tmp_path / "db"
    run("index", folder, "--db", db, env=TOY, check=0)
    p = run("search", "telescope", "--db", db, "--limit", "2", "--paths", env=TOY, check=0)
    assert p.stdout.splitlines() == [str(folder / "telescope.md"), p.stdout.splitlines()[1]] and len(p.stdout.splitlines()) == 2
    ls = run("ls", "--db", db, check=0).stdout.splitlines()
    assert len(ls) == 4 and all(ln.startswith("indexed ") for ln in ls)
    assert any("pdf" in ln and " 3 " in ln and "three.pdf" in ln for ln in ls)
    rows = [json.loads(x) for x in run("ls", "--db", db, "--json", check=0).stdout.splitlines()]
    assert {Path(r["source"]).name: r["tiles"] for r in rows}["three.pdf"] == 3
    dry = run("remove", folder / "three.pdf", "--db", db, "--dry-run", "--json", check=0)
    assert json.loads(dry.stdout) == {"removed": [], "would_remove": [str(folder / "three.pdf")], "dry_run": True,
                                  "not_in_index": []}
    assert len(run("ls", "--db", db, check=0).stdout.splitlines()) == 4
    gone = run("remove", folder / "three.pdf", "--db", db, "--json", check=0)
    assert json.loads(gone.stdout)["removed"] == [str(folder / "three.pdf")]
    assert len(run("ls", "--db", db, check=0).stdout.splitlines()) == 3
    p = run("reembed", "--db", db, "-m", "toy:new", "--json", env=TOY, check=0)
    assert json.loads(p.stdout) == {"tiles": 3, "model": "toy:new"}


@pytest.mark.slow
def test_deleted_file_is_reported_with_how_to_prune(tmp_path, folder):
    c = tmp_path / "c"
    shutil.copytree(folder, c)
    db = tmp_path / "db"
    run("index", c, "--db", db, env=TOY, check=0)
    (c / "telescope.md").unlink()
    p = run("index", c, "--db", db, env=TOY, check=0)
    assert "1 indexed source under these folders no longer exists" in p.stderr and "--prune" in p.stderr
    assert "gone" in run("ls", "--db", db, check=0).stdout
    p = run("index", c, "--db", db, "--prune", env=TOY, check=0)
    assert "1 pruned" in p.stdout and "no longer" not in p.stderr


@pytest.mark.slow
def test_long_pdf_is_indexed_whole_and_the_cap_says_how_to_lift_it(tmp_path):
    long = pdf(tmp_path / "long.pdf", 35)
    rep = json.loads(run("index", long, "--db", tmp_path / "db", "--json", env=TOY, check=0).stdout)
    assert rep["tiles"] == 35 and not rep["warnings"]
    p = run("index", long, "--db", tmp_path / "db2", "--max-tiles", "4", env=TOY, check=0)
    assert "max_tiles=4" in p.stderr and "--max-tiles" in p.stderr and "SHOTDEX_MAX_TILES" in p.stderr


@pytest.mark.slow
def test_unchanged_url_is_unchanged_on_reindex(tmp_path):
    from reliability_util import CountingServer

    srv = CountingServer()
    try:
        db = tmp_path / "db"
        url = f"{srv.base}/page.html"
        assert run("index", url, "--db", db, env=TOY, check=0).stdout.startswith("1 added, 0 updated, 0 unchanged")
        rep = json.loads(run("index", url, "--db", db, "--json", env=TOY, check=0).stdout)
        assert (rep["added"], rep["updated"], rep["unchanged"], rep["tiles"]) == ([], [], [url], 0)
    finally:
        srv.close()


def test_model_that_cannot_load_is_one_line_and_leaves_no_folder(tmp_path):
    db = tmp_path / "db"
    msg = one_line(run("index", SAMPLES / "notes", "--db", db, "-m", f"hf:{tmp_path / 'no-weights'}"), 3)
    assert "no-weights" in msg and not db.exists()


@pytest.mark.slow
def test_long_pdf_memory_is_bounded(tmp_path):
    """Tiles stream from the renderer (a PDF page is ~5 MB decoded): 400 pages in about the memory of 10."""
    # VmHWM: the peak of this process since exec (ru_maxrss keeps the parent's across fork and exec)
    code = (
        "import resource, sys, shotdex\n"
        "idx = shotdex.open(db=sys.argv[2], settings=shotdex.Settings(plugins='toy_embedder', model='toy'))\n"
        "rep = idx.add([sys.argv[1]])\n"
        "print(rep.tiles, int(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:'))) // 1024)\n"
    )
    long = pdf(tmp_path / "long.pdf", 400)
    env = dict(os.environ, LANCEDB_LOG="error", PYTHONPATH=f"{Path(__file__).parents[1]}:{Path(__file__).parent}")
    p = subprocess.run([sys.executable, "-c", code, long, tmp_path / "db"], capture_output=True, text=True, env=env,
                       timeout=600, check=True)
    tiles, peak_mb = map(int, p.stdout.split())
    assert tiles == 400
    short = pdf(tmp_path / "short.pdf", 10)
    q = subprocess.run([sys.executable, "-c", code, short, tmp_path / "db10"], capture_output=True, text=True, env=env,
                       timeout=600, check=True)
    tiles10, peak10 = map(int, q.stdout.split())
    assert tiles10 == 10
    # held whole, 390 more pages would take ~2 GB more (measured before streaming: 2,378 MB for 400)
    assert peak_mb < peak10 + 300, f"peak RSS {peak_mb} MB for 400 pages, {peak10} MB for 10"


def test_eval_of_a_corpus_that_holds_no_relevant_source_is_an_error_not_zeros(tmp_path, folder):
    """A mistyped --corpus or an --include that keeps nothing used to print scores of 0 over 0 queries and
    exit 0; now each is one line and exit 2, and the right corpus still scores."""
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "a", "query": "telescope mirror ground by hand", "relevant": ["telescope.md"]}) + "\n")
    for args, msg in (([tmp_path / "nope"], "does not exist"), ([q], "is not a folder"),
                      ([folder, "--include", "*.xlsx"], "none of the 1 queries' relevant sources")):
        err = one_line(run("eval", q, "--corpus", *args, "--db", tmp_path / "db", env=TOY), 2)
        assert msg in err, err
    p = run("eval", q, "--corpus", folder, "--db", tmp_path / "db", "--json", env=TOY, check=0)
    assert json.loads(p.stdout)["queries"] == 1
