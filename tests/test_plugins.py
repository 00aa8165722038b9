"""Issue 11: embedder plugins by entry points (`shotdex.embedders`), and an Index built from an Embedder
instance whose options the db remembers.

The entry points are real: a `*.dist-info` folder with an entry_points.txt, put on the path of a
`shotdex` process, is what `pip install` of a plugin package leaves behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import shotdex
from reliability_util import run_cli
from shotdex.embed.ocr import tesseract_program
from shotdex.embed.sentence import default_model_dir
from shotdex.errors import ModelMismatch

TESTS = Path(__file__).resolve().parent

PLUGIN = '''
"""A plugin package's own module: a factory registered by its entry point's name."""
from toy_embedder import ToyEmbedder


def make_echo(arg, settings):
    """echo: the toy embedder under another name (tests only)"""
    emb = ToyEmbedder(arg or "echo")
    emb.name = "echo" if arg is None else f"echo:{arg}"
    return emb
'''


def _site(tmp_path: Path, entries: dict[str, str]) -> Path:
    site = tmp_path / "site"
    dist = site / "shotdex_testplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shotdex-testplug\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (dist / "entry_points.txt").write_text(f"[shotdex.embedders]\n{lines}\n")
    (site / "shotdex_testplug.py").write_text(PLUGIN)
    return site


def _env(site: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(TESTS), str(site)])}


@pytest.mark.slow
def test_entry_point_plugins_are_listed_and_usable(tmp_path):
    site = _site(tmp_path, {"toy": "toy_embedder", "echo": "shotdex_testplug:make_echo",
                            "broken": "no_such_module_for_shotdex_xyz"})
    env = _env(site)
    p = run_cli("models", "--json", env=env)
    assert p.returncode == 0, p.stderr
    infos = {m["name"]: m for m in json.loads(p.stdout)}
    assert {"hf", "reader", "toy", "echo", "broken"} <= set(infos)
    assert infos["toy"]["dim"] == 64 and infos["toy"]["available"]  # a module that registers itself
    assert infos["echo"]["description"].startswith("echo: the toy embedder")  # a factory, named by its entry point
    assert not infos["broken"]["available"] and "no_such_module_for_shotdex_xyz" in infos["broken"]["detail"]

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("Telescope maintenance log: collimate the mirror before observing Jupiter.\n")
    (corpus / "bread.md").write_text("# Sourdough bread\n\nFeed the starter with rye flour and water.\n")
    for model in ("toy", "echo"):  # no SHOTDEX_PLUGINS: found through the entry points alone
        db = tmp_path / f"db-{model}"
        p = run_cli("index", corpus, "--db", db, "--model", model, env=env)
        assert p.returncode == 0, p.stderr
        p = run_cli("search", "telescope mirror", "--db", db, "--json", "-k", "1", env=env)
        assert p.returncode == 0, p.stderr
        assert Path(json.loads(p.stdout.splitlines()[0])["source"]).name == "notes.txt"
        assert json.loads(run_cli("status", "--db", db, "--json", env=env).stdout)["model"] == model
    p = run_cli("index", corpus, "--db", tmp_path / "db-broken", "--model", "broken", env=env)
    assert p.returncode == 3 and p.stderr.count("\n") == 1 and "no_such_module_for_shotdex_xyz" in p.stderr, p.stderr
    p = run_cli("index", corpus, "--db", tmp_path / "db-none", "--model", "nosuch", env=env)
    assert p.returncode == 2 and "echo" in p.stderr and "toy" in p.stderr  # the known names include plugins


def test_without_the_entry_points_the_plugin_is_unknown(tmp_path):
    p = run_cli("index", tmp_path, "--db", tmp_path / "db", "--model", "echo", env={"PYTHONPATH": str(TESTS)})
    assert p.returncode == 2 and "unknown model 'echo'" in p.stderr


def test_index_accepts_an_embedder_instance(tmp_path):
    from toy_embedder import ToyEmbedder

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("Telescope maintenance log: collimate the mirror.\n")
    emb = ToyEmbedder("mine")
    with shotdex.open(db=tmp_path / "db", model=emb) as idx:
        assert idx.embedder is emb and idx.model == "toy:mine"
        assert idx.add([corpus]).added
        assert Path(idx.search("telescope mirror", k=1)[0].source).name == "notes.txt"
    assert emb.embed_queries(["still usable"]).shape == (1, 64)  # the caller's instance is not closed
    # reopened by name: the registry builds the same embedder
    again = shotdex.open(db=tmp_path / "db", settings=shotdex.Settings(plugins="toy_embedder"))
    assert again.model == "toy:mine" and again.search("telescope", k=1)
    with pytest.raises(ModelMismatch):
        shotdex.open(db=tmp_path / "db", model=ToyEmbedder("other")).search("telescope")


@pytest.mark.skipif(default_model_dir() is None or tesseract_program() is None, reason="needs the reader")
def test_embedder_options_are_recorded_and_restored(tmp_path):
    """A reader with its own window and combination: the db remembers both, so opening it later by
    name alone (library or CLI) rebuilds the same embedder instead of refusing the index."""
    from shotdex.embed.reader import ReaderEmbedder
    from shotdex.index.store import Meta

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("Telescope maintenance log: collimate the mirror before observing Jupiter.\n")
    (corpus / "bread.md").write_text("# Sourdough bread\n\nFeed the starter with rye flour and water.\n")
    db = tmp_path / "db"
    emb = ReaderEmbedder(window=64, combine="windows", settings=shotdex.Settings(ocr_workers=1))
    with shotdex.open(db=db, model=emb) as idx:
        assert len(idx.add([corpus]).added) == 2
    meta = Meta.load(db)
    assert meta.model == "reader" and meta.options == {"window": 64, "combine": "windows", "ocr_engine": "auto",
                                                             "tagger": True, "reader_engine": "shotdex"}
    assert meta.fingerprint == emb.fingerprint != ReaderEmbedder().fingerprint
    with shotdex.open(db=db) as idx:
        assert idx.embedder.options == emb.options and idx.embedder.fingerprint == emb.fingerprint
        assert Path(idx.search("telescope mirror", k=1)[0].source).name == "notes.txt"
    p = run_cli("search", "sourdough starter", "--db", db, "--json", "-k", "1")
    assert p.returncode == 0, p.stderr
    assert Path(json.loads(p.stdout.splitlines()[0])["source"]).name == "bread.md"
    assert emb.embed_queries(["x"]).shape == (1, 384)
    emb.close()
