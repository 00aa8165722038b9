"""Text without a known ending: `README`, `LICENSE`, `Makefile`, `.conf`, `.log`, gzip-compressed text.

A file whose ending shotdex does not know is text when its first KB is: no NUL bytes (or a UTF-16 byte
order mark), decodes as UTF-8 / UTF-16 / Latin-1, and holds almost no control characters. `.gz` files
are judged by their first decompressed KB and read back decompressed, never past what the tiles show
(a gzip bomb costs what one source's tiles cost).
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib

from ..errors import RenderError

__all__ = ["looks_like_text", "sniff_text_file", "gz_inner_name", "read_sniffed_text", "SNIFF_BYTES"]

SNIFF_BYTES = 1024
_C0 = set(range(0, 32)) - {9, 10, 11, 12, 13, 27}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _decode(sample: bytes) -> str | None:
    """The sample as text (cut characters at the end forgiven), or None when it is not text."""
    if sample.startswith(_UTF16_BOMS):
        try:
            return sample[: len(sample) // 2 * 2].decode("utf-16", errors="strict")
        except UnicodeDecodeError:
            return None
    if b"\x00" in sample:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    try:
        return decoder.decode(sample, final=False)
    except UnicodeDecodeError:
        high = sum(1 for b in sample if b >= 0x80)
        if high > 0.3 * len(sample):  # Latin-1 decodes anything: a text in it is mostly ASCII
            return None
        return sample.decode("latin-1")


def looks_like_text(sample: bytes) -> bool:
    """True when a file's first bytes read as text (see the module's docstring)."""
    if not sample or not sample.strip():
        return False
    text = _decode(sample)
    if text is None:
        return False
    controls = sum(1 for ch in text if ord(ch) in _C0 or 0x7F <= ord(ch) <= 0x9F)
    return controls <= 0.02 * max(1, len(text))


def gz_inner_name(source: str) -> str:
    """'notes.md.gz' -> 'notes.md' (the name whose ending decides how the text is shown)."""
    base = os.path.basename(source)
    return base[:-3] if base.lower().endswith(".gz") and len(base) > 3 else base


def _gz_head(source: str, n: int) -> bytes:
    with gzip.open(source, "rb") as f:
        return f.read(n)


def sniff_text_file(source: str) -> bool:
    """True for a regular file (of an unknown ending, or .gz) whose first KB is text."""
    try:
        if source.lower().endswith(".gz"):
            return looks_like_text(_gz_head(source, SNIFF_BYTES))
        with open(source, "rb") as f:
            return looks_like_text(f.read(SNIFF_BYTES))
    except (OSError, EOFError, zlib.error, ValueError):
        return False


def read_sniffed_text(source: str, warnings: list[str], max_chars: int) -> tuple[str, bool] | None:
    """(text, truncated) for sources plain read_text cannot read (gzip, UTF-16); None for the others."""
    gz = source.lower().endswith(".gz")
    if not gz:
        with open(source, "rb") as f:
            head = f.read(4)
        if not head.startswith(_UTF16_BOMS):
            return None
    limit = max_chars * 4 + 4  # a character is at most 4 bytes in UTF-8 (and UTF-16)
    try:
        if gz:
            data = _gz_head(source, limit + 1)
        else:
            with open(source, "rb") as f:
                data = f.read(limit + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise RenderError(source, f"corrupt gzip data ({e})") from None
    cut = len(data) > limit
    data = data[:limit]
    if data.startswith(_UTF16_BOMS):
        text = data[: len(data) // 2 * 2].decode("utf-16", errors="replace")
    else:
        if b"\x00" in data[:65536]:
            raise RenderError(source, "binary data, not text (NUL bytes)")
        try:
            text = codecs.getincrementaldecoder("utf-8-sig")("strict").decode(data, final=not cut)
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            warnings.append(f"{source}: not valid UTF-8; read as Latin-1")
    if not text.strip():
        raise RenderError(source, "empty file" if not text else "file holds only whitespace")
    return text[:max_chars], cut or len(text) > max_chars
