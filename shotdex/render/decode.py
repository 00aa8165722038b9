"""Reading text files safely: size limits, binary detection, UTF-8 / UTF-8-BOM / UTF-16 / Latin-1.

Choice (documented in the README by the lead): invalid UTF-8 is not an error. A file that is not valid
UTF-8 but looks like text is read as Latin-1 (what most non-UTF-8 files in the wild are) and the source
gets a warning. Files with NUL bytes or mostly control characters are binary junk: a clear error.
"""

from __future__ import annotations

import codecs
import os

from ..errors import RenderError

__all__ = ["read_text", "open_text", "check_not_binary", "sniff_encoding", "sniff_utf16"]

_CONTROL = bytes(range(0, 32)).replace(b"\t", b"").replace(b"\n", b"").replace(b"\r", b"").replace(b"\f", b"")


def sniff_utf16(sample: bytes) -> str | None:
    """'utf-16' (with a BOM), 'utf-16-le' / 'utf-16-be' (without: Latin text leaves every other byte
    NUL), or None. Excel's "Unicode Text" export is UTF-16 LE with a BOM."""
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not sample.startswith(codecs.BOM_UTF32_LE):
        return "utf-16"
    head = sample[:4096]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.4 and zeros_even < 0.02:
        return "utf-16-le"
    if zeros_even > 0.4 and zeros_odd < 0.02:
        return "utf-16-be"
    return None


def check_not_binary(source: str, sample: bytes) -> None:
    """Raise a clear RenderError for empty files and binary junk."""
    if not sample:
        raise RenderError(source, "empty file")
    if not sample.strip():
        raise RenderError(source, "file holds only whitespace")
    if b"\x00" in sample[:65536]:
        raise RenderError(source, "binary data, not text (NUL bytes)")
    head = sample[:65536]
    controls = sum(head.count(bytes([c])) for c in _CONTROL)
    if controls > 0.1 * len(head):
        raise RenderError(source, "binary data, not text (control characters)")


def sniff_encoding(sample: bytes, at_eof: bool) -> tuple[str, bool]:
    """('utf-8-sig' | 'utf-8' | 'latin-1', is_utf8). A cut multi-byte character at the end of a
    partial sample is not held against UTF-8."""
    if sample.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    else:
        enc = "utf-8"
    decoder = codecs.getincrementaldecoder(enc)("strict")
    try:
        decoder.decode(sample, final=at_eof)
        return enc, True
    except UnicodeDecodeError:
        if sample.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", False
        return "latin-1", False


def open_text(source: str, warnings: list[str], sample_size: int = 1 << 20):
    """Open a text file for streaming, having checked it is text and chosen its encoding."""
    try:
        size = os.path.getsize(source)
        with open(source, "rb") as f:
            sample = f.read(sample_size)
    except OSError as e:
        raise RenderError(source, f"cannot read: {e.strerror or e}") from None
    utf16 = sniff_utf16(sample)
    if utf16 is not None:
        text = sample[: len(sample) & ~1].decode(utf16, errors="replace")
        if text.count("\ufffd") <= len(text) // 100:
            check_not_binary(source, text.encode("utf-8", errors="replace"))
            return open(source, encoding=utf16, errors="replace", newline="")
    check_not_binary(source, sample)
    enc, ok = sniff_encoding(sample, at_eof=size <= sample_size)
    if not ok:
        warnings.append(
            f"{source}: not valid UTF-8; read as Latin-1" if enc == "latin-1"
            else f"{source}: invalid UTF-8 bytes shown as \ufffd"
        )
    return open(source, encoding=enc, errors="replace", newline="")


def read_text(source: str, warnings: list[str], max_chars: int) -> tuple[str, bool]:
    """(text, truncated): at most max_chars characters of the file."""
    with open_text(source, warnings) as f:
        text = f.read(max_chars)
        truncated = bool(f.read(1))
    return text, truncated
