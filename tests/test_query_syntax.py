"""Quoted phrases and query-syntax characters: a query is never a syntax error (issue 18).

Real Chromium renders, a real LanceDB on disk; the toy embedder for ranking, the reader (OCR) once.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import shotdex
from shotdex.index.query import has_phrase, parse_query

ROOT = Path(__file__).resolve().parents[1]
TOY = shotdex.Settings(plugins="toy_embedder", model="toy")

# Every character of LanceDB's query parser, quotes balanced and not, AND/OR in capitals.
HOSTILE = [
    '"monthly rainfall in Bergen"',
    '"rainfall in Bergen" 2023',
    'monthly "rainfall',
    'rainfall"',
    '"',
    '""',
    '"" rainfall',
    'rainfall: Bergen',
    'title:rainfall',
    '+rainfall -Bergen',
    'rainfall~2',
    'rain~',
    'Bergen^3',
    '(rainfall',
    'rainfall)',
    '(rainfall AND Bergen) OR Oslo',
    'rainfall AND',
    'OR',
    'NOT rainfall',
    'back\\slash rainfall',
    'rainfall \\"Bergen\\"',
    '“monthly rainfall” Bergen',
    'rain* fall?',
    '[rainfall TO Bergen]',
    '{Bergen} /rain/ !sun',
    "it's Bergen's rainfall",
    'rainfall && Bergen || sun',
]


def test_parse_query_takes_phrases_and_strips_quotes():
    p = parse_query('"rainfall in Bergen" 2023 "monthly  totals" one "word"')
    assert p.phrases == ("rainfall in Bergen", "monthly totals")
    assert '"' not in p.text and p.text == "rainfall in Bergen 2023 monthly totals one word"
    assert parse_query('monthly "rainfall').phrases == ()  # unbalanced: plain text
    assert parse_query('monthly "rainfall').text == "monthly rainfall"
    assert parse_query("“typographic quotes here”").phrases == ("typographic quotes here",)
    assert parse_query("(a AND b) OR c:d").text == "(a AND b) OR c:d"


def test_has_phrase_needs_the_words_together_and_in_order():
    assert has_phrase("Monthly rainfall, in Bergen (mm)", "rainfall in bergen")
    assert not has_phrase("rainfall was high in Bergen", "rainfall in Bergen")
    assert not has_phrase("Bergen in rainfall", "rainfall in Bergen")
    assert not has_phrase("anything", "")


def _corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "together.txt").write_text("Report: the monthly rainfall in Bergen rose again this year.\n")
    (root / "apart.txt").write_text("Bergen: rainfall in the monthly report was low; the year in review.\n")
    (root / "oslo.txt").write_text("Sunshine hours in Oslo by month, a weather station summary.\n")
    (root / "bread.md").write_text("# Sourdough\n\nFeed the starter with rye flour every morning.\n")
    return root


@pytest.fixture(scope="module")
def toy_index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("phrase")
    corpus = _corpus(tmp / "corpus")
    idx = shotdex.open(db=tmp / "db", settings=TOY)
    rep = idx.add([corpus])
    assert not rep.failed and len(rep.added) == 4
    yield idx, tmp
    idx.close()


def test_phrase_ranks_words_in_order_above_the_same_words_apart(toy_index):
    idx, _ = toy_index
    # Without quotes the two files hold the same query words; the phrase decides between them.
    for q in ('"monthly rainfall in Bergen"', '"rainfall in Bergen" monthly'):
        for tiles in (False, True):
            hits = idx.search(q, k=4, tiles=tiles)
            names = [Path(h.source).name for h in hits]
            assert names.index("together.txt") < names.index("apart.txt"), (q, tiles, names)
            assert hits[0].text_score is not None and Path(hits[0].source).name == "together.txt"


@pytest.mark.parametrize("query", HOSTILE)
def test_syntax_laden_queries_return_hits_through_the_library(toy_index, query):
    idx, _ = toy_index
    hits = idx.search(query, k=3)
    assert hits, query  # the vector side always answers, whatever the text side makes of it
    assert all(h.snippet is not None for h in hits)


def test_index_without_positions_still_answers_phrases_and_is_upgraded(toy_index):
    from lancedb.index import FTS

    idx, _ = toy_index
    tiles = idx.store.tiles
    tiles.create_index("text", config=FTS(with_position=False), name="text_idx", replace=True)  # as before
    assert not idx.store.fts_positions()
    hits = idx.search('"monthly rainfall in Bergen"', k=4)  # checked over the candidates instead
    assert Path(hits[0].source).name == "together.txt"
    idx.add([Path(hits[0].source).parent])  # nothing changed, yet the text index gets positions
    assert idx.store.fts_positions()
    assert Path(idx.search('"monthly rainfall in Bergen"', k=4)[0].source).name == "together.txt"


def _cli(*args, env=None, timeout=600):
    e = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parent))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "shotdex.cli", *map(str, args)], capture_output=True,
                          text=True, env=e, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_syntax_laden_queries_through_the_cli_toy(toy_index):
    _, tmp = toy_index
    env = {"SHOTDEX_PLUGINS": "toy_embedder", "SHOTDEX_MODEL": "toy"}
    for q in HOSTILE:
        p = _cli("search", q, "--db", tmp / "db", "--json", "-k", "3", env=env)
        assert p.returncode == 0, (q, p.stderr)
        assert "Traceback" not in p.stderr
        assert [json.loads(line) for line in p.stdout.splitlines() if line.strip()], q


@pytest.mark.slow
def test_quoted_queries_through_the_cli_with_the_reader(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    db = tmp_path / "db"
    assert _cli("index", corpus, "--db", db).returncode == 0
    for q in ['"monthly rainfall in Bergen"', 'rainfall: (Bergen', '+monthly -"rainfall', "Bergen AND OR ~^\\"]:
        p = _cli("search", q, "--db", db, "--json", "-k", "4")
        assert p.returncode == 0 and "Traceback" not in p.stderr, (q, p.stderr)
        hits = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        assert hits, q
    p = _cli("search", '"monthly rainfall in Bergen"', "--db", db, "--json", "-k", "4")
    names = [Path(json.loads(line)["source"]).name for line in p.stdout.splitlines() if line.strip()]
    assert names[0] == "together.txt" and names.index("together.txt") < names.index("apart.txt")


@pytest.mark.slow
def test_eval_with_a_poisoned_query_reports_every_other_query(toy_index, tmp_path):
    _, tmp = toy_index
    corpus = tmp / "corpus"
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    lines = [
        {"id": "q1", "query": '"monthly rainfall in Bergen"', "relevant": ["together.txt"]},
        {"id": "q2", "image": str(tmp_path / "broken.png"), "relevant": ["oslo.txt"]},  # fails: unreadable
        {"id": "q3", "query": "(sourdough AND rye) OR starter:", "relevant": ["bread.md"]},
        {"id": "q4", "query": "sunshine hours Oslo", "relevant": ["oslo.txt"]},
    ]
    qf = tmp_path / "q.jsonl"
    qf.write_text("".join(json.dumps(x) + "\n" for x in lines))
    env = {"SHOTDEX_PLUGINS": "toy_embedder", "SHOTDEX_MODEL": "toy"}
    p = _cli("eval", qf, "--corpus", corpus, "--db", tmp_path / "evaldb", "--json", env=env)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr and "query q2 failed" in p.stderr
    res = json.loads(p.stdout)
    assert res["queries"] == 4 and res["failed"]["count"] == 1
    assert res["failed"]["queries"][0]["id"] == "q2" and "image" in res["failed"]["queries"][0]["error"]
    ranks = {q["id"]: q["rank"] for q in res["per_query"]}
    assert ranks["q1"] == 1 and ranks["q3"] == 1 and ranks["q4"] == 1 and ranks["q2"] is None
    assert res["recall@1"] == pytest.approx(0.75)  # the failed query counts as a miss
    p = _cli("eval", qf, "--corpus", corpus, "--db", tmp_path / "evaldb", "--json", "-k", "1", env=env)
    assert p.returncode == 1 and "ndcg@1" in json.loads(p.stdout) and "recall@10" not in json.loads(p.stdout)
