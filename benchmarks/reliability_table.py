"""The bad-input table of RELIABILITY.md: each input of tests/badcorpus.py rendered alone by
`shotdex render` in a fresh process, with what shotdex said, the wall time and the peak memory.

Peak memory is the largest resident set of any one process of the run (the shotdex process or one of
its Chromium processes), read with getrusage(RUSAGE_CHILDREN) in a fresh intermediate process. Times
include starting Python and Chromium (the 'good one-page PDF' and 'good CSV' rows are the baseline).

    .venv/bin/python benchmarks/reliability_table.py          # rewrites RELIABILITY.md's table
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import badcorpus  # noqa: E402

_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "took = time.perf_counter() - t\n"
    "print(json.dumps([p.returncode, took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stderr, p.stdout]))\n"
)
BEGIN, END = "<!-- reliability-table:begin -->", "<!-- reliability-table:end -->"


def _said(case, path: str, rc: int, stderr: str, stdout: str) -> str:
    lines = [ln.removeprefix("shotdex: ") for ln in stderr.splitlines() if ln.startswith("shotdex: ")]
    lines = [ln.replace(path + ": ", "").replace(path, "…") for ln in lines]
    summary = (stdout.strip().splitlines() or [""])[-1]
    tiles = re.search(r"(\d+) tiles?\b", summary)
    if not lines:
        return f"rendered, {tiles.group(1) if tiles else '?'} tiles"
    head = "; ".join(lines)
    if tiles and rc == 0 and tiles.group(1) != "0":
        head = f"rendered, {tiles.group(1)} tiles; " + head
    return head.replace("|", "\\|")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="shotdex-reliability-"))
    try:
        corpus = tmp / "corpus"
        cases = badcorpus.build(corpus)
        env = dict(os.environ, LANCEDB_LOG="error", PYTHONPATH=str(ROOT / "tests"))
        env.update(SHOTDEX_JS_TIMEOUT_S="2", SHOTDEX_RENDER_TIMEOUT_S="10", SHOTDEX_MAX_TILES="32")
        caps = []
        if os.geteuid() == 0 and shutil.which("setpriv"):
            caps = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        rows = []
        for n, case in enumerate(cases):
            path = target = str(corpus / case.name)
            if case.name == "loop/up":  # alone: a folder whose only entry links back to it
                (tmp / "loopdemo" / "inner").mkdir(parents=True)
                os.symlink("..", tmp / "loopdemo" / "inner" / "up")
                target, path = str(tmp / "loopdemo"), str(tmp / "loopdemo" / "inner" / "up")
            cmd = [*caps, sys.executable, "-m", "shotdex.cli", "render", target, "--out", str(tmp / f"out{n}")]
            if case.js:
                cmd.append("--js")
            p = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
            rc, took, maxrss_kb, err, out = json.loads(p.stdout)
            said = _said(case, path, rc, err, out)
            rows.append(f"| {case.what} | `{case.name}` | {rc} | {said} | {took:.1f} s | {maxrss_kb / 1024:.0f} MB |")
            print(rows[-1], flush=True)
        table = "\n".join(
            [BEGIN,
             f"Measured on {platform.machine()} with {os.cpu_count()} cores, `shotdex render FILE` per input "
             "(with SHOTDEX_MAX_TILES=32, the default before it became 2,000; max_image_pixels=60,000,000, JavaScript off unless the row says --js).",
             "",
             "| input | file | exit | what shotdex said | time | peak memory |",
             "|---|---|---|---|---|---|",
             *rows, END])
        doc = ROOT / "RELIABILITY.md"
        text = doc.read_text() if doc.exists() else ""
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + table + text[text.index(END) + len(END):]
        else:
            text = text.rstrip() + "\n\n" + table + "\n"
        doc.write_text(text)
    finally:
        for p in tmp.rglob("unreadable.csv"):
            os.chmod(p, 0o600)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
