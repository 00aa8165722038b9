"""One sealed Chromium page for a whole run: finding, launching, restarting and killing the browser.

Sealing has three walls:
1. Every request from the page goes through one route handler. Generated pages (text, tables) load
   nothing; a local HTML file is served under a virtual origin (https://shotdex.invalid/) from its own
   folder only (real paths checked, so '../' and symlinks out are refused); an explicit URL may reach
   only its own origin. Everything else is aborted. An http(s) page cannot load file:// at all.
2. Chromium's own resolver maps every host name to NOTFOUND, so anything that slipped past the route
   (pre-connects, DNS prefetch) cannot resolve; explicit URLs are fetched by Playwright, not Chromium.
3. Background networking, sync, component updates, QUIC are off; service workers blocked; downloads
   refused; pop-ups closed; dialogs dismissed. WebRTC (which sends UDP past the route handler) may use
   proxied UDP only (there is no proxy, so none), and its constructors are removed from every frame.
"""

from __future__ import annotations

import glob
import mimetypes
import os
import shutil
import signal
import sys
import threading
import uuid
from urllib.parse import unquote, urlsplit

from ..errors import ChromiumNotFound
from ..pids import scratch_dir

__all__ = ["find_chromium", "use_sandbox", "Browser", "LAUNCH_FLAGS", "VIRTUAL_ORIGIN", "BrowserGone"]

LAUNCH_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--dns-prefetch-disable",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE shotdex.invalid",
    "--font-render-hinting=none",
    "--hide-scrollbars",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--enforce-webrtc-ip-permission-check",
]
# Runs before any page script in every frame (when JavaScript is on at all).
_NO_WEBRTC_JS = """(() => {
  for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel", "RTCIceCandidate",
                      "RTCSessionDescription", "RTCRtpSender", "RTCRtpReceiver", "RTCIceTransport"]) {
    try { Object.defineProperty(window, name, {value: undefined, writable: false, configurable: false}); } catch (e) {}
  }
})();"""
VIRTUAL_HOST = "shotdex.invalid"
VIRTUAL_ORIGIN = f"https://{VIRTUAL_HOST}"
_INSTALL_HINT = (
    "install it with 'apt-get install chromium' (Debian/Ubuntu) or 'playwright install chromium', "
    "or set SHOTDEX_CHROMIUM to its path"
)


class BrowserGone(Exception):
    """Chromium crashed or was killed (by us, on a time limit) while rendering."""


def _playwright_chromiums() -> list[str]:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or (
        os.path.expanduser("~/Library/Caches/ms-playwright")
        if sys.platform == "darwin"
        else os.path.expanduser("~/.cache/ms-playwright")
    )
    patterns = [
        "chromium-*/chrome-linux*/chrome",
        "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
        "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
        "chromium-*/chrome-win*/chrome.exe",
    ]
    hits: list[str] = []
    for pattern in patterns:
        hits += glob.glob(os.path.join(root, pattern))

    def build(path: str) -> int:
        part = path[len(root) :].strip(os.sep).split(os.sep)[0]
        digits = part.rsplit("-", 1)[-1]
        return int(digits) if digits.isdigit() else 0

    return sorted(hits, key=build, reverse=True)


def find_chromium(explicit: str | None = None) -> str:
    """Path of the Chromium to use: the explicit argument, $SHOTDEX_CHROMIUM, a browser installed by
    'playwright install', /usr/lib/chromium/chromium, then 'chromium' on PATH.

    An explicit path (argument or environment) that does not exist raises instead of falling back, so a
    typo is never silently replaced by another browser. Raises ChromiumNotFound with one line saying
    how to install one.
    """
    for given, origin in ((explicit, "the chromium setting"), (os.environ.get("SHOTDEX_CHROMIUM"), "SHOTDEX_CHROMIUM")):
        if given:
            path = shutil.which(given) or given
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return os.path.abspath(path)
            raise ChromiumNotFound(f"Chromium not found at {given!r} (from {origin}); {_INSTALL_HINT}")
    for path in _playwright_chromiums() + ["/usr/lib/chromium/chromium"]:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise ChromiumNotFound(f"Chromium not found; {_INSTALL_HINT}")


def use_sandbox(settings) -> bool:
    """Chromium's own sandbox: on for ordinary users, off for root (Chromium refuses to start sandboxed
    as root), or off when the chromium_sandbox setting says so (containers without user namespaces)."""
    choice = getattr(settings, "chromium_sandbox", None)
    if choice is not None:
        return bool(choice)
    return not (hasattr(os, "geteuid") and os.geteuid() == 0)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


