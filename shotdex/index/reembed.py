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
    done = 0
    for offset in range(0, total, batch):
        # The old table does not change during the run (the writer lock is held), so pages are stable.
        rows = source.search().offset(offset).limit(batch).to_arrow().to_pylist()
        images = [decode_image(r["image"]) for r in rows]
        # readers take the kinds (an engine may read some its own way); plugins' embed_tiles may not
        kinds = {"kinds": [r["kind"] for r in rows]} if embedder.reads_text else {}
        embs = embedder.embed_tiles(images, hints=[r["true_text"] for r in rows], **kinds)
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
