"""The Ray runner: the pipeline's stages (pipeline.py) mapped over a Ray cluster with Ray Data.

    driver: discover + plan (indexer.py)
    Ray Data: render + encode   actors, one Chromium each              (RenderStage, EncodeStage)
           -> read + embed      actors, one OCR engine + one model each (ReadStage, EmbedStage)
           -> write             tasks: the tile rows as Lance fragments (lance-ray's write_fragment)
    driver: WriteStage.prepare, then one Lance commit of every fragment (Store.commit_fragments) and the
            sources' rows, exactly as the local runner's WriteStage does for its own rows

Tiles leave the render actors as lossless WebP (the bytes that are stored), so a tile crosses the
cluster as ~40 KB, not as 2.4 MB of pixels; the read actor decodes it (identical pixels). Only fragment
metadata and one small summary per source reach the driver. Sources go through in waves of
Settings.ray_wave (2,000), each one commit: a run killed mid-wave leaves the tables as the last commit left them
(its fragments are written but belong to no version: never read). Ray is imported here only.
"""

from __future__ import annotations

import pickle
import threading
from typing import Callable

from ..errors import SetupError
from .pipeline import SourceDone, SourceJob, TileRow, WriteStage

__all__ = ["run_ray", "connect", "RAY_EXTRA"]

RAY_EXTRA = "pip install 'shotdex[ray]'"
FRAGMENT_TILES = 256  # tiles per Lance fragment (~10 MB of WebP): few fragments, few files
READ_BATCH = 16  # tiles per embed call, as the local runner's EMBED_BATCH


def connect(address: str | None = None):
    """The ray module, connected: to ADDRESS ('auto', 'ray://host:10001', 'host:6379'), or to a local
    instance started here when there is none (and RAY_ADDRESS is unset). One SetupError line when Ray is
    not installed or the cluster does not answer."""
    try:
        import ray
        import ray.data  # noqa: F401
        import lance  # noqa: F401
        import lance_ray  # noqa: F401
    except ImportError as exc:
        raise SetupError(f"the Ray runner needs Ray Data and lance-ray ({exc.name} is missing): {RAY_EXTRA}") from None
    if not ray.is_initialized():
        import os

        _check_answers(address)

        # the C++ core's warnings (one per actor pool) would break the CLI's one-line-per-problem output
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", ignore_reinit_error=True)
        except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError by address form
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise SetupError(f"cannot connect to {where}: {' '.join(str(exc).split())[:200]}") from None
    import logging

    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI draws its own
    ctx.verbose_stats_logs = False
    return ray


def _check_answers(address: str | None) -> None:
    """SetupError at once when nothing listens at a 'host:port' or 'ray://host:port' address: Ray itself
    would retry for a minute or more, printing warnings."""
    import socket

    host, _, port = (address or "").removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # 'auto', none (a local instance), or a form Ray will judge
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise SetupError(f"cannot connect to the Ray cluster at {address}: nothing answers there "
                         f"({exc.strerror or exc.__class__.__name__})") from None


def cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def plan_actors(cpus: int) -> tuple[int, int, float]:
    """(render actors, read actors, CPUs each): reading (~0.4 core-s a tile) gets one actor per CPU;
    rendering one per four CPUs (at least one); the actors share the CPUs so that all of them fit."""
    render = max(1, cpus // 4)
    read = max(1, cpus)
    return render, read, min(1.0, cpus / (render + read))


class _Render:
    """Sources -> their encoded tiles, then one summary row each. Holds one Chromium."""

    def __init__(self, render_settings, chromium):
        from .pipeline import EncodeStage, RenderStage

        self.render = RenderStage(render_settings, chromium)
        self.encode = EncodeStage()

    def __call__(self, batch):
        out = {"kind": [], "key": [], "payload": []}
        for blob in batch["job"]:
            job: SourceJob = pickle.loads(blob)
            res = self.render(job)
            unchanged = self.render.unchanged_url(job, res)
            tiles, res.tiles = (res.tiles if res.ok and not unchanged else []), []
            for t in tiles:
                _put(out, "tile", job.source, self.encode(TileRow(job, t, res.attempt)))
            for part in res.parts:
                part.tiles = []
            _put(out, "done", job.source, (job, res, unchanged, len(tiles)))
        return out


class _Read:
    """Encoded tiles -> tile rows (what was read, the vector, the WebP). Holds one OCR engine and one
    model, made from the driver's embedder name and options; its fingerprint must be the driver's."""

    def __init__(self, name: str, settings, options: dict, fingerprint: str):
        from ..embed import get_embedder
        from ..errors import EmbedderError
        from .pipeline import EmbedStage, ReadStage

        emb = get_embedder(name, settings.replace(ocr_workers=1), options=options)
        if emb.fingerprint != fingerprint:
            raise EmbedderError(f"the Ray worker's {name} embedder differs from the driver's "
                                f"({emb.fingerprint[:40]} vs {fingerprint[:40]}): install the same shotdex on every node")
        self.read = ReadStage(emb) if emb.reads_text else None
        self.embed = EmbedStage(emb)

    def __call__(self, batch):
        from .pipeline import _tile_row, decode_image

        out = {"kind": [], "key": [], "payload": []}
        rows: list[TileRow] = []
        for kind, key, payload in zip(batch["kind"], batch["key"], batch["payload"]):
            if kind != "tile":
                _put(out, kind, key, payload, raw=True)
                continue
            row: TileRow = pickle.loads(payload)
            row.tile.image = decode_image(row.image)
            rows.append(self.read(row) if self.read is not None else row)
        for row in self.embed(rows):
            row.tile.image = None
            _put(out, "tile", row.job.source, _tile_row(row))
        return out


def _write(batch, uri: str, storage_options: dict, dim: int, version: str):
    """Tile rows -> one Lance fragment (not committed: the driver commits); summaries pass through."""
    import pyarrow as pa
    from lance_ray.fragment import write_fragment

    from .store import _stored_rows, tiles_schema

    out = {"kind": [], "key": [], "payload": []}
    rows, owners = [], []
    for kind, key, payload in zip(batch["kind"], batch["key"], batch["payload"]):
        if kind != "tile":
            _put(out, kind, key, payload, raw=True)
            continue
        row = pickle.loads(payload)
        rows.append(row)
        owners.append((str(key), row["source"]))
    if rows:
        schema = tiles_schema(dim)
        table = pa.Table.from_pylist(_stored_rows(rows), schema=schema)
        frags = write_fragment([table], uri, schema=schema, storage_options=storage_options or None,
                               data_storage_version=version)
        _put(out, "frag", "", ([f for f, _ in frags], owners))
    return out


def _bind(cls, *args):
    """The actor class with its arguments built in: they travel with the class, not as objects in Ray's
    store (which an actor restart could no longer find)."""
    return type(cls.__name__, (cls,), {"__init__": lambda self: cls.__init__(self, *args)})


def _batches(ds):
    """The dataset's output; a ShotdexError raised in a worker (a model that cannot load there, say)
    comes out as itself, not wrapped in Ray's task errors, so the CLI prints its one line."""
    from ..errors import ShotdexError

    try:
        yield from ds.iter_batches(batch_size=None, batch_format="numpy")
    except Exception as exc:  # noqa: BLE001 - re-raised unless a ShotdexError is inside
        seen, todo = set(), [exc]
        while todo:
            e = todo.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            if isinstance(e, ShotdexError):
                raise e from None
            todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
        raise


def _put(out: dict, kind: str, key: str, payload, raw: bool = False) -> None:
    out["kind"].append(kind)
    out["key"].append(str(key))
    out["payload"].append(payload if raw else pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def run_ray(
    jobs: list[SourceJob],
    render_settings,
    settings,
    embedder,
    write: WriteStage,
    *,
    address: str | None = None,
    stop: threading.Event,
    on_tile: Callable[[str], None] = lambda current: None,
    on_sources: Callable[[int, str], None] = lambda done, current: None,
) -> int:
    """Run the jobs through the stages on Ray; returns the number of sources written (as run_local)."""
    ray = connect(address)
    store = write.store
    cpus = cluster_cpus(ray)
    n_render, n_read, share = plan_actors(cpus)
    uri, opts = store.table_uri(store.meta.tiles_table), store.loc.storage_options
    version = store.data_storage_version()
    written = 0
    for start in range(0, len(jobs), settings.ray_wave):
        wave = jobs[start:start + settings.ray_wave]
        ds = ray.data.from_items([{"job": pickle.dumps(j)} for j in wave], override_num_blocks=len(wave))
        pool = ray.data.ActorPoolStrategy
        ds = ds.map_batches(_bind(_Render, render_settings, settings.chromium), batch_size=1,
                            compute=pool(size=min(n_render, len(wave))), num_cpus=share)
        ds = ds.map_batches(_bind(_Read, embedder.name, settings, dict(embedder.options), embedder.fingerprint),
                            batch_size=READ_BATCH, compute=pool(size=n_read), num_cpus=share)
        ds = ds.map_batches(_write, fn_kwargs=dict(uri=uri, storage_options=opts, dim=store.meta.dim, version=version),
                            batch_size=FRAGMENT_TILES, num_cpus=0)
        summaries: dict[str, tuple] = {}
        tiles_of: dict[str, list[str]] = {}
        fragments: list = []
        for batch in _batches(ds):
            if stop.is_set():
                return written  # nothing of this wave is committed
            for kind, key, payload in zip(batch["kind"], batch["key"], batch["payload"]):
                item = pickle.loads(payload)
                if kind == "done":
                    summaries[str(key)] = item
                    continue
                frags, owners = item
                fragments += frags
                for owner, source in owners:
                    tiles_of.setdefault(owner, []).append(source)
                    on_tile(owner)
        done = []
        for key in dict.fromkeys(j.source for j in wave):  # the report in the plan's order, as run_local's
            if key not in summaries:
                raise RuntimeError(f"{key}: the Ray workers returned no result for it")
            job, res, unchanged, n = summaries[key]
            got = tiles_of.get(key, [])
            if len(got) != n:  # never expected: Ray Data re-runs a lost task whole
                raise RuntimeError(f"{key}: {n} tiles rendered, {len(got)} written by the Ray workers")
            done.append(SourceDone(job, res, [], unchanged, tile_sources=got))
        if stop.is_set():
            return written
        commit = write.prepare(done)
        if commit is not None:
            write.apply(commit, write_tiles=lambda rows, replaced: store.commit_fragments(fragments, replaced))
        written += len(done)
        on_sources(written, wave[-1].source)
    return written
