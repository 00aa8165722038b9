"""Write docs/serve.png: the `shotdex serve` page for a query over samples/, shot in headless Chromium.

    python scripts/screenshot_serve.py [--model toy] [--out docs/serve.png]

Indexes samples/ into a temporary folder (the default reader embedder; --model toy for the test embedder:
seconds, word boxes faked), serves it on 127.0.0.1 with a free port, opens the page, types the
query, waits for every thumbnail and saves the screenshot (PNG, palette-reduced to stay small).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the toy embedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="reader")
    ap.add_argument("--query", default="monthly rainfall in Bergen")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "serve.png")
    args = ap.parse_args()

    import shotdex
    from playwright.sync_api import sync_playwright
    from PIL import Image

    from shotdex.render.browser import find_chromium, use_sandbox
    from shotdex.serve.server import start

    settings = shotdex.Settings(plugins="toy_embedder" if args.model.startswith("toy") else "", model=args.model)
    with tempfile.TemporaryDirectory() as tmp:
        idx = shotdex.open(db=Path(tmp) / "db", settings=settings)
        print(idx.add([ROOT / "samples"]).summary())
        running = start(idx, record=False)
        try:
            with sync_playwright() as pw:
                sandbox = use_sandbox(settings)
                browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, chromium_sandbox=sandbox,
                                             args=["--disable-gpu", "--no-first-run"] + ([] if sandbox else ["--no-sandbox"]))
                page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
                page.goto(running.url)
                page.fill("#q", args.query)
                page.press("#q", "Enter")
                page.wait_for_selector("#results .hit")
                page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
                shot = page.screenshot(type="png")
                browser.close()
        finally:
            running.stop()
            idx.close()
    img = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
