"""Sealed rendering through the index path (issue 6): `shotdex index` as users run it, a loopback HTTP
server started here that must see zero requests, local files that must stay unread, explicit URLs
limited to their own origin. The toy embedder: the checks read the stored text and screenshots."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reliability_util import TOY, CountingServer, run_cli, source_rows, tile_rows


@pytest.fixture
def server():
    srv = CountingServer()
    yield srv
    srv.close()


@pytest.fixture
def other():
    srv = CountingServer(b"<html><body><h1>Other origin</h1><p>should not be fetched</p></body></html>")
    yield srv
    srv.close()


def _leaky_pages(folder: Path, base: str) -> None:
    """One page per way of reaching the network, so a leak names its channel."""
    folder.mkdir()
    pages = {
        "img": f'<img src="{base}/img.png">',
        "link": f'<link rel=stylesheet href="{base}/style.css"><link rel=preconnect href="{base}">'
                f'<link rel=prefetch href="{base}/prefetch"><link rel=icon href="{base}/favicon.ico">',
        "script": f'<script src="{base}/x.js"></script>',
        "iframe": f'<iframe src="{base}/frame"></iframe>',
        "css-url": f"<style>body {{ background-image: url({base}/bg.png); }}</style>"
                   f'<div style="background:url({base}/inline.png)">x</div>',
        "font": f"<style>@font-face {{ font-family: Leak; src: url({base}/font.woff2); }} p {{ font-family: Leak; }}</style>",
        "refresh": f'<meta http-equiv="refresh" content="0; url={base}/refresh">',
        "fetch": f'<script>fetch("{base}/fetch").catch(() => 0); new Image().src = "{base}/img2.png";'
                 f'navigator.sendBeacon && navigator.sendBeacon("{base}/beacon", "x");</script>',
        "object": f'<object data="{base}/obj"></object><video src="{base}/v.mp4" poster="{base}/p.png"></video>'
                  f'<audio src="{base}/a.mp3" autoplay></audio><embed src="{base}/embed">',
        "svg": f'<svg width=50 height=50><image href="{base}/svgimg.png" width=50 height=50 /></svg>',
        "form": f'<form id=f action="{base}/form" method=post><input name=a value=b></form>'
                f"<script>document.getElementById('f').submit()</script>",
    }
    for name, snippet in pages.items():
        (folder / f"{name}.html").write_text(f"<!DOCTYPE html><html><head><title>{name}</title></head>"
                                             f"<body><p>page {name}</p>{snippet}</body></html>")
    (folder / "remote.vl.json").write_text(
        f'{{"data": {{"url": "{base}/cars.json"}}, "mark": "point",'
        f' "encoding": {{"x": {{"field": "a", "type": "quantitative"}}}}}}')
    (folder / "remote-csv.vl.json").write_text(
        f'{{"data": {{"url": "{base}/data.csv", "format": {{"type": "csv"}}}}, "mark": "bar"}}')
    (folder / "notes.md").write_text(f"# Notes\n\n![pic]({base}/md.png) <img src='{base}/raw.png'>\n")


@pytest.mark.slow
@pytest.mark.parametrize("js", [False, True], ids=["js-off", "js-on"])
def test_index_makes_zero_requests_to_a_loopback_server(tmp_path, server, js):
    pages = tmp_path / "pages"
    _leaky_pages(pages, server.base)
    args = ["index", pages, "--db", tmp_path / "db"] + (["--js"] if js else [])
    p = run_cli(*args, env=dict(TOY, SHOTDEX_JS_TIMEOUT_S="2"), timeout=300)
    time.sleep(0.5)
    assert server.hits == [], server.hits
    rows = source_rows(tmp_path / "db")
    # every page was rendered (the sealing did not just break them) ...
    for name in ("img", "link", "script", "iframe", "css-url", "font", "refresh", "fetch", "object", "svg", "form"):
        row = rows[str(pages / f"{name}.html")]
        if js and name == "form":  # a page that navigates itself away may fail, with a clear reason
            assert row["status"] == "indexed" or "\n" not in row["reason"], row
            continue
        assert row["status"] == "indexed", row
    assert rows[str(pages / "notes.md")]["status"] == "indexed"
    # ... and the Vega-Lite specs are refused, naming the reason
    for spec in ("remote.vl.json", "remote-csv.vl.json"):
        row = rows[str(pages / spec)]
        assert row["status"] == "failed" and "sealed" in row["reason"], row
        assert f"{pages / spec}: remote data is not allowed" in p.stderr
    texts = {r["source"]: r["true_text"] for r in tile_rows(tmp_path / "db", ("source", "true_text"))}
    assert "page refresh" in texts[str(pages / "refresh.html")]  # the refresh did not navigate away


def _blank(img, box) -> bool:
    colors = img.crop(box).getcolors(maxcolors=4)
    return colors is not None and len(colors) == 1


def test_local_files_outside_the_page_folder_stay_unread(tmp_path):
    """file:///etc/passwd in an iframe, <img>, <link>, <object>, and ../../ relative paths: nothing of
    those files reaches the stored text or the stored screenshot; a sibling file in the folder does load
    (so the check can fail)."""
    from shotdex.index.indexer import decode_image

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-7731 root:x:0:0")
    site = tmp_path / "a" / "b" / "site"
    site.mkdir(parents=True)
    (site / "ok.html").write_text("<p style='font:30px sans-serif'>allowed sibling</p>")
    frame = "position:absolute;width:480px;height:200px;border:0"
    (site / "page.html").write_text(f"""<html><head>
