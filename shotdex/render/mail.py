"""Mail (.eml): a small header block, the HTML (or else text) body, the attachments listed.

The page is generated (set_content), so nothing it names is fetched: remote images and tracking pixels
in an HTML body are refused by the sealed browser, scripts are off. Attachments whose name has a kind
shotdex renders are handed back on the job (`job.parts`, at most MAX_PARTS); the Renderer saves
each into a private folder and renders it as its own source named `mail.eml#name`.
"""

from __future__ import annotations

import os
import re
from email import policy
from email.parser import BytesParser

from ..errors import RenderError
from .discover import KIND_BY_SUFFIX, suffix_of
from .style import document, esc
from .text import plain_html
from .tiling import Job, capture_page

__all__ = ["render_mail", "MAX_MAIL_MB", "attachment_name"]

MAX_MAIL_MB = 64
MAX_PARTS = 20  # attachments indexed per message (each has its own tile cap); the rest only listed
_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_CSS = (
    ".mail-head { border: 1px solid #ddd; background: #f6f6f6; padding: 8px 12px; margin-bottom: 14px; "
    "font-size: 15px; } .mail-head b { display: inline-block; min-width: 6em; color: #555; } "
    ".mail-att { margin-top: 6px; color: #333; }"
)


def attachment_name(raw: str | None, i: int) -> str:
    """A safe file name for attachment i (no folders, no control characters)."""
    name = os.path.basename((raw or "").replace("\\", "/")).strip()
    name = re.sub(r"[\x00-\x1f/]", "_", name)[:120].lstrip(".")
    return name or f"attachment-{i + 1}"


def _body(msg) -> tuple[str, str]:
    part = msg.get_body(preferencelist=("html", "plain"))
    if part is None:
        return "", "plain"
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        content = part.get_payload(decode=True).decode("latin-1", "replace")
    if not isinstance(content, str):
        content = content.decode("latin-1", "replace")
    return content, part.get_content_subtype()


def render_mail(job: Job) -> None:
    """Render one message; known attachments go to job.parts as (name, bytes) for the Renderer."""
    size = os.path.getsize(job.source)
    if size == 0:
        raise RenderError(job.source, "empty file")
    if size > MAX_MAIL_MB * 2**20:
        raise RenderError(job.source, f"message is larger than {MAX_MAIL_MB} MB")
    with open(job.source, "rb") as f:
        msg = BytesParser(policy=policy.default).parse(f)
    if not any(msg.get(h) for h in _HEADERS) and not msg.get_payload():
        raise RenderError(job.source, "not a mail message (no headers, no body)")
    rows = []
    for h in _HEADERS:
        try:
            value = msg.get(h)
        except (ValueError, IndexError, TypeError):  # a malformed header is shown as its raw text
            value = msg.get_all(h, failobj=[""])[0] if h in msg else None
        if value:
            rows.append(f"<div><b>{h}</b> {esc(str(value))}</div>")
    attached = []
    for i, part in enumerate(msg.iter_attachments()):
        name = attachment_name(part.get_filename(), i)
        data = part.get_payload(decode=True) or b""
        attached.append(f"{esc(name)} ({len(data) / 1024:,.1f} KB)")
        if KIND_BY_SUFFIX.get(suffix_of(name)) not in (None, "mail") and data:
            if len(job.parts) < MAX_PARTS:
                job.parts.append((name, data))
            elif len(job.parts) == MAX_PARTS:
                job.warn(f"more than {MAX_PARTS} attachments of a known kind; the rest are only listed")
                job.parts.append(None)
    job.parts[:] = [p for p in job.parts if p is not None]
    if attached:
        rows.append(f"<div class=mail-att><b>Attachments</b> {', '.join(attached)}</div>")
    content, subtype = _body(msg)
    if subtype == "html":
        body = f"<div class=mail-body>{content}</div>"
        css = _CSS
    else:
        lines, line_css = plain_html(content)
        body, css = f"<div class=mail-body>{lines}</div>", _CSS + line_css
    html = document(f"<div class=mail-head>{''.join(rows)}</div>{body}", css, title=str(msg.get("Subject") or ""))
    job.browser.seal()  # a generated page: nothing may load
    job.page.set_content(html, wait_until="load")
    job.browser.freeze()
    capture_page(job, what="message")
