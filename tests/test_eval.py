"""Eval metrics against hand-computed values, and the queries-file parser."""

import json
import math

import pytest

from shotdex.errors import QueryError
from shotdex.evaluate import first_rank, load_queries, rank_metrics, recall_curve, sample_sources


def test_rank_metrics_match_hand_computed_values():
    rankings = [["a", "b", "c"], ["x", "y", "a"], ["q"]]
    relevant = [{"a"}, {"a", "y"}, {"z"}]
    m = rank_metrics(rankings, relevant)
    # q1 hit at 1; q2 first hit at 2 (and a second at 3); q3 never.
    ndcg_q2 = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert m["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["recall@5"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["recall@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["mrr@10"] == pytest.approx((1 + 0.5) / 3, abs=1e-4)
    assert m["ndcg@10"] == pytest.approx((1 + ndcg_q2) / 3, abs=1e-4)


def test_rank_beyond_ten_counts_for_nothing_at_ten():
    ranking = [f"d{i}" for i in range(15)]
    m = rank_metrics([ranking], [{"d11"}])
    assert m["recall@10"] == 0 and m["mrr@10"] == 0 and m["ndcg@10"] == 0
    assert first_rank(ranking, {"d11"}) == 12
    curve = recall_curve([ranking], [{"d11"}])
    assert curve[10] == 0 and curve[11] == 1.0 and len(curve) == 20


def test_load_queries_resolves_paths_and_rejects_bad_lines(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "1", "query": "x", "relevant": ["a/b.csv"]}) + "\n\n"
                 + json.dumps({"id": "2", "image": "img.png", "relevant": ["c.png"]}) + "\n")
    got = load_queries(q, tmp_path)
    assert [g.id for g in got] == ["1", "2"]
    assert got[0].relevant == (str(tmp_path / "a" / "b.csv"),)
    assert got[1].image == str(tmp_path / "img.png") and got[1].query is None
    q.write_text('{"id": "3", "relevant": "not-a-list", "query": "x"}\n')
    with pytest.raises(QueryError, match=r"q.jsonl:1"):
        load_queries(q, tmp_path)


def test_sample_keeps_queries_of_sampled_sources_only(tmp_path):
    from shotdex.evaluate import EvalQuery

    sources = [f"/c/{i}.csv" for i in range(50)]
    queries = [EvalQuery(str(i), "q", None, (f"/c/{i}.csv",)) for i in range(50)]
    s1, q1 = sample_sources(sources, queries, 10, seed=3)
    s2, q2 = sample_sources(sources, queries, 10, seed=3)
    assert s1 == s2 and len(s1) == 10
    assert {q.relevant[0] for q in q1} == set(s1)
    assert q1 == q2


def test_sample_with_relevant_share_mixes_asked_about_sources_and_distractors():
    from shotdex.evaluate import EvalQuery

    sources = [f"/c/{i}.html" for i in range(100)]
    queries = [EvalQuery(str(i), "q", None, (f"/c/{i}.html",)) for i in range(20)]  # 20 asked-about pages
    kept, qs = sample_sources(sources, queries, 12, seed=1, relevant_share=0.75)
    asked = {f"/c/{i}.html" for i in range(20)}
    assert len(kept) == 12 and len(asked & set(kept)) == 9 and len(qs) == 9
    assert sample_sources(sources, queries, 12, seed=1, relevant_share=0.75) == (kept, qs)
    # Too few distractors: the rest comes from the asked-about side, still n in all.
    kept, _ = sample_sources(sources[:22], queries, 12, seed=1, relevant_share=0.25)
    assert len(kept) == 12 and len(asked & set(kept)) == 10
    with pytest.raises(QueryError):
        sample_sources(sources, queries, 12, relevant_share=1.5)


def test_include_globs_are_relative_to_the_corpus(tmp_path):
    from shotdex.evaluate import prepare, select_sources

    (tmp_path / "_images").mkdir()
    (tmp_path / "_sources").mkdir()
    for name in ("a.html", "_sources/a.txt", "_images/x_001.png", "_images/x_thumb.png", "notes.md"):
        (tmp_path / name).write_text("x" if not name.endswith(".png") else "")
    everything = [str(tmp_path / n) for n in ("a.html", "_sources/a.txt", "_images/x_001.png", "notes.md")]
    assert select_sources(everything, tmp_path, None) == everything
    assert select_sources(everything, tmp_path, ["*.html"]) == [str(tmp_path / "a.html")]
    assert select_sources(everything, tmp_path, ["_images/*.png", "*.md"]) == [
        str(tmp_path / "_images/x_001.png"), str(tmp_path / "notes.md")]
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": "1", "query": "x", "relevant": ["a.html"]}) + "\n")
    sources, queries = prepare(q, tmp_path, include=["*.html"])
    assert sources == [str(tmp_path / "a.html")] and [x.id for x in queries] == ["1"]