<link rel=stylesheet href="file:///etc/passwd"><link rel=stylesheet href="../../../secret.txt"></head>
<body style="margin:0;background:#fff"><p style="margin:0">sealed page</p>
<iframe src="file:///etc/passwd" style="{frame};left:0;top:60px"></iframe>
<iframe src="../../../secret.txt" style="{frame};left:0;top:300px"></iframe>
<iframe src="ok.html" style="{frame};left:520px;top:300px"></iframe>
<object data="file:///etc/passwd" style="{frame};left:0;top:540px"></object>
<img src="file:///etc/passwd" style="position:absolute;left:520px;top:60px;width:200px;height:200px">
<img src="missing.png" style="position:absolute;left:760px;top:60px;width:200px;height:200px">
</body></html>""")
    db = tmp_path / "db"
    p = run_cli("index", site / "page.html", "--db", db, env=TOY)
    assert p.returncode == 0, p.stderr
    rows = tile_rows(db, ("source", "true_text", "text", "image"))
    assert len(rows) == 1
    row = rows[0]
    for field in ("true_text", "text"):
        assert "root:" not in row[field] and "TOPSECRET" not in row[field]
        assert "sealed page" in row[field]
    img = decode_image(row["image"])
    assert _blank(img, (0, 60, 480, 260))  # file:// iframe
    assert _blank(img, (0, 300, 480, 500))  # ../../ iframe
    assert _blank(img, (0, 540, 480, 740))  # file:// object
    assert not _blank(img, (520, 300, 1000, 500))  # the sibling did load
    assert img.crop((520, 60, 720, 260)).tobytes() == img.crop((760, 60, 960, 260)).tobytes()


@pytest.mark.slow
def test_explicit_urls_only_their_own_origin_and_redirects_need_the_flag(tmp_path, server, other):
    """An explicit URL (here on 127.0.0.1) is fetched, but its page cannot pull from another origin;
    a redirect to another origin (here also a loopback address) is refused, and followed only with
    --allow-private."""
    db = tmp_path / "db"
    p = run_cli("index", f"{server.base}/page.html", "--db", db, env=TOY)
    assert p.returncode == 0, p.stderr
    assert "/page.html" in server.hits
    server.redirect_to = f"{other.base}/landing"
    p = run_cli("index", f"{server.base}/away", "--db", db, env=TOY)
    assert p.returncode == 1 and "refused" in p.stderr, p.stderr
    assert f"failed: {server.base}/away: " in p.stderr and p.stderr.count("\n") == 1
    assert other.hits == []
    p = run_cli("index", f"{server.base}/away", "--db", db, "--allow-private", env=TOY)
    assert p.returncode == 0, p.stderr
    assert other.hits == ["/landing"]
    texts = {r["source"]: r["true_text"] for r in tile_rows(db, ("source", "true_text"))}
    assert "Other origin" in texts[f"{server.base}/away"]


@pytest.mark.slow
def test_explicit_url_page_cannot_load_from_another_origin(tmp_path, other):
    body = (f'<html><body><p>hub page</p><img src="{other.base}/img.png"><iframe src="{other.base}/f"></iframe>'
            f'<script src="{other.base}/x.js"></script><link rel=stylesheet href="{other.base}/s.css">'
            f'<img src="file:///etc/passwd"></body></html>').encode()
    hub = CountingServer(body)
    try:
        p = run_cli("index", f"{hub.base}/hub", "--db", tmp_path / "db", "--js", env=TOY)
        assert p.returncode == 0, p.stderr
        assert hub.hits and all(h == "/hub" or h.startswith("/favicon") for h in hub.hits), hub.hits
        assert other.hits == []
        assert "blocked" in p.stderr  # the warning counts the refused requests
    finally:
        hub.close()


def _png(path: Path, color: str) -> None:
    from PIL import Image

    Image.new("RGB", (60, 60), color).save(path)


def _image_spec(url: str, transform: bool = False) -> str:
    import json

    spec = {"data": {"values": [{"u": "" if transform else url, "a": 1}]},
            "mark": {"type": "image", "width": 60, "height": 60},
            "encoding": {"x": {"field": "a", "type": "quantitative"}, "url": {"field": "u"}}}
    if transform:  # the URL exists only once an expression has run
        spec["transform"] = [{"calculate": " + ".join(f"'{c}'" for c in url), "as": "u"}]
    return json.dumps(spec)


def _has_color(img, rgb, min_pixels: int = 100) -> bool:
    return sum(1 for p in img.convert("RGB").getdata() if p == rgb) >= min_pixels


def test_vega_lite_image_marks_stay_inside_the_spec_folder(tmp_path, server):
    """Image marks naming file:///... outside the folder, a loopback http URL, or a URL computed by an
    expression are refused with one line; the loopback server sees nothing and the outside image is
    drawn nowhere; an image beside the spec is drawn (so the checks can fail)."""
    from shotdex.index.indexer import decode_image

    outside = tmp_path / "outside"
    outside.mkdir()
    _png(outside / "secret.png", "red")
    charts = tmp_path / "charts"
    charts.mkdir()
    _png(charts / "ok.png", "blue")
    specs = {
        "file": _image_spec((outside / "secret.png").as_uri()),
        "dotdot": _image_spec("../outside/secret.png"),
        "http": _image_spec(f"{server.base}/x.png"),
        "computed": _image_spec(f"{server.base}/computed.png", transform=True),
        "ok": _image_spec("ok.png"),
    }
    for name, text in specs.items():
        (charts / f"{name}.vl.json").write_text(text)
    db = tmp_path / "db"
    p = run_cli("index", charts, "--db", db, env=TOY, timeout=300)
    time.sleep(0.3)
    assert server.hits == [], server.hits
    rows = source_rows(db)
    for name in ("file", "dotdot", "http", "computed"):
        row = rows[str(charts / f"{name}.vl.json")]
        assert row["status"] == "failed" and "sealed" in row["reason"], row
        assert p.stderr.count(f"failed: {charts / name}.vl.json: ") == 1, p.stderr
    assert rows[str(charts / "ok.vl.json")]["status"] == "indexed"
    images = {r["source"]: decode_image(r["image"]) for r in tile_rows(db, ("source", "image"))}
    assert not any(_has_color(img, (255, 0, 0)) for img in images.values())
    assert _has_color(images[str(charts / "ok.vl.json")], (0, 0, 255))


@pytest.mark.slow
def test_symlinks_out_of_the_given_folders_are_not_followed_unless_asked(tmp_path):
    """A file link to a secret outside the folder and a folder link to an outside folder are skipped
    (one line each, naming --follow-links); a link to a file inside the folder is followed; with
    --follow-links both outside targets are indexed."""
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd.txt").write_text("TOPSECRET root:x:0:0 nologin bash\n")
    (outside / "conf.md").write_text("# outside folder file\n")
    home = tmp_path / "home"
    (home / "sub").mkdir(parents=True)
    (home / "sub" / "real.md").write_text("# inside note\n")
    (home / "notes.txt").symlink_to(outside / "passwd.txt")
    (home / "etc").symlink_to(outside)
    (home / "data.csv").symlink_to(outside / "passwd.txt")
    (home / "inner.md").symlink_to(home / "sub" / "real.md")
    db = tmp_path / "db"
    p = run_cli("index", home, "--db", db, env=TOY)
    assert p.returncode == 0, p.stderr
    rows = source_rows(db)
    assert sorted(rows) == sorted([str(home / "sub" / "real.md"), str(home / "inner.md")]), rows
    for link in ("notes.txt", "etc", "data.csv"):
        line = [ln for ln in p.stderr.splitlines() if f"{home / link}:" in ln]
        assert len(line) == 1 and line[0].startswith("shotdex: ignored: ") and "--follow-links" in line[0], p.stderr
    texts = " ".join(r["true_text"] for r in tile_rows(db, ("true_text",)))
    assert "TOPSECRET" not in texts and "outside folder" not in texts
    p = run_cli("index", home, "--db", db, "--follow-links", env=TOY)
    assert p.returncode == 0, p.stderr
    rows = source_rows(db)
    assert {str(home / "notes.txt"), str(home / "etc" / "conf.md"), str(home / "data.csv")} <= set(rows)
    assert "TOPSECRET" in " ".join(r["true_text"] for r in tile_rows(db, ("true_text",)))


@pytest.mark.slow
def test_webrtc_sends_no_udp_with_js(tmp_path):
    """With --js, a page asking WebRTC for STUN and TURN candidates at a UDP listener on 127.0.0.1
    (started here) gets nothing out: the listener receives zero datagrams."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    try:
        page = tmp_path / "rtc" / "rtc.html"
        page.parent.mkdir()
        page.write_text(f"""<!DOCTYPE html><html><body><p>webrtc page</p><script>
for (const servers of [[{{urls: "stun:127.0.0.1:{port}"}}],
                       [{{urls: "turn:127.0.0.1:{port}?transport=udp", username: "u", credential: "p"}}]]) {{
  try {{
    const pc = new RTCPeerConnection({{iceServers: servers, iceTransportPolicy: "all"}});
    pc.createDataChannel("x");
    pc.createOffer().then(o => pc.setLocalDescription(o)).catch(() => 0);
  }} catch (e) {{ document.body.append(" no webrtc"); }}
}}
</script></body></html>""")
        # a generous JS time limit: ICE gathering runs while the page waits for its load budget
        p = run_cli("index", page.parent, "--db", tmp_path / "db", "--js", env=dict(TOY, SHOTDEX_JS_TIMEOUT_S="3"))
        assert p.returncode == 0, p.stderr
        datagrams = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                datagrams.append(sock.recvfrom(2048))
            except socket.timeout:
                pass
        assert datagrams == [], f"{len(datagrams)} UDP datagrams reached 127.0.0.1:{port}"
        assert "webrtc page" in " ".join(r["true_text"] for r in tile_rows(tmp_path / "db", ("true_text",)))
    finally:
        sock.close()