# Playwright's sync API allows one driver per thread; Renderers in the same thread share it.
_DRIVERS: dict[int, list] = {}
_ENV_LOCK = threading.Lock()
# Chromium puts a socket 45 characters below its TMPDIR (a socket's path has at most 107): for a longer
# folder than this Chromium keeps the user's TMPDIR
_MAX_TMP = 60


def _acquire_driver():
    """This thread's Playwright driver, started if needed. The driver (a node process) makes each
    browser's profile and artifacts folders under its TMPDIR; that TMPDIR is a throw-away folder of
    shotdex's, so a run killed with -9 leaves nothing that the next run does not remove."""
    from playwright.sync_api import sync_playwright

    key = threading.get_ident()
    entry = _DRIVERS.get(key)
    if entry is None:
        tmp = scratch_dir("chromium")
        # the driver takes its environment from os.environ when it starts, and has no other way in
        with _ENV_LOCK:
            before = os.environ.get("TMPDIR")
            os.environ["TMPDIR"] = tmp
            try:
                driver = sync_playwright().start()
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            finally:
                if before is None:
                    del os.environ["TMPDIR"]
                else:
                    os.environ["TMPDIR"] = before
        entry = _DRIVERS[key] = [driver, 0, tmp]
    entry[1] += 1
    return entry[0]


def _release_driver() -> None:
    key = threading.get_ident()
    entry = _DRIVERS.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _DRIVERS[key]
        _quietly(entry[0].stop)
        shutil.rmtree(entry[2], ignore_errors=True)


