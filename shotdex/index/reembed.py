"""Re-embed stored tile images with another embedder, into a fresh table, then switch over."""

from __future__ import annotations

import json

from .indexer import ProgressEvent, decode_image
from .store import Meta, Store, figure_columns, tiles_schema, SCHEMA_VERSION

__all__ = ["reembed"]


def reembed(store: Store, embedder, progress=None, batch: int = 64) -> int:
    """Fill a new tiles table from the stored images; the old table stays until the switch."""
    import pyarrow as pa

    old = store.meta
    if old is None:
        return 0
    n = int(old.tiles_table.rsplit("_", 1)[-1]) + 1 if old.tiles_table.rsplit("_", 1)[-1].isdigit() else 2
    name = f"tiles_{n}"
    if name in store._table_names():
        store.db.drop_table(name)
    source = store.tiles
    total = source.count_rows()
    vdim = getattr(embedder, "visual_dim", 0)
    new = store.db.create_table(name, schema=tiles_schema(embedder.dim, vdim))
    # Another tagger alone: the tiles keep their reading, only tags and vectors are made again.
    retag = "tag" in source.schema.names and getattr(embedder, "retags", lambda _: False)(old.fingerprint)
    done = 0
    for offset in range(0, total, batch):
        # The old table does not change during the run (the writer lock is held), so pages are stable.
        rows = source.search().offset(offset).limit(batch).to_arrow().to_pylist()
        images = [decode_image(r["image"]) for r in rows]
        embs = [_retagged(embedder, im, r) for im, r in zip(images, rows)] if retag else [None] * len(rows)
        again = [i for i, e in enumerate(embs) if e is None]
        if again:
            # readers take the kinds (an engine may read some its own way); plugins' embed_tiles may not
            kinds = {"kinds": [rows[i]["kind"] for i in again]} if embedder.reads_text else {}
            for i, e in zip(again, embedder.embed_tiles([images[i] for i in again], hints=[rows[i]["true_text"] for i in again], **kinds)):
                embs[i] = e
        for r, e in zip(rows, embs):
            r["vector"] = e.vector.astype("float32")
            r["text"] = e.text or ""
            r["words"] = json.dumps([[w.text, w.x, w.y, w.w, w.h] for w in e.words], separators=(",", ":"))
            r.update(figure_columns(e, vdim))
        new.add(pa.Table.from_pylist(rows, schema=tiles_schema(embedder.dim, vdim)))
        done += len(rows)
        if progress:
            progress(ProgressEvent(total, done, done))
    store.meta = Meta(SCHEMA_VERSION, embedder.name, embedder.fingerprint, embedder.dim, name, dict(embedder.options),
                      visual_dim=vdim, layout=old.layout)
    store.meta.save(store.loc)
    store._tiles = None
    store.db.drop_table(old.tiles_table)
    store.upgrade_pages(force=True)  # the text changed: the page fields follow it
    store.maintain()
    return done


def _retagged(embedder, image, row: dict):
    """The row's tile with the new tagger, its stored reading kept (None: read it again)."""
    from ..embed.base import Word

    words = [Word(str(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), 0.0) for w in json.loads(row["words"] or "[]")]
    return embedder.retag(image, row["text"] or "", words, row.get("tag") or "", row.get("kind"))
