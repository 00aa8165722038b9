"""A database on object storage: a real S3 stand-in (moto's server on 127.0.0.1, started here) holds the
tables and shotdex.json; the CLI indexes, searches, lists and removes there; a Ray run killed with
SIGKILL and run again ends with every source once; bad credentials or a dead endpoint give one line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

moto_server = pytest.importorskip("moto.server", reason="the test extra: pip install 'shotdex[test]'")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
BUCKET = "shotdex-test"
CREDS = dict(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")


@pytest.fixture(scope="module")
def s3():
    """moto's S3 on a free port of 127.0.0.1, with one bucket; stopped after the module."""
    from pyarrow import fs

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = dict(CREDS, AWS_ENDPOINT_URL=f"http://{host}:{port}")
    store = fs.S3FileSystem(region="us-east-1", endpoint_override=f"{host}:{port}", scheme="http",
                            access_key="testing", secret_key="testing", allow_bucket_creation=True)
    store.create_dir(BUCKET)
    try:
        yield env, store
    finally:
        server.stop()


def cli(*args, env, timeout=300):
    e = dict(os.environ, LANCEDB_LOG="error", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
             PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]), SHOTDEX_PLUGINS="toy_embedder",
             SHOTDEX_MODEL="toy", **env)
    return subprocess.run([sys.executable, "-m", "shotdex.cli", *map(str, args)], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd=ROOT)


def _keys(store, prefix):
    from pyarrow import fs

    return [i.path for i in store.get_file_info(fs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True))
            if i.type == fs.FileType.File]


