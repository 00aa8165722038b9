"""The shotdex command as a user runs it: real processes, real Chromium, real LanceDB on disk."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHOTDEX = [sys.executable, "-m", "shotdex.cli"]


def run(*args, env=None, check=None, timeout=600):
    e = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parent))
    e.update(env or {})
    p = subprocess.run([*SHOTDEX, *map(str, args)], capture_output=True, text=True, env=e, timeout=timeout, cwd=ROOT)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


TOY = {"SHOTDEX_PLUGINS": "toy_embedder", "SHOTDEX_MODEL": "toy"}


def test_import_and_help_load_no_heavy_modules():
    code = (
        "import sys, shotdex, shotdex.cli\n"
        "from typer.testing import CliRunner\n"
        "r = CliRunner().invoke(shotdex.cli.app, ['--help'])\n"
        "assert r.exit_code == 0 and 'search' in r.output, r.output\n"
        "heavy = [m for m in ('torch', 'transformers', 'playwright', 'lancedb', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.fixture
def mixed(tmp_path):
    c = tmp_path / "in put ü"
    c.mkdir()
    shutil.copy(SAMPLES / "tables" / "nordic_capitals.csv", c)
    shutil.copy(SAMPLES / "notes" / "sourdough-baking.md", c)
    (c / "junk.csv").write_bytes(bytes(range(256)) * 40)
    (c / ".hidden.md").write_text("# hidden")
    (c / "notes.xyz").write_bytes(b"\x00\x01 binary of an unknown ending")  # text would be indexed (issue 19)
    return c


def test_render_writes_tiles_and_manifest_and_names_the_bad_file(tmp_path, mixed):
    out = tmp_path / "tiles"
    p = run("render", mixed, "--out", out, check=1)
    assert "junk.csv" in p.stderr and "failed" in p.stderr
    summary = p.stdout.strip().splitlines()[-1]
    assert summary.startswith("2 sources rendered") and "2 ignored" in summary and "1 failed" in summary
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert {Path(x["source"]).name for x in lines} == {"nordic_capitals.csv", "sourdough-baking.md"}
    for x in lines:
        assert (out / x["file"]).exists()
        assert {"kind", "page", "tile", "x", "y", "w", "h", "content_hash", "settings_hash", "text"} <= set(x)
    p2 = run("render", mixed / "nordic_capitals.csv", "--out", tmp_path / "t2", "--json", check=0)
    rows = [json.loads(x) for x in p2.stdout.splitlines()]
    assert rows and all(r["kind"] == "table" for r in rows) and "Oslo" in rows[0]["text"]


@pytest.mark.slow
def test_library_render_tiles_matches_the_cli(tmp_path, mixed):
    import shotdex
    from shotdex.errors import SourceNotFound

    with pytest.raises(SourceNotFound):
        shotdex.render_tiles([tmp_path / "nowhere"], tmp_path / "none")
    report = shotdex.render_tiles(mixed, tmp_path / "lib")
    assert report.tiles == 2 and [Path(s).name for s, _ in report.failed] == ["junk.csv"]
    run("render", mixed, "--out", tmp_path / "cli", check=1)
    lib, cli = ((tmp_path / d / "manifest.jsonl").read_text().splitlines() for d in ("lib", "cli"))
    assert sorted(lib) == sorted(cli)  # the CLI is the library call, nothing of its own
    for line in lib:
        f = json.loads(line)["file"]
        assert (tmp_path / "lib" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes()


def test_index_search_json_status_remove(tmp_path, mixed):
    db = tmp_path / "db"
    p = run("index", mixed, "--db", db, env=TOY, check=1)
    assert "junk.csv" in p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("2 added")
    p = run("search", "capital of Iceland Reykjavik", "--db", db, "--json", "-k", "2", env=TOY, check=0)
    hits = [json.loads(x) for x in p.stdout.splitlines()]
    assert Path(hits[0]["source"]).name == "nordic_capitals.csv"
    assert set(hits[0]) == {"rank", "score", "source", "kind", "page", "tile", "tile_id", "x", "y", "w", "h",
                            "label", "snippet", "vector_score", "text_score", "visual_score", "tag", "tag_conf"}
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    st = json.loads(run("status", "--db", db, "--json", env=TOY, check=0).stdout)
    assert st["sources"] == 2 and st["by_kind"]["table"]["sources"] == 1
    assert [f["source"].endswith("junk.csv") for f in st["failed"]] == [True]
    sheet = tmp_path / "sheet.png"
    run("search", "sourdough starter", "--db", db, "--show", sheet, env=TOY, check=0)
    assert sheet.stat().st_size > 1000
    assert "removed 1" in run("remove", mixed / "sourdough-baking.md", "--db", db, env=TOY, check=0).stdout


def test_a_long_path_keeps_its_file_name_page_and_tile_in_the_table(tmp_path):
    """The results table shortens a source that does not fit at its start, not at its end."""
    deep = tmp_path / ("a" * 40) / ("b" * 40) / ("c" * 40)
    deep.mkdir(parents=True)
    (deep / "kestrel-notes.md").write_text("# Kestrel\n\nthe kestrel hovered over the field\n")
    db = tmp_path / "db"
    run("index", deep, "--db", db, env=TOY, check=0)
    rows = run("search", "kestrel", "--db", db, env=TOY, check=0).stdout.splitlines()
    assert any("…" in row and "kestrel-notes.md p1 t1" in row for row in rows), rows


def test_errors_are_one_line_with_documented_exit_codes(tmp_path):
    p = run("search", "x", "--db", tmp_path / "nothing", env=TOY, check=2)
    assert p.stderr.count("\n") == 1 and "shotdex index" in p.stderr
    p = run("index", SAMPLES / "notes", "--db", tmp_path / "db", "--model", "nope", env=TOY, check=2)
    assert "unknown" in p.stderr.lower() and "reader" in p.stderr and "hf:" in p.stderr
    p = run("render", SAMPLES / "notes", "--out", tmp_path / "o", env={"SHOTDEX_CHROMIUM": "/nonexistent/chrome"}, check=3)
    assert "chromium" in p.stderr.lower() and p.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def samples_db(tmp_path_factory):
    """samples/ indexed once with the default embedder (real Tesseract and MiniLM)."""
    db = tmp_path_factory.mktemp("samples") / "db"
    p = run("index", SAMPLES, "--db", db, check=0, timeout=900)
    assert "0 failed" in p.stdout
    return db


@pytest.mark.parametrize(
    "query, expected",
    [
        ("monthly rainfall in Bergen 2023", "bergen_rainfall_2023"),
        ("Nordic capital cities and their population", "nordic_capitals.csv"),
        ("feeding a sourdough starter", "sourdough-baking.md"),
        ("volcano field guide", "volcano-field-guide.pdf"),
    ],
)
@pytest.mark.slow
def test_default_model_finds_the_sample_first(samples_db, query, expected):
    p = run("search", query, "--db", samples_db, "--json", "-k", "3", check=0)
    hits = [json.loads(x) for x in p.stdout.splitlines()]
    assert expected in Path(hits[0]["source"]).name, hits


def test_rerun_over_unchanged_samples_skips_everything(samples_db):
    p = run("index", SAMPLES, "--db", samples_db, check=0)
    assert p.stdout.strip().splitlines()[-1].startswith("0 added, 0 updated")
