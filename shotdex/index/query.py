"""What a typed query means: its plain words, and the phrases the user put in double quotes.

A query is never a syntax error. Balanced double quotes (straight or typographic) mark phrases; every
other character, unbalanced quotes and the query-language characters of LanceDB's full-text parser
(`:`, `+`, `-`, `~`, `^`, parentheses, `AND`/`OR`, backslashes) included, is plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ParsedQuery", "parse_query", "words", "has_phrase"]

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_PHRASE = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ParsedQuery:
    """text: the query without quote characters (what the embedder and the bag of words see);
    phrases: each quoted part of two or more words, in the order typed."""

    text: str
    phrases: tuple[str, ...] = ()


def parse_query(query: str) -> ParsedQuery:
    """Split a query into its plain text and its quoted phrases (see the module docstring)."""
    q = query.translate(_QUOTES)
    phrases = []
    for m in _PHRASE.finditer(q):
        inner = " ".join(m.group(1).split())
        if len(words(inner)) >= 2:  # a quoted single word is just that word
            phrases.append(inner)
    text = " ".join(q.replace('"', " ").split())
    return ParsedQuery(text=text, phrases=tuple(dict.fromkeys(phrases)))


def words(text: str) -> list[str]:
    """The lower-cased word tokens of text, as phrase matching compares them."""
    return _WORD.findall((text or "").lower())


def has_phrase(text: str, phrase: str) -> bool:
    """Whether the phrase's words stand in text consecutively and in order (case and punctuation aside)."""
    want = words(phrase)
    if not want:
        return False
    have = words(text)
    n = len(want)
    first = want[0]
    return any(have[i] == first and have[i : i + n] == want for i in range(len(have) - n + 1))