@pytest.mark.slow
def test_index_search_status_remove_on_s3(s3, tmp_path):
    env, store = s3
    db = f"s3://{BUCKET}/lib/db"
    p = cli("index", SAMPLES / "notes", SAMPLES / "tables", "--db", db, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("8 added, 0 updated, 0 unchanged, 0 failed")
    keys = _keys(store, "lib/db")
    # the db's own metadata lives next to its tables, in the store; nothing was made locally
    assert f"{BUCKET}/lib/db/shotdex.json" in keys and any("/tiles_1.lance/" in k for k in keys)
    assert not (ROOT / "s3:").exists()
    p = cli("search", "feeding a sourdough starter", "--db", db, "--paths", env=env)
    assert p.returncode == 0 and p.stdout.splitlines()[0] == str(SAMPLES / "notes" / "sourdough-baking.md"), p.stderr
    st = json.loads(cli("status", "--db", db, "--json", env=env).stdout)
    assert st["db"] == db and st["sources"] == 8 and st["tiles"] >= 8 and st["bytes_on_disk"] > 10_000
    p = cli("remove", SAMPLES / "notes" / "sourdough-baking.md", "--db", db, env=env)
    assert p.returncode == 0 and "removed 1 source" in p.stdout + p.stderr
    st = json.loads(cli("status", "--db", db, "--json", env=env).stdout)
    assert st["sources"] == 7
    hits = cli("search", "feeding a sourdough starter", "--db", db, "--paths", env=env).stdout.splitlines()
    assert str(SAMPLES / "notes" / "sourdough-baking.md") not in hits
    p = cli("index", SAMPLES / "notes", SAMPLES / "tables", "--db", db, env=env)
    assert p.stdout.strip().splitlines()[-1].startswith("1 added, 0 updated, 7 unchanged"), p.stdout + p.stderr


@pytest.mark.slow
def test_a_second_writer_gets_index_locked(s3, monkeypatch):
    env, _ = s3
    db = f"s3://{BUCKET}/locked/db"
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from shotdex.index.lock import Lease
    from shotdex.index.storage import Location

    with Lease(Location(db)):  # a live writer (this process) holds the lease
        p = cli("index", SAMPLES / "notes", "--db", db, env=env)
    assert p.returncode == 5, p.stderr
    assert p.stderr.strip().count("\n") == 0 and "being written by pid" in p.stderr
    p = cli("index", SAMPLES / "notes", "--db", db, env=env)  # released: the next writer gets it
    assert p.returncode == 0, p.stderr


def test_bad_credentials_and_a_dead_endpoint_are_one_line(s3):
    env, _ = s3
    db = f"s3://{BUCKET}/lib/db"
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    for cmd in (["status", "--db", db], ["index", SAMPLES / "notes", "--db", db], ["search", "x", "--db", db]):
        p = cli(*cmd, env=dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{dead}", SHOTDEX_S3_TIMEOUT_S="2"), timeout=120)
        assert p.returncode == 6, (cmd, p.stderr)
        assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
        assert f"127.0.0.1:{dead} does not answer" in p.stderr, p.stderr
    from moto import settings

    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # the server now checks keys: ours are unknown to it
    try:
        for cmd in (["status", "--db", db], ["index", SAMPLES / "notes", "--db", db]):
            p = cli(*cmd, env=dict(env, AWS_SECRET_ACCESS_KEY="wrong"))
            assert p.returncode == 6, (cmd, p.stderr)
            assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
            assert "refused the credentials" in p.stderr, p.stderr
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before


def _corpus(folder: Path, n: int) -> list[str]:
    folder.mkdir()
    out = []
    for i in range(n):
        f = folder / f"note-{i:02}.md"
        f.write_text(f"# Note {i}\n\n" + "\n\n".join(f"Paragraph {j} of note {i}: word{i}x{j}." for j in range(40)))
        out.append(str(f))
    return out


def _state(idx):
    ids = idx.store.tiles.to_arrow().select(["id", "source"]).to_pylist()
    rows = idx.store.source_rows(["status", "tiles"])
    return ids, rows


@pytest.mark.slow
def test_a_killed_ray_run_then_a_rerun_ends_consistent(s3, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    import shotdex

    env, store = s3
    sources = _corpus(tmp_path / "corpus", 8)
    # the Ray workers inherit it: they import this checkout of shotdex and the toy embedder
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        address = ray.get_runtime_context().gcs_address
        db = f"s3://{BUCKET}/killed/db"
        wave = dict(env, SHOTDEX_RAY_WAVE="2")  # four commits, so the kill lands after some and before others
        e = dict(os.environ, LANCEDB_LOG="error", SHOTDEX_PLUGINS="toy_embedder", SHOTDEX_MODEL="toy", **wave)
        proc = subprocess.Popen([sys.executable, "-m", "shotdex.cli", "index", str(tmp_path / "corpus"), "--db", db,
                                 "--ray", address], cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            versions = [k for k in _keys(store, "killed/db/sources.lance/_versions")]
            if len(versions) >= 3:  # created, then at least one wave's rows: the run is between commits
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        killed = shotdex.open(db, model="toy", settings=shotdex.Settings(plugins="toy_embedder"))
        ids, rows = _state(killed)
        assert 0 < len(rows) < len(sources)  # the kill fell in the middle
        for src, row in rows.items():  # what a commit left is whole: each indexed source has all its tiles
            assert row["status"] == "indexed" and sum(1 for t in ids if t["source"] == src) == row["tiles"]

        p = cli("index", tmp_path / "corpus", "--db", db, "--ray", address, env=wave)
        assert p.returncode == 0, p.stderr
        ref = shotdex.open(tmp_path / "ref", model="toy", settings=shotdex.Settings(plugins="toy_embedder"))
        ref.add([tmp_path / "corpus"])
        done = shotdex.open(db, model="toy", settings=shotdex.Settings(plugins="toy_embedder"))
        ids, rows = _state(done)
        ref_ids, _ = _state(ref)
        assert sorted(rows) == sorted(sources) and all(r["status"] == "indexed" for r in rows.values())
        assert len(ids) == len({t["id"] for t in ids})  # no tile twice
        assert {t["id"] for t in ids} == {t["id"] for t in ref_ids}  # none missing, none extra
        assert done.store.pending() == set()
    finally:
        ray.shutdown()
