"""LanceDB storage: the tiles and sources tables, and the metadata that says who built them."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from ..errors import BadIndex, ModelMismatch, NoIndex
from .ann import ANN_MIN_ROWS, vector_index  # noqa: F401 - ANN_MIN_ROWS lived here before ann.py
from .lance_import import import_lancedb
from .layout import LAYOUT_VERSION
from .storage import Location

__all__ = ["Store", "Meta", "figure_columns", "stored_name", "real_name", "SCHEMA_VERSION", "PENDING_FILE", "STALE", "sql_str",
           "sql_in", "PAGE_FIELDS"]

SCHEMA_VERSION = 1
META_FILE = "shotdex.json"
# Sources whose tiles are being replaced. A source listed here when a run starts was cut off between
# its tiles' commit and its source row's: it is re-rendered even if its row looks current.
PENDING_FILE = "pending.json"
SOURCES = "sources"
# A source that rendered once and fails now: its last good tiles stay searchable under this status
# (with the new failure as its reason) until it renders again or is removed.
STALE = "stale"
# A source row's settings_hash after a torn journal: matches no render settings, so it is re-rendered.
RECHECK = "recheck"
# How stale a reader's view of the tables may get before it looks for newer commits.
READ_CONSISTENCY = timedelta(seconds=1)
# Versions younger than this survive cleanup, so a search that started on one keeps working.
KEEP_VERSIONS = timedelta(minutes=5)

TILE_COLUMNS = (
    "id", "source", "kind", "page", "tile", "x", "y", "w", "h", "page_width", "page_height",
    "content_hash", "settings_hash", "label", "text", "true_text", "words",
)


def figure_columns(emb, visual_dim: int) -> dict:
    """A tile row's tag, tag_conf and visual vector from its TileEmbedding ({} without a tagger)."""
    if not visual_dim:
        return {}
    import numpy as np

    visual = emb.visual if emb.visual is not None else np.zeros(visual_dim, dtype=np.float32)
    return {"tag": emb.tag or "", "tag_conf": float(emb.tag_conf or 0.0), "visual": visual.astype("float32")}


class _TornJournal(Exception):
    """pending.json exists but cannot be read as a list of sources."""


# A file name that is not UTF-8 reaches Python with each stray byte as a surrogate escape (U+DC80-U+DCFF,
# PEP 383), which Arrow cannot store. In the tables such a byte is a private-use character instead
# (U+F780-U+F7FF), one for one: stored_name and real_name are inverses, and names without stray bytes
# are stored as they are.
_TO_STORED = {0xDC80 + i: 0xF780 + i for i in range(128)}
_TO_REAL = {v: k for k, v in _TO_STORED.items()}


def stored_name(source: str) -> str:
    """A source name as the tables hold it (see _TO_STORED)."""
    return source.translate(_TO_STORED)


def real_name(stored: str) -> str:
    """The source name (the path Python opens) of a name the tables hold."""
    return stored.translate(_TO_REAL)


