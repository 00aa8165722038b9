"""`shotdex serve`: the JSON API, its errors, its safety walls, the CLI through a running server, and the
page driven in real Chromium. A real uvicorn on 127.0.0.1 (a free port) over a real LanceDB on disk."""

import base64
import dataclasses
import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

import shotdex
from shotdex.serve.client import RECORD
from shotdex.serve.server import start

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TOY = shotdex.Settings(plugins="toy_embedder", model="toy")
TOY_ENV = {"SHOTDEX_PLUGINS": "toy_embedder", "SHOTDEX_MODEL": "toy"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    c = root / "corpus"
    c.mkdir()
    for rel in ("notes/sourdough-baking.md", "notes/kayak-trip-lofoten.md", "notes/meeting-garden-allotment.md",
                "tables/nordic_capitals.csv", "tables/coffee_exports_2022.csv", "docs/lighthouse-keepers.txt"):
        shutil.copy(SAMPLES / rel, c)
    (c / "gone.md").write_text("# Gone\n\nThis note about glaciers is deleted after indexing.\n")
    (c / "junk.csv").write_bytes(bytes(range(256)) * 40)
    idx = shotdex.open(db=root / "db", settings=TOY)
    report = idx.add([c])
    assert len(report.failed) == 1 and len(report.added) == 7, report
    (c / "gone.md").unlink()
    return idx, c


@pytest.fixture(scope="module")
def server(corpus):
    idx, _ = corpus
    running = start(idx, port=0)
    yield running
    running.stop()


def call(server, method, path, body=None, headers=None, port=None):
    conn = http.client.HTTPConnection("127.0.0.1", port or server.port, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def get_json(server, path, **kw):
    status, headers, data = call(server, "GET", path, **kw)
    assert headers["content-type"].startswith("application/json"), (status, data[:200])
    return status, json.loads(data)


def as_rows(hits):
    return [dataclasses.asdict(h) for h in hits]


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def multipart(fields: dict, file_bytes: bytes, name="image", filename="q.png"):
    boundary = "shotdexBoundary7MA4YWxk"
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + file_bytes + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# -- the JSON API ---------------------------------------------------------------------------------

def test_get_search_gives_the_librarys_hits(server, corpus):
    idx, c = corpus
    status, body = get_json(server, "/api/search?" + urlencode({"q": "sourdough starter", "k": 3}))
    assert status == 200
    assert body["hits"] == as_rows(idx.search("sourdough starter", k=3))
    assert Path(body["hits"][0]["source"]).name == "sourdough-baking.md"
    # the same fields as `shotdex search --json`
    assert list(body["hits"][0]) == [f.name for f in dataclasses.fields(shotdex.Hit)]
    # kind (repeatable and comma list), where, tiles
    _, body = get_json(server, "/api/search?" + urlencode([("q", "capital cities"), ("kind", "table"), ("k", 5)]))
    assert body["hits"] and {h["kind"] for h in body["hits"]} == {"table"}
    assert body["hits"] == as_rows(idx.search("capital cities", k=5, kind=["table"]))
    _, both = get_json(server, "/api/search?" + urlencode({"q": "capital cities", "kind": "table,text", "k": 10}))
    assert {h["kind"] for h in both["hits"]} == {"table", "text"}
    _, tiles = get_json(server, "/api/search?" + urlencode({"q": "coffee", "tiles": "1", "where": "page = 0", "k": 4}))
    assert tiles["hits"] == as_rows(idx.search("coffee", k=4, tiles=True, where="page = 0"))


def test_post_search_with_an_image_multipart_and_json(server, corpus):
    idx, _ = corpus
    tid = idx.search("lighthouse keepers", k=1)[0].tile_id
    img, _ = idx.tile_images([tid])[tid]
    want = as_rows(idx.search(image=img, k=4))
    data, headers = multipart({"k": "4"}, png_bytes(img))
    status, _, out = call(server, "POST", "/api/search", data, headers)
    assert status == 200 and json.loads(out)["hits"] == want
    body = json.dumps({"image": base64.b64encode(png_bytes(img)).decode(), "k": 4}).encode()
    status, _, out = call(server, "POST", "/api/search", body, {"Content-Type": "application/json"})
    assert status == 200 and json.loads(out)["hits"] == want
    # more like this: a tile id stands for its stored image
    _, like = get_json(server, f"/api/search?like={tid}&k=4")
    assert like["hits"] == want
    # JSON may carry a text query too
    body = json.dumps({"q": "sourdough", "k": 2}).encode()
    status, _, out = call(server, "POST", "/api/search", body, {"Content-Type": "application/json"})
    assert json.loads(out)["hits"] == as_rows(idx.search("sourdough", k=2))


def test_tiles_sources_and_status_come_from_the_index(server, corpus):
    from PIL import Image

    idx, c = corpus
    hit = idx.search("sourdough starter", k=1)[0]
    stored, words = idx.tile_images([hit.tile_id])[hit.tile_id]
    status, headers, data = call(server, "GET", f"/api/tiles/{hit.tile_id}")
    assert status == 200 and headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == stored.convert("RGB").tobytes()
    # with a query: the matched words outlined in red, as --show draws them
    status, headers, data = call(server, "GET", f"/api/tiles/{hit.tile_id}?q=sourdough")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    outlined = Image.open(io.BytesIO(data)).convert("RGB")
    box = next(w for w in words if w[0].lower().strip(".,:") == "sourdough")
    x, y = box[1] - 2, box[2] + box[4] // 2  # the outline's left edge, half-way down
    r, g, b = outlined.getpixel((x, y))
    assert r > 180 and g < 110 and b < 110, (r, g, b)
    assert stored.convert("RGB").getpixel((x, y)) != (r, g, b)
    _, _, thumb = call(server, "GET", f"/api/tiles/{hit.tile_id}?w=480")
    assert Image.open(io.BytesIO(thumb)).width == 480

    src = str(c / "sourdough-baking.md")
    status, view = get_json(server, "/api/sources/" + quote(src, safe=""))
    assert status == 200 and view["source"] == src and view["status"] == "indexed" and view["kind"] == "text"
    rows = idx.store.tiles.search().where(f"source = '{src}'").select(["id", "page", "tile"]).to_list()
    assert [t["id"] for t in view["tiles"]] == [r["id"] for r in sorted(rows, key=lambda r: (r["page"], r["tile"]))]
    # a failed source: its status and reason
    _, junk = get_json(server, "/api/sources/" + quote(str(c / "junk.csv"), safe=""))
    assert junk["status"] == "failed" and junk["reason"] and junk["tiles"] == []
    # a source whose file is gone is still served: rows from the index, never the disk
    _, gone = get_json(server, "/api/sources/" + quote(str(c / "gone.md"), safe=""))
    assert gone["status"] == "indexed" and len(gone["tiles"]) == 1
    assert call(server, "GET", f"/api/tiles/{gone['tiles'][0]['id']}")[0] == 200

    _, st = get_json(server, "/api/status")
    assert st == json.loads(json.dumps(dataclasses.asdict(idx.stats())))
    assert st["failed"][0]["source"].endswith("junk.csv") and st["by_kind"]["table"]["sources"] == 2


@pytest.mark.parametrize("path,status,needle", [
    ("/api/search?q=x&where=" + quote("nonsense =="), 400, "where filter"),
    ("/api/search?q=", 400, "empty"),
    ("/api/search?q=%20%20", 400, "empty"),
    ("/api/search", 400, "exactly one"),
    ("/api/search?q=x&k=abc", 400, "k must"),
    ("/api/search?q=x&k=0", 400, "k must"),
    ("/api/search?q=x&tiles=maybe", 400, "tiles"),
    ("/api/search?like=0123456789abcdef01234567", 404, "no tile"),
    ("/api/tiles/0123456789abcdef01234567", 404, "no tile"),
    ("/api/tiles/not-a-tile", 404, "no tile"),
    ("/api/sources/" + quote("/no/such/source.md", safe=""), 404, "no source"),
    ("/api/nothing-here", 404, "Not Found"),
])
def test_get_errors_are_json_with_4xx(server, path, status, needle):
    got, body = get_json(server, path)
    assert got == status and needle in body["error"], body


@pytest.mark.parametrize("body,ctype,needle", [
    (b'{"image": "***not base64***"}', "application/json", "base64"),
    (json.dumps({"image": base64.b64encode(b"not an image at all").decode()}).encode(), "application/json", "not a readable image"),
    (b"{not json", "application/json", "JSON"),
    (b'{"k": 3}', "application/json", "exactly one"),
    (b"q=x", "application/x-www-form-urlencoded", "multipart"),
])
def test_post_errors_are_json_with_400(server, body, ctype, needle):
    status, _, data = call(server, "POST", "/api/search", body, {"Content-Type": ctype})
    assert status == 400 and needle in json.loads(data)["error"]


def test_multipart_without_an_image_or_with_a_bad_one(server):
    data, headers = multipart({"k": "3"}, b"GIF89a broken", filename="x.gif")
    status, _, out = call(server, "POST", "/api/search", data, headers)
    assert status == 400 and "not a readable image" in json.loads(out)["error"]
    data, headers = multipart({"k": "3"}, b"", name="other")
    status, _, out = call(server, "POST", "/api/search", data, headers)
    assert status == 400 and "no image" in json.loads(out)["error"]


def test_docs_list_every_api_endpoint(server):
    status, _, page = call(server, "GET", "/docs")
    text = page.decode()
    assert status == 200
    for route in ("/api/search", "/api/tiles/{tile_id}", "/api/sources/{source:path}", "/api/status"):
        assert route in text
    assert "GET,HEAD" in text or "GET" in text and "POST" in text


def test_page_errors_are_shown_with_4xx(server):
    status, headers, page = call(server, "GET", "/?" + urlencode({"q": "x", "where": "nonsense =="}))
    assert status == 400 and headers["content-type"].startswith("text/html") and b"where filter" in page
    status, _, page = call(server, "GET", "/?like=0123456789abcdef01234567")
    assert status == 404 and b"no tile" in page
    data, headers = multipart({"k": "3"}, b"not an image")
    status, _, page = call(server, "POST", "/", data, headers)
    assert status == 400 and b"not a readable image" in page
    status, _, page = call(server, "GET", "/source?" + urlencode({"s": "/no/such.md"}))
    assert status == 404 and b"no source" in page


@pytest.mark.slow
def test_render_query_through_the_server_also_at_once(server, corpus):
    idx, _ = corpus
    texts = ["Nordic capitals", "sourdough starter", "kayak packing list"]
    want = {t: as_rows(idx.search(t, k=3, render_query=True)) for t in texts}
    got, errors = {}, []

    def ask(t):
        try:
            got[t] = get_json(server, "/api/search?" + urlencode({"q": t, "k": 3, "render_query": "1"}))[1]["hits"]
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors and got == want


def test_a_record_of_another_db_or_a_dead_address_is_ignored(server, corpus, tmp_path):
    from shotdex.serve.client import find_server, write_record

    idx, _ = corpus
    assert find_server(idx.store.folder)["url"] == server.url
    other = tmp_path / "other-db"
    other.mkdir()
    write_record(other, url=server.url, model="toy", token=False)  # a live server, but of another db
    assert find_server(other) is None
    write_record(other, url="http://127.0.0.1:9/", model="toy", token=False)  # a live pid, nothing listening
    assert find_server(other) is None
    (other / RECORD).write_text("{not json")
    assert find_server(other) is None


# -- safety ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/tiles/../../../../etc/passwd",
    "/api/tiles/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/sources/%2Fetc%2Fpasswd",
    "/api/sources//etc/passwd",
    "/api/sources/../../../../etc/passwd",
    "/static/..%2F..%2F..%2Fpyproject.toml",
    "/static/../../pyproject.toml",
    "/static/%2E%2E%2Fapp.py",
    "/static/app.py",
    "/source?s=/etc/passwd",
    "/source?s=" + quote(str(ROOT / "pyproject.toml")),
])
def test_path_traversal_reads_no_file(server, path):
    status, _, data = call(server, "GET", path)
    assert status == 404, (status, data[:200])
    assert b"root:" not in data and b"[project]" not in data and b"import" not in data


