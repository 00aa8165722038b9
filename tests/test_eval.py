"""Eval metrics against hand-computed values, and the queries-file parser."""

import json
import math

import pytest

from shotdex.errors import QueryError
from shotdex.index.evaluate import first_rank, load_queries, rank_metrics, recall_curve, sample_sources


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
    from shotdex.index.evaluate import EvalQuery

    sources = [f"/c/{i}.csv" for i in range(50)]
    queries = [EvalQuery(str(i), "q", None, (f"/c/{i}.csv",)) for i in range(50)]
    s1, q1 = sample_sources(sources, queries, 10, seed=3)
    s2, q2 = sample_sources(sources, queries, 10, seed=3)
    assert s1 == s2 and len(s1) == 10
    assert {q.relevant[0] for q in q1} == set(s1)
    assert q1 == q2