def _stored_rows(rows: list[dict]) -> list[dict]:
    """Rows as the tables hold them: every text field (the source, and a label or page text that names
    it) with stray bytes as private-use characters."""
    return [{k: stored_name(v) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


def sql_str(value: str) -> str:
    """Quote a string literal for a LanceDB SQL filter."""
    return "'" + stored_name(str(value)).replace("'", "''") + "'"


def sql_in(column: str, values) -> str:
    """`column IN (...)` for strings; a false expression for no values."""
    values = list(values)
    if not values:
        return "false"
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


@dataclass(frozen=True)
class Meta:
    """What the database remembers about the embedder that filled it."""

    schema_version: int
    model: str
    fingerprint: str
    dim: int
    tiles_table: str
    options: dict = field(default_factory=dict)  # the embedder's options (get_embedder(model, options=...))
    layout: int = 0  # the LAYOUT_VERSION of the sources' page fields (0: made before they existed)
    # > 0: the tiles table also holds the figure tag (tag, tag_conf) and a visual vector of this size;
    # 0 for indexes made without the tagger (and every index made before it: their shotdex.json lacks it)
    visual_dim: int = 0

    def save(self, folder: "Location | Path") -> None:
        loc = folder if isinstance(folder, Location) else Location(folder)
        loc.write_text(META_FILE, json.dumps(self.__dict__, indent=2))

    @classmethod
    def load(cls, folder: "Location | Path") -> "Meta | None":
        loc = folder if isinstance(folder, Location) else Location(folder)
        path = f"{loc}/{META_FILE}"
        try:
            text = loc.read_text(META_FILE)
        except OSError as exc:
            raise BadIndex(f"cannot read the index at {loc}: {exc.strerror or exc}") from None
        if text is None:
            return None
        try:
            data = json.loads(text)
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise BadIndex(f"{path} is damaged ({exc}); move the folder away and index again") from exc


def tiles_schema(dim: int, visual_dim: int = 0):
    """The tiles table's columns; with visual_dim > 0 also the figure tag and the visual vector."""
    import pyarrow as pa

    i32 = pa.int32()
    figure = [pa.field("tag", pa.string()), pa.field("tag_conf", pa.float32()),
              pa.field("visual", pa.list_(pa.float32(), visual_dim))] if visual_dim else []
    return pa.schema(
        [
            pa.field("id", pa.string()),
            pa.field("source", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("page", i32),
            pa.field("tile", i32),
            pa.field("x", i32),
            pa.field("y", i32),
            pa.field("w", i32),
            pa.field("h", i32),
            pa.field("page_width", i32),
            pa.field("page_height", i32),
            pa.field("content_hash", pa.string()),
            pa.field("settings_hash", pa.string()),
            pa.field("label", pa.string()),
            pa.field("text", pa.string()),  # what the embedder read
            pa.field("true_text", pa.string()),  # what the renderer put there
            pa.field("words", pa.string()),  # JSON [[word, x, y, w, h], ...] in tile pixels
            pa.field("image", pa.binary()),  # WebP, lossless
            pa.field("vector", pa.list_(pa.float32(), dim)),
            *figure,
        ]
    )


def sources_schema():
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("source", pa.string()),
            pa.field("kind", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("mtime", pa.float64()),
            pa.field("content_hash", pa.string()),
            pa.field("settings_hash", pa.string()),
            pa.field("tiles", pa.int32()),
            pa.field("status", pa.string()),  # indexed | failed | stale (see STALE)
            pa.field("reason", pa.string()),
            pa.field("warnings", pa.string()),
            pa.field("indexed_at", pa.float64()),
            # The page-level fields that search ranks whole sources by (layout.py): the source's read
            # text once, its heading lines, its title.
            pa.field("text", pa.string()),
            pa.field("heading", pa.string()),
            pa.field("title", pa.string()),
        ]
    )


PAGE_FIELDS = ("text", "heading", "title")
PAGE_COLUMNS = ("source", "kind", "page", "x", "y", "w", "h", "words")  # what the fields are made from


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text


def _import_lancedb() -> None:
    try:
        import_lancedb()
    except Exception:  # noqa: BLE001 - the real import in Store.db reports it
        pass


_LANCEDB_IMPORT = threading.Thread(target=_import_lancedb, name="shotdex-import-lancedb", daemon=True)
_PREFETCH_LOCK = threading.Lock()


def _prefetch_lancedb() -> None:
    os.environ.setdefault("LANCEDB_LOG", "error")
    with _PREFETCH_LOCK:
        if not _LANCEDB_IMPORT.is_alive() and _LANCEDB_IMPORT.ident is None:
            _LANCEDB_IMPORT.start()


class Store:
    """A shotdex database: LanceDB tables plus shotdex.json, in a folder or an object store (storage.py).
    `folder` is the local Path, or the URI (a str) of an object-store database; `loc` is either's Location."""

    def __init__(self, folder: "Path | str"):
        """Open the database's metadata; creates nothing (make_folder does, for writers)."""
        self.loc = Location(folder)
        self.folder = self.loc.local if self.loc.local is not None else self.loc.uri
        if self.loc.local is not None and self.folder.exists() and not self.folder.is_dir():
            what = "a file" if self.folder.is_file() else "not a folder"
            raise BadIndex(f"no index at {self.folder}: it is {what}; give a folder (new or made by shotdex)")
        self.meta = Meta.load(self.loc)
        # `import lancedb` takes ~2 s; start it now so it overlaps with loading the embedder.
        _prefetch_lancedb()
        self._db = None
        self._tiles = None
        self._sources = None
        self._pending: set[str] | None = None

    @property
    def db(self):
        """The LanceDB connection, made on first use."""
        if self._db is None:
            _LANCEDB_IMPORT.join()
            lancedb = import_lancedb()

            try:
                # Without an interval an open table never sees another process's commits: a long-lived
                # Index (a server, a notebook) would search a frozen snapshot while `shotdex index` runs.
                self._db = lancedb.connect(self.loc.uri, read_consistency_interval=READ_CONSISTENCY,
                                           storage_options=self.loc.storage_options or None)
            except Exception as exc:  # lancedb raises plain errors for unusable folders
                raise BadIndex(f"cannot open index at {self.folder}: {exc}") from exc
        return self._db

    @contextlib.contextmanager
    def writing(self):
        """Turn a full disk (or another write failure of the folder) into one clear BadIndex.
        Every LanceDB write is one atomic commit, so what was committed before stays readable."""
        try:
            yield
        except BadIndex:
            raise
        except Exception as exc:  # noqa: BLE001 - lance reports I/O errors as RuntimeError
            if _disk_full(exc):
                raise BadIndex(
                    f"disk full while writing the index at {self.folder}; free some space and run the same "
                    "command again (everything indexed before is kept)"
                ) from None
            if isinstance(exc, OSError) and not self.loc.remote:
                raise BadIndex(f"cannot write the index at {self.folder}: {exc.strerror or exc}") from None
            if self.loc.remote:
                raise self.loc.unreachable(exc, writing=True) from None
            raise

    # -- set-up ---------------------------------------------------------------------------------
    @property
    def exists(self) -> bool:
        """True once shotdex.json is there. While another process holds the writer lock on a folder
        without it (a fresh index being created: embedder loading, tables being made), wait for it
        (at most CREATION_WAIT_S), so a search in a run's first seconds sees an empty index, not none."""
        if self.meta is None:
            self.meta = Meta.load(self.loc)
            deadline = time.monotonic() + CREATION_WAIT_S
            while self.meta is None and _being_created(self.folder) and time.monotonic() < deadline:
                time.sleep(0.1)
                self.meta = Meta.load(self.loc)
        return self.meta is not None

    def require(self) -> None:
        """Raise NoIndex unless an index is here (or is being made: see exists): reading never creates one."""
        if not self.exists:
            raise NoIndex(self.folder)

    def make_folder(self) -> None:
        """Create the folder (and its parents) for a writer; one BadIndex line when that is impossible.
        An object store has no folders: its first write makes the prefix."""
        if self.loc.remote:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise BadIndex(f"no index at {self.folder}: it (or a folder above it) is a file") from None
        except OSError as exc:
            raise BadIndex(f"cannot create the index folder {self.folder}: {exc.strerror or exc}") from None

    def check_embedder(self, model: str, fingerprint: str) -> None:
        """Fail with one clear line when the index was built by another embedder."""
        meta = self.meta
        if meta is None:
            return
        if meta.schema_version != SCHEMA_VERSION:
            raise BadIndex(
                f"index at {self.folder} has schema version {meta.schema_version}, this shotdex "
                f"reads {SCHEMA_VERSION}; index into a new folder"
            )
        if meta.fingerprint != fingerprint:
            raise _mismatch(self.folder, meta, model, fingerprint)

    def create(self, model: str, fingerprint: str, dim: int, tiles_table: str = "tiles_1", options: dict | None = None,
               visual_dim: int = 0) -> None:
        """Make the tables and write shotdex.json (idempotent for the same embedder)."""
        with self.writing():
            self.make_folder()
            names = set(self._table_names())
            if tiles_table not in names:
                self.db.create_table(tiles_table, schema=tiles_schema(dim, visual_dim), exist_ok=True)
            if SOURCES not in names:
                self.db.create_table(SOURCES, schema=sources_schema(), exist_ok=True)
            self.meta = Meta(SCHEMA_VERSION, model, fingerprint, dim, tiles_table, dict(options or {}),
                             layout=LAYOUT_VERSION, visual_dim=visual_dim)
            self.meta.save(self.loc)
        self._tiles = None

    def has_pages(self) -> bool:
        """Whether the sources carry current page-level fields (so search can rank whole pages)."""
        return self.meta is not None and self.meta.layout == LAYOUT_VERSION

    def upgrade_pages(self, force: bool = False) -> int:
        """Derive every source's page fields from its stored tiles (no reading again) when the index was
        made before them, by another LAYOUT_VERSION, or (force) after its text changed; one commit.
        Returns the number of sources given fields (0 when already current)."""
        if self.meta is None or (self.has_pages() and not force):
            return 0
        import pyarrow as pa

        from .layout import page_fields

        tiles = _group(self.tiles.to_lance().to_batches(columns=list(PAGE_COLUMNS)))
        keep = [f.name for f in sources_schema() if f.name not in PAGE_FIELDS]
        old = self.sources.to_lance().to_table(columns=keep).to_pylist()
        empty = dict.fromkeys(PAGE_FIELDS, "")
        rows = [{**r, **(page_fields(tiles[r["source"]]) if r["source"] in tiles else empty)} for r in old]
        with self.writing():
            self.db.create_table(SOURCES, pa.Table.from_pylist(rows, schema=sources_schema()), mode="overwrite")
            self._sources = None
            self.meta = dataclasses.replace(self.meta, layout=LAYOUT_VERSION)
            self.meta.save(self.loc)
        return len(rows)

    def _table_names(self) -> list[str]:
        try:
            return list(self.db.list_tables().tables)
        except AttributeError:  # older lancedb
            return list(self.db.table_names())

    # -- tables ---------------------------------------------------------------------------------
    @property
    def tiles(self):
        if self._tiles is None:
            if self.meta is None:
                raise NoIndex(self.folder)
            self._tiles = self.db.open_table(self.meta.tiles_table)
        return self._tiles

    def snapshot(self) -> "Store":
        """A view of this store whose tiles table is pinned to its latest commit, so the several
        queries of one search (vectors, full text) all read the same version while a writer commits."""
        import copy

        view = copy.copy(self)
        table = self.db.open_table(self.tiles.name)
        table.checkout(table.version)
        view._tiles = table
        return view

    @property
    def sources(self):
        if self._sources is None:
            self._sources = self.db.open_table(SOURCES)
        return self._sources

    def source_rows(self, columns=None) -> dict[str, dict]:
        """All rows of the sources table keyed by source."""
        if self.meta is None:
            return {}
        names = [f.name for f in sources_schema() if f.name not in PAGE_FIELDS] if columns is None else columns
        present = set(self.sources.schema.names)
        table = self.sources.to_lance().to_table(columns=["source", *[c for c in names if c != "source" and c in present]])
        rows = table.to_pylist()
        for row in rows:
            row["source"] = real_name(row["source"])
        return {row["source"]: row for row in rows}

    def page_fields_from_tiles(self, sources: list[str]) -> dict[str, dict]:
        """The page fields of these sources (real names), derived from their stored tiles' words."""
        from .layout import page_fields

        out: dict[str, dict] = {}
        for i in range(0, len(sources), 500):
            chunk = [stored_name(s) for s in sources[i : i + 500]]
            table = self.tiles.search().where(sql_in("source", chunk)).select(list(PAGE_COLUMNS)).limit(None).to_arrow()
            for src, tiles in _group(table.to_batches()).items():
                out[real_name(src)] = page_fields(tiles)
        return out

    # -- writes ---------------------------------------------------------------------------------
    def write_tiles(self, rows: list[dict]) -> None:
        """Upsert tile rows by id: a rerun after a crash never duplicates a tile."""
        if not rows:
            return
        import pyarrow as pa

        batch = pa.Table.from_pylist(_stored_rows(rows), schema=tiles_schema(self.meta.dim, self.meta.visual_dim))
        with self.writing():
            self.tiles.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(batch)

    def replace_tiles(self, rows: list[dict], sources: list[str]) -> None:
        """Upsert rows and drop every other tile of `sources`, in one commit: a search sees a source's
        old tiles or its new ones, never both or a mix. (Costs a scan of the table, so new sources go
        through write_tiles instead.)"""
        if not sources:
            return self.write_tiles(rows)
        import pyarrow as pa

        with self.writing():
            if not rows:
                self.tiles.delete(sql_in("source", sources))
                return
            batch = pa.Table.from_pylist(_stored_rows(rows), schema=tiles_schema(self.meta.dim, self.meta.visual_dim))
            (self.tiles.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
             .when_not_matched_by_source_delete(sql_in("source", sources)).execute(batch))

    def table_uri(self, name: str) -> str:
        """Where LanceDB keeps a table: the Lance dataset other writers (Ray workers) write fragments to."""
        return f"{self.loc.uri}/{name}.lance"

    def commit_fragments(self, fragments: list, sources: list[str]) -> None:
        """Add tile fragments written elsewhere (Lance FragmentMetadata) and drop every older tile of
        `sources`, in one Lance commit, like replace_tiles: a search sees a source's old tiles or its new
        ones. The commit is made at the version read here; Lance rebases it over a concurrent commit
        that touched other fragments and refuses it (an error, nothing written) when one clashes."""
        import lance

        uri, opts = self.table_uri(self.meta.tiles_table), self.loc.storage_options or None
        with self.writing():
            ds = lance.dataset(uri, storage_options=opts)
            removed, updated = [], []
            if sources:
                pred = sql_in("source", sources)
                for frag in ds.get_fragments():
                    before = frag.metadata
                    after = frag.delete(pred)
                    if after is None:
                        removed.append(before.id)
                    elif after.deletion_file != before.deletion_file:
                        updated.append(after)
            if not fragments and not removed and not updated:
                return
            if removed or updated:
                op = lance.LanceOperation.Update(removed_fragment_ids=removed, updated_fragments=updated,
                                                 new_fragments=list(fragments))
            else:
                op = lance.LanceOperation.Append(list(fragments))
            lance.LanceDataset.commit(uri, op, read_version=ds.version, storage_options=opts)
        self._tiles = None  # the next use opens the new version

    def data_storage_version(self) -> str:
        """The Lance file format of the tiles table (fragments written elsewhere must match it)."""
        import lance

        ds = lance.dataset(self.table_uri(self.meta.tiles_table), storage_options=self.loc.storage_options or None)
        return ds.data_storage_version

    # -- the pending journal ---------------------------------------------------------------------
    def pending(self) -> set[str]:
        """Sources whose tiles may not match their source row (a run was cut off while writing them).
        A journal that cannot be read names every source (see recover_journal)."""
        if self._pending is None:
            try:
                self._pending = self._read_journal()
            except _TornJournal:
                self._pending = self._all_sources()
        return set(self._pending)

    def _read_journal(self) -> set[str]:
        try:
            text = self.loc.read_text(PENDING_FILE)
            if text is None:
                return set()
            data = json.loads(text)
        except BadIndex:
            raise
        except (OSError, ValueError) as exc:
            raise _TornJournal(str(exc)) from None
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise _TornJournal("not a list of sources")
        return set(data)

    def _all_sources(self) -> set[str]:
        """Every source with a row or with tiles (tiles without a row: a run cut off before the row)."""
        if self.meta is None:
            return set()
        n = self.tiles.count_rows()  # read the one column, not the screenshots
        tiled = {real_name(s) for s in self.tiles.search().select(["source"]).limit(n).to_arrow().column("source").to_pylist()} if n else set()
        return set(self.source_rows(["status"])) | tiled

    def recover_journal(self) -> str | None:
        """Repair a torn pending.json (writer only, at the start of a run); returns the warning to show.

        Any source could have been between its tiles and its row, so every source is re-checked: each
        source row is marked for re-rendering (one commit, so this survives a crash), sources with
        tiles but no row go into a fresh journal, and the torn file is replaced. None when the journal
        is fine."""
        try:
            self._read_journal()
            return None
        except _TornJournal as exc:
            why = str(exc)
        rows = set(self.source_rows(["status"]))
        orphans = self._all_sources() - rows
        with self.writing():
            if rows:
                self.sources.update(values={"settings_hash": RECHECK})
        self._pending = None
        self.set_pending(orphans)
        return (f"{PENDING_FILE} (the journal of sources being written) was unreadable ({why}); "
                f"every source is re-checked: {len(rows) + len(orphans)} will be rendered again")

    def set_pending(self, sources: set[str]) -> None:
        """Replace the journal (atomically, durably: it must be on disk before the tiles it guards)."""
        with self.writing():
            if not sources:
                self.loc.delete(PENDING_FILE)
            else:
                self.loc.write_text(PENDING_FILE, json.dumps(sorted(sources)))
        self._pending = set(sources)

    def write_sources(self, rows: list[dict]) -> None:
        if not rows:
            return
        import pyarrow as pa

        bare = [r["source"] for r in rows if "text" not in r]
        if bare and self.has_pages():
            # A row rewritten for its metadata alone (a file only touched) keeps its page fields.
            kept = {r["source"]: r for r in self.sources.search().where(sql_in("source", [stored_name(x) for x in bare]))
                    .select(["source", *PAGE_FIELDS]).limit(None).to_list()}
            rows = [r if "text" in r else {**dict.fromkeys(PAGE_FIELDS, ""), **{k: v for k, v in
                    kept.get(stored_name(r["source"]), {}).items() if k in PAGE_FIELDS}, **r} for r in rows]
        batch = pa.Table.from_pylist(_stored_rows(rows), schema=sources_schema())
        with self.writing():
            self.sources.merge_insert("source").when_matched_update_all().when_not_matched_insert_all().execute(batch)

    def delete_sources(self, sources: list[str]) -> None:
        with self.writing():
            for i in range(0, len(sources), 500):
                chunk = sources[i : i + 500]
                self.tiles.delete(sql_in("source", chunk))
                self.sources.delete(sql_in("source", chunk))

    def maintain(self) -> None:
        """Keep the indexes current and the folder bounded: FTS, ANN when large, compaction, cleanup."""
        with self.writing():
            self._maintain()

    def _maintain(self) -> None:
        from lancedb.index import FTS

        tiles = self.tiles
        names = {ix.name: ix for ix in tiles.list_indices()}
        rows = tiles.count_rows()
        # Word positions let quoted phrases find their tiles; an index made before that is rebuilt once.
        if rows and ("text_idx" not in names or not _with_positions(names["text_idx"])):
            tiles.create_index("text", config=FTS(with_position=True), name="text_idx", replace=True)
        # The type and its parameters by size: ann.py (chosen by benchmarks/index_speed.py). Built once; an
        # index made by an older shotdex (IVF_HNSW_SQ) is kept and searched with its own settings.
        if "vector_idx" not in names and (config := vector_index(rows, self.meta.dim)) is not None:
            tiles.create_index("vector", config=config, name="vector_idx")
        for table in (tiles, self.sources):
            table.optimize(cleanup_older_than=KEEP_VERSIONS)
        if self.has_pages() and self.sources.count_rows():
            # After compaction, rebuilt whole each time (one row per source, so small), so that BM25's
            # statistics never count replaced rows and a resumed run ranks as an uninterrupted one.
            for col in PAGE_FIELDS:
                self.sources.create_index(col, config=FTS(with_position=False), name=f"{col}_idx", replace=True)

    def fts_positions(self) -> bool:
        """Whether the full-text index keeps word positions (phrase queries can use it)."""
        return any(ix.name == "text_idx" and _with_positions(ix) for ix in self.tiles.list_indices())

    def text_index_outdated(self) -> bool:
        """Tiles are stored but the full-text index lacks word positions (made by an older shotdex)."""
        return self.exists and self.tiles.count_rows() > 0 and not self.fts_positions()

    def page_index_ready(self) -> bool:
        """The page fields are current and full-text indexed."""
        if not self.has_pages():
            return False
        have = {ix.name for ix in self.sources.list_indices()}
        return all(f"{col}_idx" in have for col in PAGE_FIELDS)

    def has_ann(self) -> bool:
        return any(ix.name == "vector_idx" for ix in self.tiles.list_indices())

    def size_on_disk(self) -> int:
        return self.loc.size()


def _group(batches) -> dict[str, list[dict]]:
    """Tile rows by source."""
    out: dict[str, list[dict]] = {}
    for batch in batches:
        for row in batch.to_pylist():
            out.setdefault(row["source"], []).append(row)
    return out


def _with_positions(ix) -> bool:
    return bool((getattr(ix, "index_details", None) or {}).get("with_position"))


def _mismatch(folder: Path, meta: Meta, model: str, fingerprint: str) -> ModelMismatch:
    """A ModelMismatch that shows what differs and suggests only what can work."""
    old, new = meta.fingerprint.split("|"), fingerprint.split("|")
    diff = [(a, b) for a, b in zip(old, new) if a != b] or [(meta.fingerprint, fingerprint)]
    if len(old) != len(new):
        diff = [(meta.fingerprint, fingerprint)]
    shown = "; ".join(f"index has {a!r}, this has {b!r}" for a, b in diff[:3])
    if meta.model == model:
        msg = (f"index at {folder} was built with another version of model '{model}' ({shown}); "
               "re-embed its tiles with this one (Index.reembed(), `shotdex reembed`), or index into a new folder")
        hint = f"run `shotdex reembed --db {folder} --model {model}`"
    else:
        msg = (f"index at {folder} was built with model '{meta.model}', not '{model}' ({shown}); "
               f"open it with model='{meta.model}', or re-embed its tiles with '{model}' (Index.reembed(), `shotdex reembed`)")
        hint = f"pass --model {meta.model}, or run `shotdex reembed --db {folder} --model {model}`"
    err = ModelMismatch(msg)
    err.hint = hint
    return err


CREATION_WAIT_S = 60.0


def _being_created(folder: "Path | str") -> bool:
    """Another process holds `.write.lock` (flock is per open file, so test with a fresh one). An
    object-store database is not waited for: it has no lock file (see lock.py's lease)."""
    import fcntl

    if not isinstance(folder, Path):
        return False
    path = folder / ".write.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if holder == str(os.getpid()):
            return False  # our own writer
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def now() -> float:
    return time.time()
