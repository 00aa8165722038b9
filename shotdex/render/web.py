"""Web pages: local .html files served from their own folder under a virtual origin, and explicit
http(s) URLs limited to their own origin. Full page, tiled."""

from __future__ import annotations

import os
from urllib.parse import quote

from ..errors import RenderError, SealedError
from .browser import VIRTUAL_ORIGIN
from .discover import is_url
from .tiling import Job, capture_page

__all__ = ["render_web"]


def _settle(job: Job, url: str) -> None:
    """Navigate and wait for load; with JS on, stop scripts afterwards so pixels stay put.

    With JS off the only waiting is for the page's own files. With JS on, the page gets js_timeout_s to
    load; then script execution is stopped (a running loop is terminated) before measuring/capturing.
    """
    s = job.settings
    page = job.page
    timeout = (s.js_timeout_s if s.js else s.render_timeout_s) * 1000
    try:
        response = page.goto(url, wait_until="load", timeout=timeout)
    except Exception as e:
        if "Timeout" in type(e).__name__ or "Timeout" in str(e)[:200]:
            job.browser.restart()
            what = "JavaScript" if s.js else "page"
            raise RenderError(job.source, f"{what} did not finish loading within {timeout / 1000:g} s") from None
        refused = [r for r in job.browser.refused if "refused" in r]
        if refused:
            raise SealedError(job.source, refused[0]) from None
        failed = [r for r in job.browser.refused if r.startswith(url.split("#")[0]) and " (" in r]
        if failed:  # our own fetch of the page failed: say how, not Chromium's net::ERR_ABORTED
            raise RenderError(job.source, f"could not fetch the page: {_fetch_failure(failed[0])}") from None
        if "net::" in str(e):
            line = str(e).split("net::", 1)[1].split()[0]
            raise RenderError(job.source, f"could not load: net::{line}") from None
        raise
    if s.js:
        cdp = page.context.new_cdp_session(page)
        try:
            cdp.send("Runtime.terminateExecution")
            cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
        finally:
            cdp.detach()
    job.browser.freeze()
    refused = [r for r in job.browser.refused if "refused" in r]
    if response is None:
        raise RenderError(job.source, "page did not load" + (f": {refused[0]}" if refused else ""))
    if refused and response.url.rstrip("/") != url.rstrip("/") and is_url(url):
        raise SealedError(job.source, refused[0])
    if response.status >= 400:
        raise RenderError(job.source, f"HTTP {response.status}")


def render_web(job: Job) -> None:
    """Render a local HTML file or an explicit URL into tiles."""
    if is_url(job.source):
        job.browser.seal(url=job.source)
        url = job.source
    else:
        if os.path.getsize(job.source) == 0:
            raise RenderError(job.source, "empty file")
        with open(job.source, "rb") as f:
            from .decode import check_not_binary

            check_not_binary(job.source, f.read(65536))
        folder = os.path.dirname(job.source)
        job.browser.seal(folder=folder)
        url = f"{VIRTUAL_ORIGIN}/{quote(os.path.basename(job.source))}"
    try:
        _settle(job, url)
        capture_page(job, what="page")
        refused = list(job.browser.refused)
    finally:
        job.browser.seal()
    if refused:
        job.warn(f"{len(refused)} request(s) outside the page's own folder/site were blocked")


_FETCH_WORDS = {"ECONNREFUSED": "connection refused", "ENOTFOUND": "host not found", "EAI_AGAIN": "host not found",
                "ETIMEDOUT": "timed out", "ECONNRESET": "connection reset", "EHOSTUNREACH": "host unreachable",
                "ENETUNREACH": "network unreachable", "CERT": "TLS certificate not accepted"}


def _fetch_failure(entry: str) -> str:
    """'URL (error text)' from the browser's refused list, in words."""
    reason = entry.split(" (", 1)[1].rstrip(")")
    for code, words in _FETCH_WORDS.items():
        if code in reason:
            return words
    return reason.splitlines()[0][:200]
