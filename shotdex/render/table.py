"""Tables as HTML: caption (file name, sheet, column group, rows shown), header repeated on every tile.

The table is laid out once; its column widths are then frozen and each tile shows a slice of whole rows
(the rest hidden by one CSS rule), so no row is ever cut between tiles. Tables wider than a tile after
wrapping are split into column groups that each repeat the first column.
"""

from __future__ import annotations

import os

from .style import SANS, document, esc
from .table_read import Sheet
from .tiling import Job, open_png

__all__ = ["render_table", "table_html"]

_CSS = f"""
body {{ padding: 16px 20px; }}
.cap {{ font: bold 15px/1.3 {SANS}; margin: 0 0 8px; color: #222; }}
.cap span {{ font-weight: normal; color: #555; }}
table {{ font: 14px/1.3 {SANS}; }}
td, th {{ max-width: 22em; overflow-wrap: break-word; white-space: pre-wrap; text-align: left; }}
tbody tr:nth-child(even) td {{ background: #f7f7f7; }}
"""
_PAD_X, _PAD_BOTTOM = 20, 12
_MIN_ROW_PX = 18

_MEASURE_JS = """() => {
  const t = document.querySelector('table');
  const head = t.tHead.getBoundingClientRect();
  return {width: Math.ceil(t.getBoundingClientRect().width),
          cols: [...t.tHead.rows[0].cells].map(c => c.getBoundingClientRect().width)};
}"""
_FREEZE_JS = """([widths, tileHeight, padBottom, total]) => {
  const t = document.querySelector('table');
  const cg = document.createElement('colgroup');
  for (const w of widths) { const c = document.createElement('col'); c.style.width = w + 'px'; cg.appendChild(c); }
  t.insertBefore(cg, t.firstChild);
  t.style.tableLayout = 'fixed';
  t.style.width = widths.reduce((a, b) => a + b, 0) + 'px';
  const body = t.tBodies[0].getBoundingClientRect();
  const rows = [...t.tBodies[0].rows].map(r => { const b = r.getBoundingClientRect(); return [b.top + window.scrollY, b.height]; });
  // whole rows per tile, greedily; the first slice is shown right away (saves a round trip)
  const avail = tileHeight - (body.top + window.scrollY) - padBottom;
  const slices = []; let start = 0, used = 0;
  rows.forEach(([_, h], i) => { if (used + h > avail && i > start) { slices.push([start, i]); start = i; used = 0; } used += h; });
  slices.push([start, rows.length]);
  const [a, b] = slices[0];
  document.getElementById('slice').textContent =
    'tbody tr{display:none} tbody tr:nth-child(n+' + (a + 1) + '):nth-child(-n+' + b + '){display:table-row}';
  document.getElementById('rows').textContent = rows.length ? 'rows ' + (a + 1) + '-' + b + ' of ' + total : 'no rows';
  return {bodyTop: body.top + window.scrollY, rows, slices, avail,
          pageHeight: document.documentElement.scrollHeight};
}"""
_SLICE_JS = """([a, b, label]) => {
  document.getElementById('slice').textContent =
    'tbody tr{display:none} tbody tr:nth-child(n+' + (a + 1) + '):nth-child(-n+' + b + '){display:table-row}';
  document.getElementById('rows').textContent = label;
}"""