def test_foreign_host_is_refused(server):
    for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.1.nip.io", f"192.168.1.5:{server.port}"):
        status, _, data = call(server, "GET", "/api/status", headers={"Host": host})
        assert status == 400 and "Host" in json.loads(data)["error"], host
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        assert call(server, "GET", "/api/status", headers={"Host": host})[0] == 200


def test_cross_site_posts_are_refused_and_pages_load_only_from_the_server(server):
    body = json.dumps({"q": "sourdough"}).encode()
    status, _, data = call(server, "POST", "/api/search", body, {"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert status == 403
    status, _, _ = call(server, "POST", "/api/search", body,
                        {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{server.port}"})
    assert status == 200
    _, headers, _ = call(server, "GET", "/")
    assert "default-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"


def test_non_loopback_bind_needs_a_token(corpus, monkeypatch):
    from shotdex.errors import ServeError
    from shotdex.serve.server import check_bind

    monkeypatch.delenv("SHOTDEX_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(ServeError, match="--token"):
            check_bind(host, None)
    assert check_bind("0.0.0.0", "s3cret") == "s3cret"
    monkeypatch.setenv("SHOTDEX_TOKEN", "from-env")
    assert check_bind("0.0.0.0", None) == "from-env"
    assert check_bind("127.0.0.1", None) == "from-env"  # asked for: required on loopback too
    # the command refuses before it binds anything
    env = dict(os.environ, **TOY_ENV, PYTHONPATH=str(Path(__file__).parent), LANCEDB_LOG="error")
    env.pop("SHOTDEX_TOKEN", None)
    p = subprocess.run([sys.executable, "-m", "shotdex.cli", "serve", "--db", str(corpus[0].store.folder), "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "--token" in p.stderr


def test_with_a_token_every_request_must_carry_it(corpus):
    idx, _ = corpus
    running = start(idx, port=0, token="s3cret-token", record=False)
    try:
        p = running.port
        for path in ("/api/status", "/", "/static/style.css", "/api/health"):
            assert call(running, "GET", path, port=p)[0] == 401
        assert call(running, "GET", "/api/status", headers={"Authorization": "Bearer wrong"}, port=p)[0] == 401
        status, headers, _ = call(running, "GET", "/api/status", headers={"Authorization": "Bearer s3cret-token"}, port=p)
        assert status == 200 and "set-cookie" not in headers
        assert call(running, "GET", "/api/status", headers={"X-Shotdex-Token": "s3cret-token"}, port=p)[0] == 200
        status, headers, _ = call(running, "GET", "/?token=s3cret-token", port=p)
        assert status == 200 and "HttpOnly" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert call(running, "GET", "/api/status", headers={"Cookie": cookie}, port=p)[0] == 200
    finally:
        running.stop()


def test_oversized_upload_is_refused(corpus):
    idx, _ = corpus
    running = start(idx, port=0, max_body=50_000, record=False)
    try:
        big = os.urandom(80_000)
        data, headers = multipart({"k": "3"}, big)
        status, _, out = call(running, "POST", "/api/search", data, headers, port=running.port)
        assert status == 413 and "limit" in json.loads(out)["error"]
        # no Content-Length (chunked): counted as it arrives
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
        conn.request("POST", "/api/search", body=iter([data[i:i + 8192] for i in range(0, len(data), 8192)]),
                     headers=headers, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and "limit" in json.loads(resp.read())["error"]
        conn.close()
        # the page's upload form too
        status, _, _ = call(running, "POST", "/", data, headers, port=running.port)
        assert status == 413
        # a small upload still works
        small, headers = multipart({"k": "2"}, png_bytes(idx.tile_images([idx.search("kayak", k=1)[0].tile_id]).popitem()[1][0].resize((200, 150))))
        assert call(running, "POST", "/api/search", small, headers, port=running.port)[0] == 200
    finally:
        running.stop()


def test_concurrent_searches_give_the_sequential_answers(server, corpus):
    idx, _ = corpus
    queries = ["sourdough starter", "capital cities", "kayak", "coffee exports", "lighthouse", "garden allotment"]
    want = {q: as_rows(idx.search(q, k=3)) for q in queries}
    tid = idx.search("kayak", k=1)[0].tile_id
    want_like = as_rows(idx.search(image=idx.tile_images([tid])[tid][0], k=3))
    errors, results = [], []

    def client(n):
        try:
            for i in range(6):
                q = queries[(n + i) % len(queries)]
                if (n + i) % 4 == 0:
                    _, body = get_json(server, f"/api/search?like={tid}&k=3")
                    results.append(body["hits"] == want_like)
                else:
                    _, body = get_json(server, "/api/search?" + urlencode({"q": q, "k": 3}))
                    results.append(body["hits"] == want[q])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 48 and all(results)


# -- the CLI through a running server -------------------------------------------------------------

def _cli(*args, env=None, timeout=300):
    e = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).parent))
    e.pop("SHOTDEX_TOKEN", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "shotdex.cli", *map(str, args)], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=ROOT)


def test_serve_refuses_a_missing_index_and_a_busy_port(tmp_path, corpus):
    import socket

    p = _cli("serve", "--db", tmp_path / "nothing", "--port", "0", env=TOY_ENV)
    assert p.returncode == 2 and "no index at" in p.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        p = _cli("serve", "--db", corpus[0].store.folder, "--port", busy.getsockname()[1], env=TOY_ENV)
    assert p.returncode == 2 and "cannot listen" in p.stderr and "--port" in p.stderr


def test_sigterm_stops_serve_cleanly(tmp_path, corpus):
    db = tmp_path / "db"
    shutil.copytree(corpus[0].store.folder, db)
    (db / RECORD).unlink(missing_ok=True)
    env = dict(os.environ, LANCEDB_LOG="error", PYTHONPATH=str(Path(__file__).parent), **TOY_ENV)
    proc = subprocess.Popen([sys.executable, "-m", "shotdex.cli", "serve", "--db", str(db), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert proc.stderr.readline().startswith("shotdex serve: http://127.0.0.1:")
        assert (db / RECORD).exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0 and "stopped" in proc.stderr.read() and not (db / RECORD).exists()


@pytest.mark.slow
def test_cli_search_through_a_running_server(tmp_path):
    c = tmp_path / "c"
    c.mkdir()
    for rel in ("notes/sourdough-baking.md", "notes/kayak-trip-lofoten.md", "tables/nordic_capitals.csv"):
        shutil.copy(SAMPLES / rel, c)
    db = tmp_path / "db"
    assert _cli("index", c, "--db", db, env=TOY_ENV).returncode == 0
    # a stale record (its process is gone) is ignored
    (db / RECORD).write_text(json.dumps({"url": "http://127.0.0.1:9/", "pid": 2**22 + 12345, "db": str(db), "model": "toy", "token": False}))
    local = _cli("search", "sourdough starter", "--db", db, "--json", env=TOY_ENV)
    assert local.returncode == 0 and "sourdough-baking.md" in local.stdout.splitlines()[0]

    env = dict(os.environ, LANCEDB_LOG="error", PYTHONPATH=str(Path(__file__).parent), **TOY_ENV)
    env.pop("SHOTDEX_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "shotdex.cli", "serve", "--db", str(db), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stderr.readline()
        assert line.startswith("shotdex serve: http://127.0.0.1:"), line
        url = line.split()[2]
        assert json.loads((db / RECORD).read_text())["url"] == url
        # Without the toy plugin the local path cannot even load the index's embedder: an answer
        # proves the query went through the server; --no-server then proves the local path.
        plain = {"SHOTDEX_PLUGINS": "", "SHOTDEX_MODEL": ""}
        for args in (["sourdough starter", "--json"], ["capital cities", "--kind", "table", "--json"],
                     ["kayak", "--tiles", "-k", "2", "--json"], ["sourdough starter"]):
            remote = _cli("search", *args, "--db", db, env=plain)
            assert remote.returncode == 0, remote.stderr
            here = _cli("search", *args, "--db", db, "--no-server", env=TOY_ENV)
            assert remote.stdout == here.stdout and remote.stdout.strip()
        assert _cli("search", "sourdough", "--db", db, "--no-server", env=plain).returncode != 0
        # the path through the server loads none of the heavy modules (that is what makes it fast)
        code = ("import sys, shotdex.cli\nfrom typer.testing import CliRunner\n"
                f"r = CliRunner().invoke(shotdex.cli.app, ['search', 'sourdough', '--db', {str(db)!r}, '--json'])\n"
                "assert r.exit_code == 0 and 'sourdough-baking.md' in r.output, r.output\n"
                "print([m for m in ('torch', 'transformers', 'lancedb', 'pyarrow', 'playwright', 'fastapi', 'uvicorn') if m in sys.modules])")
        light = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                               env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent), SHOTDEX_PLUGINS=""))
        assert light.returncode == 0 and light.stdout.strip() == "[]", light.stdout + light.stderr
        # errors read the same either way
        remote = _cli("search", "x", "--where", "nonsense ==", "--db", db, env=plain)
        here = _cli("search", "x", "--where", "nonsense ==", "--db", db, "--no-server", env=TOY_ENV)
        assert remote.returncode == here.returncode == 2 and remote.stderr == here.stderr
        # an image query goes as bytes
        img = tmp_path / "q.png"
        idx = shotdex.open(db=db, settings=TOY)
        tid = idx.search("kayak", k=1)[0].tile_id
        idx.tile_images([tid])[tid][0].save(img)
        remote = _cli("search", "--image", img, "--db", db, "--json", env=plain)
        here = _cli("search", "--image", img, "--db", db, "--json", "--no-server", env=TOY_ENV)
        assert remote.returncode == 0 and remote.stdout == here.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(30)
    assert rc == 0 and "stopped" in proc.stderr.read()
    assert not (db / RECORD).exists()


# -- the page in real Chromium --------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from shotdex.render.browser import find_chromium, use_sandbox

    s = shotdex.Settings()
    with sync_playwright() as pw:
        sandbox = use_sandbox(s)
        b = pw.chromium.launch(executable_path=find_chromium(), headless=True, chromium_sandbox=sandbox,
                               args=["--disable-gpu", "--no-first-run", "--disable-background-networking",
                                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
                               + ([] if sandbox else ["--no-sandbox"]))
        yield b
        b.close()


class PageLog:
    def __init__(self, page, base):
        self.base, self.errors, self.outside = base, [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:")) else self.outside.append(r.url))


def _all_images_loaded(page) -> bool:
    return page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


@pytest.mark.slow
def test_the_page_in_chromium(server, corpus, browser, tmp_path):
    idx, c = corpus
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    log = PageLog(page, server.url.rstrip("/"))
    page.goto(server.url)
    # type a query: the expected sample first, its thumbnail drawn, the state in the URL
    page.fill("#q", "sourdough starter")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .hit")
    first = page.locator("#results .hit").first
    assert first.get_attribute("data-source") == str(c / "sourdough-baking.md")
    assert "q=sourdough+starter" in page.url
    page.wait_for_load_state("networkidle")
    assert _all_images_loaded(page)
    want = idx.search("sourdough starter", k=10)
    assert [h.get_attribute("data-tile") for h in page.locator("#results .hit").all()] == [h.tile_id for h in want]
    # a bookmark of that URL gives the same page
    page.goto(page.url)
    assert page.locator("#results .hit").first.get_attribute("data-source") == str(c / "sourdough-baking.md")
    # its source view: every tile in order, the hit highlighted, path and status
    first = page.locator("#results .hit").first
    tile_id = first.get_attribute("data-tile")
    first.locator("a.open").click()
    page.wait_for_selector("#source-path")
    assert page.inner_text("#source-path") == str(c / "sourdough-baking.md")
    assert page.inner_text("#source-status") == "indexed"
    assert page.locator(".tile.hit-tile").get_attribute("id") == f"t-{tile_id}"
    page.wait_for_load_state("networkidle")
    assert _all_images_loaded(page)
    # an image query by upload (the form submits itself)
    tid = idx.search("lighthouse keepers", k=1)[0].tile_id
    img = idx.tile_images([tid])[tid][0]
    img.save(tmp_path / "query.png")
    page.goto(server.url)
    page.set_input_files("#image", str(tmp_path / "query.png"))
    page.wait_for_selector("#results .hit")
    assert [h.get_attribute("data-tile") for h in page.locator("#results .hit").all()] == [h.tile_id for h in idx.search(image=img, k=10)]
    # "more like this" on the first text hit
    page.goto(server.url + "?" + urlencode({"q": "capital cities"}))
    hit = page.locator("#results .hit").first
    like_tile = hit.get_attribute("data-tile")
    hit.locator("a.like").click()
    page.wait_for_selector("#results .hit")
    assert f"like={like_tile}" in page.url
    like_img = idx.tile_images([like_tile])[like_tile][0]
    assert [h.get_attribute("data-tile") for h in page.locator("#results .hit").all()] == [h.tile_id for h in idx.search(image=like_img, k=10)]
    # a pasted image searches too
    data = base64.b64encode(png_bytes(img)).decode()
    page.goto(server.url)
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
        const dt = new DataTransfer(); dt.items.add(new File([bytes], 'pasted.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
    }""", data)
    page.wait_for_selector("#results .hit")
    assert page.locator("#results .hit").first.get_attribute("data-tile") == idx.search(image=img, k=1)[0].tile_id
    # a dropped image too
    page.goto(server.url + "?" + urlencode({"q": "kayak"}))
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
        const dt = new DataTransfer(); dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
        document.querySelector('main').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", data)
    page.wait_for_selector(".query-image")
    assert [h.get_attribute("data-tile") for h in page.locator("#results .hit").all()] == [h.tile_id for h in idx.search(image=img, k=10)]
    # status view
    page.goto(server.url + "status")
    assert "junk.csv" in page.inner_text("#failed") and "table" in page.inner_text("#by-kind")
    # load more: k grows by ten
    page.goto(server.url + "?" + urlencode({"q": "the", "k": 2}))
    page.click("#more")
    page.wait_for_selector("#r3")
    assert "k=12" in page.url and page.locator("#results .hit").count() > 2
    page.wait_for_load_state("networkidle")
    assert log.errors == [] and log.outside == []
    context.close()


def test_the_page_fits_a_phone_and_follows_a_dark_theme(server, browser):
    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="dark")
    page = context.new_page()
    page.goto(server.url + "?" + urlencode({"q": "sourdough starter"}))
    page.wait_for_selector("#results .hit")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    card = page.locator("#results .hit").first.bounding_box()
    assert card["width"] <= 375 and card["width"] > 300  # one column
    bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    r, g, b = [int(x) for x in bg[bg.index("(") + 1 : bg.index(")")].split(",")[:3]]
    assert r + g + b < 150, bg
    context.close()