def test_default_fusion_weighs_full_text_more_for_short_queries():
    from shotdex.index.search import FUSION, Fusion, fuse

    vec = {"a": 0.9, "b": 0.5, "c": 0.1}  # min-max: a 1.0, b 0.5, c 0.0
    text = {"b": 10.0, "c": 5.0}  # divided by the best: b 1.0, c 0.5
    long_q = "which of these documents talks about the thing"
    short = fuse(vec, text, FUSION, "the thing")
    w = FUSION.short_text_weight
    assert short["a"] == pytest.approx(1 - w) and short["b"] == pytest.approx((1 - w) * 0.5 + w)
    long_ = fuse(vec, text, FUSION, long_q)
    w = FUSION.text_weight
    assert long_["a"] == pytest.approx(1 - w) and long_["c"] == pytest.approx(w * 0.5)
    # No query text: the long-query weight; no full-text list: the vector scores as they are.
    assert fuse(vec, text, FUSION) == long_
    assert fuse(vec, {}, FUSION, "x") == vec
    # Reciprocal ranks: (1 - w) / (k + vector rank) + w / (k + text rank).
    rrf = fuse(vec, text, Fusion(method="rrf", rrf_k=10, text_weight=0.5, short_query_words=0))
    assert rrf["b"] == pytest.approx(0.5 / 12 + 0.5 / 11) and rrf["a"] == pytest.approx(0.5 / 11)


def test_text_first_choice_keeps_a_clear_full_text_winner_on_top():
    from shotdex.index.search import Fusion, fuse, text_margin

    vec = {"a": 0.9, "b": 0.2, "c": 0.8}
    text = {"b": 10.0, "c": 2.0}
    assert text_margin(text) == pytest.approx(0.8)
    f = Fusion(text_first_margin=0.5, short_query_words=0)
    got = fuse(vec, text, f)
    assert sorted(got, key=lambda s: -got[s]) == ["b", "c", "a"]  # full-text order, then vector order
    close = {"b": 10.0, "c": 9.0}  # margin 0.1: no clear winner, weighted scores decide
    got = fuse(vec, close, f)
    assert max(got, key=got.get) == "c"


def test_k_is_the_cut_off_of_every_metric():
    from shotdex.evaluate import metric_keys

    rankings = [["x", "a"], ["b", "y", "z", "q"], ["m", "n", "o", "p", "c"]]
    relevant = [{"a"}, {"b"}, {"c"}]
    m3 = rank_metrics(rankings, relevant, k=3)
    assert list(m3) == ["recall@1", "recall@3", "mrr@3", "ndcg@3"] == list(metric_keys(3))
    assert m3["recall@3"] == pytest.approx(2 / 3, abs=1e-4)  # "c" at rank 5 is past the cut
    assert m3["mrr@3"] == pytest.approx((0.5 + 1) / 3, abs=1e-4)
    m10 = rank_metrics(rankings, relevant, k=10)
    assert m10["recall@10"] == 1.0 and m10["mrr@10"] == pytest.approx((0.5 + 1 + 0.2) / 3, abs=1e-4)
    assert list(rank_metrics(rankings, relevant, k=20)) == ["recall@1", "recall@5", "recall@10", "recall@20", "mrr@20", "ndcg@20"]


_BASELINES = {
    "full text, LanceDB FTS (true text)", "bm25, bm25s (true text)", "sentence model (true text)",
    "bm25s + sentence fusion (true text)", "LanceDB FTS + sentence fusion (true text)",
    "bm25, bm25s (true whole-page text)", "full text, LanceDB FTS (true whole-page text)",
    "whole-page bm25s + sentence fusion (true text)", "bm25, bm25s (file name + true whole-page text)",
}


def _baseline_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    docs = {
        "ice.md": "# Glaciers\n\nA glacier carves its valley; the moraine marks where the ice stood.",
        "bread.md": "# Sourdough\n\nFeed the rye starter twice a day and bake the loaf at dawn.",
        "sky.txt": "Telescope notes: collimate the mirror before observing Jupiter's moons.",
        "rain.csv": "city,month,rainfall mm\nBergen,October,250\nOslo,October,80\n",
    }
    for name, text in docs.items():
        (corpus / name).write_text(text)
    from PIL import Image, ImageDraw

    picture = tmp_path / "glacier.png"
    im = Image.new("RGB", (400, 120), "white")
    ImageDraw.Draw(im).text((10, 40), "glacier moraine", fill="black")
    im.save(picture)
    queries = [
        {"id": "words", "query": "glacier moraine", "relevant": ["ice.md"]},
        {"id": "meaning", "query": "frozen rivers slowly grinding mountains down", "relevant": ["ice.md"]},
        {"id": "table", "query": "Bergen rainfall", "relevant": ["rain.csv"]},
        {"id": "image", "image": str(picture), "relevant": ["ice.md"]},  # no words: no text-only system runs it
    ]
    qf = tmp_path / "q.jsonl"
    qf.write_text("".join(json.dumps(q) + "\n" for q in queries))
    return qf, corpus