def test_chromium_writes_nothing_into_the_users_home(tmp_path):
    """Chromium's crash reports and caches (~/.config/chromium/Crash Reports, ~/.cache) go to a
    throw-away folder of shotdex's, removed when the browser closes."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "note.md").write_text("# Note\n\nthe kestrel hovered\n")
    p = run_cli("render", tmp_path / "note.md", "--out", tmp_path / "out", env={"HOME": str(home)})
    assert p.returncode == 0, p.stderr
    assert not (home / ".config" / "chromium").exists() and not (home / ".cache").exists(), list(home.rglob("*"))


@pytest.mark.slow
def test_a_url_that_refuses_the_connection_says_so(tmp_path):
    import socket

    with socket.socket() as s:  # a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = run_cli("index", f"http://127.0.0.1:{port}/page.html", "--db", tmp_path / "db", env=TOY)
    assert p.returncode == 1 and "connection refused" in p.stderr and "ERR_ABORTED" not in p.stderr, p.stderr


def test_a_killed_runs_chromium_folder_is_removed_by_the_next_run(tmp_path):
    """A run killed with -9 cannot remove its throw-away folders (Chromium's, LibreOffice's...); the next
    run removes the folders of processes that are gone, and leaves a live process's folder alone, and
    folders that only look like shotdex's."""
    import shutil
    import subprocess
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="sx-"))  # short: Chromium's sockets under TMPDIR have a path limit
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = subprocess.Popen(["sleep", "60"])
    try:
        (tmp / f"shotdex-chromium-{gone.pid}-abc" / "cache").mkdir(parents=True)
        (tmp / f"shotdex-chromium-{live.pid}-def" / "cache").mkdir(parents=True)
        (tmp / f"shotdex-office-{gone.pid}-ghi" / "profile").mkdir(parents=True)
        (tmp / f"shotdex-notes-{gone.pid}-jkl").mkdir()  # not a kind of shotdex's
        (tmp_path / "note.md").write_text("# Note\n\nthe kestrel hovered\n")
        p = run_cli("render", tmp_path / "note.md", "--out", tmp_path / "out", env={"TMPDIR": str(tmp)})
        assert p.returncode == 0, p.stderr
        assert sorted(x.name for x in tmp.iterdir()) == [f"shotdex-chromium-{live.pid}-def", f"shotdex-notes-{gone.pid}-jkl"]
    finally:
        live.kill()
        live.wait()
        shutil.rmtree(tmp, ignore_errors=True)