class Browser:
    """One Chromium, one context, one page; started lazily, restarted after a crash or a kill."""

    def __init__(self, settings, chromium: str | None = None):
        self.settings = settings
        self.chromium_arg = chromium
        self._pw = None
        self._browser = None
        self._context = None
        self._page = None
        self._cdp = None
        self._marker = f"--shotdex-run={uuid.uuid4().hex}"
        self._lock = threading.Lock()
        # what the route handler lets through for the current source
        self._folder: str | None = None
        self._url_origin: str | None = None
        self.refused: list[str] = []
        self.killed = False
        self._home: str | None = None

    # -- life cycle -------------------------------------------------------------------------
    @property
    def page(self):
        if self._page is None or self._page.is_closed():
            self.start()
        return self._page

    def start(self) -> None:
        """Launch Chromium (if not running) and open the sealed page."""
        if self._page is not None and not self._page.is_closed():
            return
        self.close()
        executable = find_chromium(self.chromium_arg)
        s = self.settings
        self._pw = _acquire_driver()
        sandbox = use_sandbox(s)
        # Chromium's own folders (crash reports, caches: ~/.config/chromium, ~/.cache) go to a throw-away
        # folder of this browser's, never into the user's home.
        if self._home is None:
            self._home = scratch_dir("chromium")
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self._home, "config"),
                   XDG_CACHE_HOME=os.path.join(self._home, "cache"))
        # Chromium's own temporary folders (org.chromium.Chromium.*), which it cannot remove when killed
        if len(tmp := os.path.join(self._home, "tmp")) <= _MAX_TMP:
            os.makedirs(tmp, exist_ok=True)
            env["TMPDIR"] = tmp
        self._browser = self._pw.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=sandbox, env=env,
            args=LAUNCH_FLAGS + ([] if sandbox else ["--no-sandbox"]) + [self._marker,
                  f"--crash-dumps-dir={os.path.join(self._home, 'crash')}"],
        )
        self._context = self._browser.new_context(
            viewport={"width": s.tile_width, "height": s.tile_height},
            device_scale_factor=s.device_scale,
            java_script_enabled=s.js,
            accept_downloads=False,
            service_workers="block",
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
            reduced_motion="reduce",
        )
        self._context.set_default_timeout(s.render_timeout_s * 1000)
        self._context.add_init_script(_NO_WEBRTC_JS)
        self._context.route("**/*", self._route)
        self._context.on("page", self._on_page)
        if hasattr(self._context, "route_web_socket"):
            self._context.route_web_socket("**/*", lambda ws: ws.close())
        self._page = self._context.new_page()
        self._page.on("dialog", lambda d: _quietly(d.dismiss))
        self._cdp = self._context.new_cdp_session(self._page)
        self.killed = False

    def _on_page(self, page) -> None:
        if self._page is not None and page is not self._page:
            _quietly(page.close)  # pop-ups

    def close(self) -> None:
        """Close the page, the browser and the Playwright driver; safe to call twice."""
        for obj in (self._context, self._browser):
            if obj is not None:
                _quietly(obj.close)
        if self._pw is not None:
            _release_driver()
        self._pw = self._browser = self._context = self._page = self._cdp = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def restart(self) -> None:
        self.kill()
        self.close()

    def kill(self) -> None:
        """Kill the Chromium process itself (safe from another thread: used by the watchdog)."""
        for pid in self._chromium_pids():
            try:
                os.kill(pid, signal.SIGKILL)
                self.killed = True
            except OSError:
                pass

    def _chromium_pids(self) -> list[int]:
        pids = []
        if not os.path.isdir("/proc"):
            return pids
        marker = self._marker.encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if marker in cmd and b"--type=" not in cmd:
                pids.append(int(entry))
        return pids

    def screenshot(self) -> bytes:
        """PNG of the current viewport. Straight CDP: about half the time of page.screenshot(), which
        adds round trips for its caret/animation options (our pages freeze those themselves)."""
        from base64 import b64decode

        page = self.page
        if self._cdp is None:
            return page.screenshot(animations="disabled", caret="hide", type="png")
        shot = self._cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
        return b64decode(shot["data"])

    def freeze(self) -> None:
        """Stop CSS animations and transitions and hide the caret on a loaded page (any origin)."""
        self.page.evaluate(_FREEZE_JS)

    def watchdog(self, seconds: float) -> threading.Timer:
        """A started timer that kills Chromium if the current source takes longer than `seconds`."""
        timer = threading.Timer(seconds, self.kill)
        timer.daemon = True
        timer.start()
        return timer

    # -- sealing ----------------------------------------------------------------------------
    def seal(self, folder: str | None = None, url: str | None = None) -> None:
        """Set what the current source may load: files under `folder`, or `url`'s own origin."""
        self._folder = os.path.realpath(folder) if folder else None
        self._url_origin = _origin(url) if url else None
        self.refused = []

    def _route(self, route) -> None:
        request = route.request
        url = request.url
        try:
            if self._folder and url.startswith(VIRTUAL_ORIGIN + "/"):
                return self._serve_file(route, url)
            if self._url_origin and _origin(url) == self._url_origin:
                return self._fetch_same_origin(route, url)
        except Exception as e:  # noqa: BLE001 - any failure inside the handler must abort, never pass
            self.refused.append(f"{url} ({e})")
        else:
            self.refused.append(url)
        _abort(route)

    def _serve_file(self, route, url: str) -> None:
        rel = unquote(urlsplit(url).path).lstrip("/")
        path = os.path.realpath(os.path.join(self._folder, rel))
        if os.path.commonpath([path, self._folder]) != self._folder or not os.path.isfile(path):
            self.refused.append(url)
            return _abort(route)
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            body = f.read()
        route.fulfill(status=200, body=body, headers={"content-type": mime})

    def _fetch_same_origin(self, route, url: str) -> None:
        from urllib.parse import urljoin

        timeout = self.settings.render_timeout_s * 1000
        response = route.fetch(max_redirects=0, timeout=timeout)
        for _ in range(10):
            if not 300 <= response.status < 400 or "location" not in response.headers:
                break
            target = urljoin(url, response.headers["location"])
            if _origin(target) != self._url_origin and not self.settings.allow_private:
                # Cross-origin redirects would let a page steer rendering elsewhere (including to
                # private addresses); only the allow_private setting lets them through.
                self.refused.append(f"redirect to another origin refused: {target}")
                return _abort(route)
            # Followed here, never by Chromium: its resolver resolves nothing (wall 2), so a
            # redirect handed to it would fail. The document keeps the first URL's origin.
            url = target
            response = route.fetch(url=target, max_redirects=0, timeout=timeout)
        route.fulfill(response=response)


_FREEZE_JS = """() => {
  const style = document.createElement('style');
  style.textContent = '*, *::before, *::after { animation-play-state: paused !important; transition: none !important; caret-color: transparent !important; }';
  (document.head || document.documentElement).appendChild(style);
  for (const a of document.getAnimations ? document.getAnimations() : []) {
    try { const t = a.effect && a.effect.getComputedTiming(); if (t && isFinite(t.endTime)) a.finish(); else a.cancel(); } catch (e) {}
  }
  if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
}"""


def _abort(route) -> None:
    # 'aborted' (net::ERR_ABORTED) rather than 'failed': a refused navigation (meta refresh, link
    # target) then leaves the current document in place instead of committing an error page.
    _quietly(lambda: route.abort("aborted"))


def _quietly(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - closing a dead page/browser must not mask the real error
        pass