def test_eval_with_baselines_runs_every_text_only_retriever_over_the_true_text(tmp_path):
    """`shotdex eval --baselines` in the library: BM25 (bm25s and LanceDB's), the sentence model and
    their fusions over the renderer's true text of the indexed tiles, per tile and per whole page,
    scored on the same queries as shotdex (the toy embedder indexes; the baselines never use it)."""
    import shotdex
    from shotdex.evaluate import evaluate

    qf, corpus = _baseline_corpus(tmp_path)
    settings = shotdex.Settings(plugins="toy_embedder", model="toy")
    with shotdex.open(db=tmp_path / "db", settings=settings) as idx:
        res = evaluate(idx, qf, corpus, baselines=True)
    b = res["baselines"]
    assert set(b) == _BASELINES
    for name, m in b.items():
        assert len(m["_ndcg"]) == 3, name  # the image query is not theirs to answer
    # the two word queries are each answered first by every keyword retriever
    for name in ("bm25, bm25s (true text)", "full text, LanceDB FTS (true text)", "bm25, bm25s (true whole-page text)"):
        assert b[name]["_ndcg"][0] == 1.0 and b[name]["_ndcg"][2] == 1.0, (name, b[name]["_ndcg"])
    # no shared word: keyword retrievers miss the paraphrase, the sentence model finds it
    assert b["bm25, bm25s (true text)"]["_ndcg"][1] < 1.0
    assert b["sentence model (true text)"]["_ndcg"][1] == 1.0
    assert b["sentence model (true text)"]["recall@1"] >= 2 / 3


@pytest.mark.slow
def test_eval_cli_with_and_without_baselines(tmp_path):
    """The CLI: without --baselines only shotdex's row; with it one row per baseline, in the table and
    in --json (without the per-query internals)."""
    from reliability_util import TOY, run_cli

    qf, corpus = _baseline_corpus(tmp_path)

    def cli(*args):
        p = run_cli("eval", qf, "--corpus", corpus, "--db", tmp_path / "db", *args, env=TOY, timeout=300)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        return p.stdout

    plain = json.loads(cli("--json"))
    assert "baselines" not in plain and plain["queries"] == 4
    with_b = json.loads(cli("--json", "--baselines"))
    assert set(with_b["baselines"]) == _BASELINES
    assert all("_ndcg" not in m and "_curve" not in m for m in with_b["baselines"].values())
    assert with_b["baselines"]["bm25, bm25s (true text)"]["recall@1"] == pytest.approx(2 / 3, abs=1e-3)
    table = cli("--baselines").splitlines()
    assert table[0].split()[0] == "system" and table[1].split()[0] == "shotdex"
    assert {line[:40].strip() for line in table[2:2 + len(_BASELINES)]} == {n[:40].strip() for n in _BASELINES}


def test_the_file_name_baseline_runs_on_pictures_that_have_no_true_text(tmp_path):
    """Pictures have no true text, so the text-only systems had nothing to search; BM25 over the file names
    (what the caption band shows of them) still runs, and finds a picture by the words of its name."""
    import shotdex
    from PIL import Image

    from shotdex.evaluate import evaluate

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("walrus_census_north.png", "puffin-colony-map.png", "IMG_0042.png"):
        Image.new("RGB", (200, 100), "white").save(corpus / name)
    qf = tmp_path / "q.jsonl"
    qf.write_text(json.dumps({"id": "a", "query": "walrus census", "relevant": ["walrus_census_north.png"]}) + "\n"
                  + json.dumps({"id": "b", "query": "puffin map", "relevant": ["puffin-colony-map.png"]}) + "\n")
    with shotdex.open(db=tmp_path / "db", settings=shotdex.Settings(plugins="toy_embedder", model="toy")) as idx:
        b = evaluate(idx, qf, corpus, baselines=True)["baselines"]
    assert set(b) == {"bm25, bm25s (file name + true whole-page text)"}
    assert b["bm25, bm25s (file name + true whole-page text)"]["_ndcg"] == [1.0, 1.0]
