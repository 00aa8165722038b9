"""The Ray runner on a real local Ray instance (2 CPUs, one per module): the same stages as the local
runner, so the same tiles, the same vectors, the same search results and the same incremental plan."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'shotdex[ray]'")

import shotdex  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ENV = dict(LANCEDB_LOG="error", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray instance for the module. Its workers inherit PYTHONPATH from this process, so
    they import this checkout of shotdex (and the tests' toy embedder), not an installed one."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")] + ([old] if old else []))
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _tiles(idx) -> dict[str, tuple]:
    t = idx.store.tiles.to_arrow().select(["id", "source", "text", "vector"]).to_pylist()
    return {r["id"]: (r["source"], r["text"], tuple(round(x, 5) for x in r["vector"])) for r in t}


def _hits(idx, q):
    return [(h.tile_id, round(h.score, 5)) for h in idx.search(q, k=5, tiles=True)]


QUERIES = ["monthly rainfall in Bergen 2023", "Nordic capital cities", "feeding a sourdough starter",
           "volcano field guide", "tea brewing temperature"]


@pytest.mark.slow
def test_ray_indexes_samples_like_the_local_runner(ray_address, tmp_path):
    corpus = tmp_path / "samples"
    shutil.copytree(SAMPLES, corpus)
    local = shotdex.open(tmp_path / "local")
    on_ray = shotdex.open(tmp_path / "ray")
    events = []
    r_local = local.add([corpus])
    r_ray = on_ray.add([corpus], runner="ray", progress=events.append)
    assert r_ray.failed == r_local.failed and r_ray.ok, (r_ray.failed, r_local.failed)
    assert sorted(r_ray.added) == sorted(r_local.added) and r_ray.tiles == r_local.tiles > 20
    # the progress display is fed the same way: a start, tiles as they are written, sources at the commit
    assert events[0].sources_done == 0 and events[-1].sources_done == len(r_ray.added)
    assert max(e.tiles_done for e in events) == r_ray.tiles
    a, b = _tiles(local), _tiles(on_ray)
    assert a.keys() == b.keys()  # the same tile ids
    assert a == b  # and the same text and vectors in them
    for q in QUERIES:
        assert _hits(on_ray, q) == _hits(local, q), q
    sources = on_ray.sources()
    assert {s.source: s.tiles for s in sources} == {s.source: s.tiles for s in local.sources()}

    # incremental: nothing to do again; a changed note is replaced in one commit, an added one added
    assert on_ray.add([corpus], runner="ray").unchanged == r_ray.added
    note = corpus / "notes" / "sourdough-baking.md"
    note.write_text(note.read_text() + "\n\nA rye variant: feed the starter twice a day.\n")
    (corpus / "notes" / "new-note.md").write_text("# Cloudberry jam\n\nCook the berries slowly.\n")
    r2 = on_ray.add([corpus], runner="ray")
    l2 = local.add([corpus])
    assert r2.updated == l2.updated == [str(note)] and r2.added == l2.added == [str(corpus / "notes" / "new-note.md")]
    assert _tiles(on_ray) == _tiles(local)  # the old tiles of the changed note are gone
    assert _hits(on_ray, "cloudberry jam") == _hits(local, "cloudberry jam")
    local.close()
    on_ray.close()


@pytest.mark.slow
def test_a_failing_source_is_reported_as_the_local_runner_does(ray_address, tmp_path):
    (tmp_path / "in").mkdir()
    good = tmp_path / "in" / "ok.md"
    good.write_text("# Fine\n\nA note that renders.\n")
    bad = tmp_path / "in" / "broken.csv"
    bad.write_bytes(bytes(range(256)) * 40)
    r = shotdex.open(tmp_path / "db", model="toy", settings=shotdex.Settings(plugins="toy_embedder")).add(
        [tmp_path / "in"], runner="ray")
    local = shotdex.open(tmp_path / "db2", model="toy", settings=shotdex.Settings(plugins="toy_embedder")).add(
        [tmp_path / "in"])
    assert r.added == local.added == [str(good)]
    assert [s for s, _ in r.failed] == [s for s, _ in local.failed] == [str(bad)]
    assert r.failed[0][1] == local.failed[0][1]


@pytest.mark.slow
def test_cli_joins_a_cluster_by_address(ray_address, tmp_path):
    env = dict(os.environ, **ENV, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
               SHOTDEX_PLUGINS="toy_embedder", SHOTDEX_MODEL="toy")
    cmd = [sys.executable, "-m", "shotdex.cli", "index", str(SAMPLES / "notes"), "--db", str(tmp_path / "db"), "--ray",
           ray_address]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1].startswith("3 added, 0 updated")
    p = subprocess.run([sys.executable, "-m", "shotdex.cli", "search", "sourdough", "--db", str(tmp_path / "db"),
                        "--paths", "--no-server"], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert p.stdout.splitlines()[0].endswith("sourdough-baking.md"), p.stdout + p.stderr


def test_a_missing_ray_is_one_line_naming_the_extra(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "from shotdex.cli import main\n"
            f"sys.argv = ['shotdex', 'index', {str(SAMPLES / 'notes')!r}, '--db', {str(tmp_path / 'db')!r}, '--ray']\n"
            "main()\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       env=dict(os.environ, **ENV, PYTHONPATH=str(ROOT)), timeout=120)
    assert p.returncode == 3, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'shotdex[ray]'" in lines[0], p.stderr
    assert not (tmp_path / "db").exists()  # nothing was made


@pytest.mark.parametrize("form", ["{}", "ray://{}"])
def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path, form):
    """Ray itself would retry for a minute or more, printing warnings; shotdex asks the port first."""
    import socket

    with socket.socket() as s:  # a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        address = form.format(f"127.0.0.1:{s.getsockname()[1]}")
    cmd = [sys.executable, "-m", "shotdex.cli", "index", str(SAMPLES / "notes"), "--db", str(tmp_path / "db"), "--ray", address]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60,
                       env=dict(os.environ, **ENV, PYTHONPATH=str(ROOT), SHOTDEX_PLUGINS="toy_embedder", SHOTDEX_MODEL="toy"))
    assert p.returncode == 3, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot connect to the Ray cluster at {address}: nothing answers there" in lines[0], p.stderr
    assert not (tmp_path / "db").exists()


def test_import_and_the_local_path_load_neither_ray_nor_an_s3_client(tmp_path):
    code = (
        "import sys, shotdex\n"
        f"idx = shotdex.open({str(tmp_path / 'db')!r}, model='toy', settings=shotdex.Settings(plugins='toy_embedder'))\n"
        f"assert idx.add([{str(SAMPLES / 'notes')!r}]).ok\n"
        "assert idx.search('sourdough', k=1)\n"
        "print([m for m in ('ray', 'lance_ray', 'boto3', 'botocore', 'moto') if m in sys.modules])\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, **ENV, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")])))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


@pytest.mark.parametrize("cpus", [1, 2, 3, 4, 7, 16, 64])
def test_actor_plan_fits_the_cluster(cpus):
    """Every CPU gets a read actor, every four a render actor (at least one), and all of them fit."""
    from shotdex.index.ray_runner import plan_actors

    render, read, each = plan_actors(cpus)
    assert read == cpus and render == max(1, cpus // 4)
    assert (render + read) * each <= cpus + 1e-9 and 0 < each <= 1.0
