"""benchmarks/run_all.py: sections name the script version that wrote them; stale ones are flagged and
fail the run; the goals table is computed from what the scripts wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import common  # noqa: E402
import run_all  # noqa: E402


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(run_all, "RESULTS", tmp_path)
    monkeypatch.setattr(run_all, "ROOT", ROOT)
    monkeypatch.setattr(sys, "argv", [str(ROOT / "benchmarks" / "pages.py")])
    monkeypatch.setattr(run_all, "SECTIONS", [("pages.md", "pages"), ("fusion.md", "fusion")])
    return tmp_path


def test_fresh_section_is_current_and_its_goals_are_computed(results, monkeypatch, tmp_path):
    common.write_result("pages", "## Pages\n\nfigures", goals=[
        {"issue": 17, "goal": "ratio >= 1.03", "measured": "1.040", "met": True},
        {"issue": 17, "goal": "p50 <= 60 ms", "measured": "71.0 ms", "met": False, "date": "2026-01-02"}])
    h = common.header(results / "pages.md")
    assert h["script"] == "benchmarks/pages.py" and h["sha256"] == common.script_hash(ROOT / "benchmarks" / "pages.py")
    assert run_all.stale("pages.md", "pages") == ""
    table = "\n".join(run_all.goals_table())
    assert "| 17 | ratio >= 1.03 | 1.040 | yes |" in table and "| 17 | p50 <= 60 ms | 71.0 ms | no |" in table
    # a goal keeps the day its part was measured (a part not rerun); one without a date is stamped today
    assert f"| 1.040 | yes | pages.md ({h['date'][:10]}) |" in table and "| 71.0 ms | no | pages.md (2026-01-02) |" in table


def test_changed_script_or_unstamped_file_is_stale_and_fails_the_report(results, monkeypatch):
    common.write_result("pages", "## Pages")
    (results / "fusion.md").write_text("<!-- 2026-11-29 20:43 UTC; 2 cores -->\n## Fusion\n")
    monkeypatch.setattr(run_all, "script_hash", lambda p: "0" * 12)  # pages.py edited since
    assert "changed since" in run_all.stale("pages.md", "pages")
    assert "before results files named" in run_all.stale("fusion.md", "fusion")
    out = ROOT / "BENCHMARKS.md"
    before = out.read_bytes() if out.exists() else None
    try:
        _, problems = run_all.report({})
        assert len(problems) == 2 and all("stale" in p for p in problems)
    finally:
        if before is not None:
            out.write_bytes(before)