def table_html(caption: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return document(
        f"<div class=cap>{esc(caption)} <span id=rows></span></div>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>",
        _CSS + "</style><style id=slice>",
    )


def _groups(widths: list[float], avail: float) -> list[list[int]]:
    """Column index groups that fit `avail` px, each repeating column 0."""
    groups, current, used = [], [0], widths[0]
    for i in range(1, len(widths)):
        if used + widths[i] > avail and len(current) > 1:
            groups.append(current)
            current, used = [0], widths[0]
        current.append(i)
        used += widths[i]
    groups.append(current)
    return groups


def _render_part(job: Job, caption: str, header, rows, page_index: int, label: str, total_rows: int,
                 measured: dict | None = None) -> int:
    """Lay out one table part and capture row slices; returns how many body rows were shown.
    `measured`: the part is already loaded and measured (single-group tables)."""
    s = job.settings
    page = job.page
    if measured is None:
        page.set_content(table_html(caption, header, rows), wait_until="load")
        measured = page.evaluate(_MEASURE_JS)
    laid = page.evaluate(_FREEZE_JS, [measured["cols"], s.tile_height, _PAD_BOTTOM, total_rows])
    avail = laid["avail"]
    slices = [tuple(x) for x in laid["slices"]] if rows else [(0, 0)]
    if any(sum(h for _, h in laid["rows"][a:b]) > avail for a, b in slices if b - a == 1):
        job.warn("a row is taller than a tile and is cut")
    px = (round(s.tile_width * s.device_scale), round(s.tile_height * s.device_scale))
    shown = 0
    head_text = " ".join(header)
    for n, (a, b) in enumerate(slices):
        if job.room == 0:
            job.cap()
            break
        rows_label = f"rows {a + 1}-{b} of {total_rows}" if rows else "no rows"
        if n:
            page.evaluate(_SLICE_JS, [a, b, rows_label])
        data = job.browser.screenshot()
        y = laid["rows"][a][0] - laid["bodyTop"] if rows else 0
        text = " ".join([caption, rows_label, head_text] + [" ".join(r) for r in rows[a:b]])
        job.add(open_png(data, *px), x=0, y=y, w=s.tile_width, h=s.tile_height,
                page_width=max(s.tile_width, measured["width"] + 2 * _PAD_X),
                page_height=laid["pageHeight"], page=page_index, label=label, text=" ".join(text.split()))
        shown = b
    return shown


def render_table(job: Job) -> None:
    """Render a CSV/TSV/XLSX/JSON/Parquet table source into tiles."""
    s = job.settings
    per_tile = max(1, s.tile_height // _MIN_ROW_PX)
    max_cols = max(8, s.max_tiles * 24)
    limit_rows = max(1, s.max_tiles * per_tile)
    sheets = job.read("read_table", job.source, limit_rows, max_cols, job.deadline)
    name = os.path.basename(job.source)
    part = 0
    for sheet in sheets:
        if job.room == 0:
            job.cap(f"sheet {sheet.name!r} and later ones left out")
            break
        part = _render_sheet(job, sheet, name, part)


def _render_sheet(job: Job, sheet: Sheet, name: str, part: int) -> int:
    s = job.settings
    ncols = len(sheet.header)
    cell_rows = max(1, s.max_table_cells // max(1, ncols))
    rows = sheet.rows[:cell_rows]
    if sheet.total_cols > ncols:
        job.warn(f"{sheet.total_cols - ncols} of {sheet.total_cols} columns left out")
    base_caption = f"{name} \u2014 sheet {sheet.name}" if sheet.name else name
    base_label = sheet.name
    # lay out all columns once to learn their wrapped widths
    page = job.page
    page.set_content(table_html(base_caption, sheet.header, rows), wait_until="load")
    measured = page.evaluate(_MEASURE_JS)
    widths = measured["cols"]
    avail = s.tile_width - 2 * _PAD_X
    groups = [list(range(ncols))] if sum(widths) <= avail else _groups(widths, avail)
    shown_min = len(rows)
    for gi, cols in enumerate(groups):
        if job.room == 0:
            job.cap(f"columns {cols[min(1, len(cols) - 1)] + 1}-{ncols} left out")
            break
        label, caption = base_label, base_caption
        if len(groups) > 1:
            first = cols[1] if len(cols) > 1 else cols[0]
            span = f"columns {first + 1}-{cols[-1] + 1} of {sheet.total_cols}"
            label = f"{base_label} \u00b7 {span}" if base_label else span
            caption = f"{base_caption} \u2014 {span}"
        header = [sheet.header[c] for c in cols]
        part_rows = [[r[c] for c in cols] for r in rows]
        page_index = sheet.index if len(groups) == 1 else part
        shown = _render_part(job, caption, header, part_rows, page_index, label, sheet.total_rows,
                             measured=measured if len(groups) == 1 else None)
        shown_min = min(shown_min, shown)
        part += 1
    if shown_min < sheet.total_rows:
        where = f" of sheet {sheet.name!r}" if sheet.name else ""
        about = "" if sheet.exact else "about "
        job.warn(f"showing {shown_min} of {about}{sheet.total_rows} rows{where}; "
                 f"{about}{sheet.total_rows - shown_min} rows left out")
    return part
