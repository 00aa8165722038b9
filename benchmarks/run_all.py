"""Run every benchmark and rewrite BENCHMARKS.md from benchmarks/results/*.md.

    .venv/bin/python benchmarks/run_all.py                  # everything (see the timing note below)
    .venv/bin/python benchmarks/run_all.py --only quality fusion
    .venv/bin/python benchmarks/run_all.py --only report    # just regenerate BENCHMARKS.md

Parts (each runs alone with --only; each is one script, run as a child process with the command shown
in BENCHMARKS.md):
  quality   benchmarks/quality.py: `shotdex eval --baselines` code on the four shared sets (sampled, see
            quality.py), Recall@k plots -> results/quality.md, results/quality-<set>.png
  fusion    benchmarks/fusion.py: vector only, full text only and fusion rules over the same indexes
  charts    benchmarks/charts.py: the figure tagger on the vega-gallery PNGs (per class, confusion), the two
            chart sets' retrieval, image -> spec Recall@1, the tagger's cost on the read stage
  render    benchmarks/render_speed.py: render tiles/s by kind
  embed     benchmarks/embed_speed.py: reader tiles/s, two-core ceiling, query encoding, cold load
  index     benchmarks/index_speed.py: vector index types and settings on real text vectors, latency and
            recall@10 vs exact search at 50k and 1M rows (embeds ~20k chunks once into /tmp/shotdex-index-speed)
  fresh     benchmarks/fresh_search.py: fresh-process `shotdex search` at 100k tiles, lancedb's imports as
            shipped vs deferred (shotdex/index/lance_import.py), same run
  e2e       benchmarks/e2e_speed.py: index tiles/s end to end, unchanged re-index of wtq-dev, warm and
            fresh-process query latency, bytes per tile (reuses <scratch>/wtq-dev-full when built)
  pipeline  benchmarks/pipeline_speed.py: the index pipeline against its OCR engine alone and against the
            physical limit (cores / the stages' CPU-seconds per tile), same tiles, same run
  precision benchmarks/embed_precision.py: the tiles' sentence model in bf16 vs float32 on wtq-dev (nDCG@10
            difference with a bootstrap interval, changed top 10s, cosines, CPU per document; ~9 min)
  ray       benchmarks/ray_speed.py: the Ray runner on a local instance vs the local runner (same tables,
            same run, identical tile ids), measured stage and commit costs, a 1-64 node projection
  e2e-full  the same with --build-full: first builds the full 1,679-table wtq-dev database (~20+ min)
  serve     benchmarks/serve_speed.py: warm HTTP query latency, 8 concurrent clients, `shotdex search`
            through a running server (100k synthetic tiles)
  reader    benchmarks/reader.py: shotdex's own reader vs Tesseract on the same tiles (word recall and
            precision, core-seconds per tile, fallbacks), retrieval on the quality databases re-read, index tiles/s
  report    rewrite BENCHMARKS.md (always runs last)
Timing on 2 cores (measured 2026-12-01, with the test suite sharing the cores for part of it): quality.py
on the whole wtq-dev took 31 min (indexing 3,641 tiles, 2,000 queries, every baseline) and on the whole
pydocs-dev 61 min (8,486 tiles, 800 queries); its dense baselines over pydocs-dev's true text another
~20 min on one core; vega-gallery and sklearn-gallery 1-2 min each; pages.py and fusion.py a few
minutes once those exist; e2e 6.6 min (2026-11-29); index_speed at 50k and 1M rows 11 min once its chunks are embedded (2026-12-02).
The quality and e2e databases live in $SHOTDEX_BENCH_SCRATCH (default /tmp/shotdex-bench), outside
the repo, so a rerun only indexes what changed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from common import RESULTS, header, machine, script_hash  # noqa: E402

PY = sys.executable
PARTS: dict[str, list[str]] = {
    "quality": ["benchmarks/quality.py"],
    "fusion": ["benchmarks/fusion.py"],
    "pages": ["benchmarks/pages.py"],
    "charts": ["benchmarks/charts.py"],
    "render": ["benchmarks/render_speed.py", "--runs", "3", "--n", "60"],
    "embed": ["benchmarks/embed_speed.py", "--tiles", "8", "--runs", "3"],
    # 1M rows: the IVF_PQ build alone is minutes on idle cores and far more on shared ones (see its section).
    "index": ["benchmarks/index_speed.py", "--rows", "50000", "1000000", "--only", "shotdex", "IVF_PQ-48"],
    "fresh": ["benchmarks/fresh_search.py", "--runs", "5"],
    "e2e": ["benchmarks/e2e_speed.py", "--fresh-tables", "60", "--runs", "3"],
    "pipeline": ["benchmarks/pipeline_speed.py", "--tables", "150", "--runs", "3"],
    "precision": ["benchmarks/embed_precision.py", "--queries", "600", "--distractors", "600"],
    "ray": ["benchmarks/ray_speed.py", "--tables", "150", "--runs", "3"],
    "serve": ["benchmarks/serve_speed.py", "--tiles", "100000", "--model", "reader"],
    "office": ["benchmarks/office_speed.py", "--runs", "1"],
    "reader": ["benchmarks/reader.py", "--tables", "60", "--pages", "30", "--runs", "3", "--retrieval",
               "--index-tables", "40"],
    "e2e-full": ["benchmarks/e2e_speed.py", "--fresh-tables", "60", "--runs", "3", "--build-full"],
}
DEFAULT = ["quality", "fusion", "pages", "charts", "render", "embed", "index", "e2e", "pipeline", "precision", "ray", "serve", "fresh",
           "office", "reader"]
# Sections of BENCHMARKS.md, in order: (results file, the part that writes it).
SECTIONS = [
    ("quality.md", "quality"), ("fusion.md", "fusion"), ("pages.md", "pages"), ("charts.md", "charts"),
    ("pipeline_speed.md", "pipeline"), ("embed_precision.md", "precision"), ("ray_speed.md", "ray"), ("e2e_speed.md", "e2e"), ("render_speed.md", "render"),
    ("embed_speed.md", "embed"), ("embed_windows.md", None), ("index_speed.md", "index"),
    ("serve_speed.md", "serve"), ("fresh_search.md", "fresh"), ("office_speed.md", "office"), ("reader.md", "reader"),
]


def run_part(name: str) -> tuple[int, float]:
    cmd = [PY, *PARTS[name]]
    print(f"[run_all] {name}: {' '.join(PARTS[name])}", flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, cwd=ROOT).returncode
    secs = time.perf_counter() - t0
    print(f"[run_all] {name}: exit {rc} after {secs:.0f} s", flush=True)
    return rc, secs


def stale(fname: str, part: str | None) -> str:
    """Why a section no longer describes its script ('' when it does): written by another version of
    the script (or before results files named theirs)."""
    if part is None:
        return ""
    h = header(RESULTS / fname)
    script = ROOT / PARTS[part][0]
    if not h["sha256"]:
        return "written before results files named their script's version"
    if h["script"] != PARTS[part][0] or h["sha256"] != script_hash(script):
        return f"{PARTS[part][0]} changed since it was written"
    return ""


def goals_table() -> list[str]:
    """The goals table, computed from the results/<name>.goals.json files the scripts write."""
    rows = []
    for fname, part in SECTIONS:
        gpath = RESULTS / fname.replace(".md", ".goals.json")
        if gpath.exists():
            for g in json.loads(gpath.read_text()):
                rows.append(f"| {g['issue']} | {g['goal']} | {g['measured']} | {'yes' if g['met'] else 'no'} | "
                            f"{fname} ({g['date']}) |")
    if not rows:
        return []
    return ["## Goals at a glance", "",
            "Computed by run_all.py from the goals each script wrote with its figures (results/*.goals.json); a goal "
            "of a stale section is as stale as it.", "",
            "| issue | goal | measured | met | section (date) |", "|---|---|---|---|---|", *rows, ""]


def report(timings: dict[str, tuple[int, float]]) -> tuple[Path, list[str]]:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `benchmarks/run_all.py` on {stamp}; machine: {machine()}; "
        f"1-min load average when written {os.getloadavg()[0]:.1f}.",
        "",
        "Reproduce everything with `make bench` (or `.venv/bin/python benchmarks/run_all.py`); one part with "
        "`.venv/bin/python benchmarks/run_all.py --only PART`. Each section below comes from "
        "`benchmarks/results/<name>.md`, written by this command; a section whose script has changed since is "
        "marked stale (and run_all.py exits 1):",
        "",
        "| section | command | written | stale |",
        "|---|---|---|---|",
    ]
    problems = []
    for fname, part in SECTIONS:
        if not (RESULTS / fname).exists():
            continue
        cmd = f"`.venv/bin/python {' '.join(PARTS[part])}`" if part else "one-off study (script inside the section)"
        when = header(RESULTS / fname)["date"] or "earlier"
        if part in timings:
            rc, secs = timings[part]
            when += f" ({secs / 60:.1f} min" + ("" if rc == 0 else f", exit {rc}") + ")"
        why = stale(fname, part)
        if why:
            problems.append(f"{fname}: stale: {why}; rerun `.venv/bin/python benchmarks/run_all.py --only {part}`")
        lines.append(f"| {fname} | {cmd} | {when} | {('**stale**: ' + why) if why else 'no'} |")
    lines.append("")
    lines += goals_table()
    for fname, _ in SECTIONS:
        path = RESULTS / fname
        if not path.exists():
            continue
        body = [ln for ln in path.read_text().splitlines() if not ln.startswith("<!--")]
        # Images in results/*.md are relative to results/; BENCHMARKS.md sits at the repo root.
        body = [ln.replace("](quality-", "](benchmarks/results/quality-") for ln in body]
        lines += body + [""]
    out = ROOT / "BENCHMARKS.md"
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out, problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=[*PARTS, "report"], help="Run only these parts (then the report).")
    args = ap.parse_args()
    parts = [p for p in (args.only or DEFAULT) if p != "report"]
    timings = {}
    t0 = time.perf_counter()
    for name in parts:
        timings["e2e" if name == "e2e-full" else name] = run_part(name)
    out, problems = report(timings)
    print(f"[run_all] wrote {out} after {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    for p in problems:
        print(f"[run_all] {p}", file=sys.stderr, flush=True)
    if problems or any(rc for rc, _ in timings.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
