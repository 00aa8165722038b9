"""Shared helpers for the benchmark scripts: timing, medians with spread, machine facts, results files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def median_spread(values: list[float]) -> tuple[float, float, float]:
    """(median, min, max)."""
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], unit: str = "", digits: int = 2) -> str:
    med, lo, hi = median_spread(values)
    return f"{med:.{digits}f}{unit} (min {lo:.{digits}f}, max {hi:.{digits}f}, n={len(values)})"


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def script_hash(path: str | Path) -> str:
    """The first 12 hex digits of a script's sha256: a results file names the version that wrote it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def write_out(out, markdown: str) -> Path:
    """Write a script's --out file: under results/ stamped as write_result does, elsewhere as it is."""
    out = Path(out)
    if out.resolve().parent == RESULTS.resolve() and out.suffix == ".md":
        return write_result(out.stem, markdown)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown)
    return out


def write_result(name: str, markdown: str, goals: list[dict] | None = None) -> Path:
    """Write results/<name>.md, stamped with the date, the machine, the commit and the writing script's
    hash (run_all.py calls a section stale when its script has changed since), and, when given, the
    goals it measured (results/<name>.goals.json: issue, goal, measured, met, and the date: a goal's own,
    where a script records when each part was measured, else today), from which run_all.py computes the
    goals table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    script = Path(sys.argv[0]).resolve()
    rel = script.relative_to(Path(__file__).resolve().parents[1]) if script.is_relative_to(Path(__file__).resolve().parents[1]) else script
    path.write_text(f"<!-- {stamp}; {machine()}; commit {commit()}; script {rel} sha256:{script_hash(script)} -->\n"
                    f"{markdown.strip()}\n")
    gpath = RESULTS / f"{name}.goals.json"
    if goals is not None:
        gpath.write_text(json.dumps([{**g, "date": g.get("date") or stamp[:10]} for g in goals], indent=1) + "\n")
    return path


def header(path: Path) -> dict:
    """The stamp of a results file: date, script, sha256 (empty strings when it predates them)."""
    first = path.read_text().splitlines()[0] if path.exists() else ""
    out = {"date": "", "script": "", "sha256": ""}
    if first.startswith("<!--"):
        out["date"] = first[5:].split(";")[0].strip()
        for part in first.split(";"):
            part = part.strip().removesuffix("-->").strip()
            if part.startswith("script "):
                out["script"], _, sha = part[len("script "):].partition(" sha256:")
                out["sha256"] = sha.strip()
    return out
