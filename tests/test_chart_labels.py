"""benchmarks/charts.py's label(): the figure type a Vega-Lite spec draws, the truth the tagger is scored
against (no ../shared needed: the specs are written here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from charts import label  # noqa: E402

X, Y = {"field": "a", "type": "quantitative"}, {"field": "b", "type": "quantitative"}


def test_marks_and_binned_bars():
    assert label({"mark": "bar", "encoding": {"x": X, "y": Y}}) == "bar"
    assert label({"mark": {"type": "bar"}, "encoding": {"x": {**X, "bin": True}, "y": {"aggregate": "count"}}}) == "histogram"
    assert label({"mark": "arc", "encoding": {"theta": X}}) == "pie"
    assert label({"mark": "tick", "encoding": {"x": X}}) is None
    assert label({"hconcat": [{"mark": "bar"}, {"mark": "line"}]}) is None
    assert label({"facet": {"row": {"field": "c"}}, "spec": {"mark": "circle", "encoding": {"x": X, "y": Y}}}) == "scatter"


def test_a_layer_takes_its_first_drawn_layer_with_the_outer_encoding():
    outer = {"encoding": {"x": {**X, "bin": True}}}
    assert label({**outer, "layer": [{"mark": "rule"}, {"mark": "bar"}]}) == "histogram"  # rule: no class, next
    assert label({"layer": [{"mark": "point", "encoding": {"x": X}}, {"mark": "line"}]}) == "scatter"


def test_a_layer_at_opacity_zero_is_not_on_the_picture():
    hidden = {"mark": "point", "encoding": {"x": X, "opacity": {"value": 0}}}
    on_hover = {"mark": "line", "encoding": {"opacity": {"condition": {"param": "hover", "value": 0.8}, "value": 0}}}
    assert label({"layer": [hidden, {"mark": "line", "encoding": {"x": X, "y": Y}}]}) == "line"
    assert label({"layer": [on_hover, {"mark": "circle"}]}) == "scatter"
    assert label({"layer": [{"mark": {"type": "point", "opacity": 0}}, {"mark": "area"}]}) == "area"
    # a field drives the opacity: drawn; and the earlier mapping took the hidden layer
    assert label({"layer": [{"mark": "point", "encoding": {"opacity": {"field": "o", "value": 0}}}, {"mark": "line"}]}) == "scatter"
    assert label({"layer": [hidden, {"mark": "line"}]}, skip_unseen=False) == "scatter"


def test_drawn_lists_every_layer_and_label_is_the_first():
    from charts import drawn

    hidden = {"mark": "point", "encoding": {"opacity": {"value": 0}}}
    spec = {"encoding": {"x": {**X, "bin": True}}, "layer": [{"mark": "rule"}, hidden, {"mark": "bar"}, {"mark": "line"}]}
    assert drawn(spec) == ["histogram", "line"] and label(spec) == "histogram"
    assert drawn(spec, skip_unseen=False) == ["scatter", "histogram", "line"]
    assert drawn({"facet": {"row": {"field": "c"}}, "spec": {"layer": [{"mark": "area"}, {"mark": "point"}]}}) == ["area", "scatter"]
    assert drawn({"vconcat": [{"mark": "bar"}]}) == [] and label({"mark": "text"}) is None
