"""Rebuild shotdex's own line recogniser (shotdex/embed/weights/glyphs.npz) from nothing.

    .venv/bin/python scripts/train_reader.py [--sources 1200] [--epochs 8] [--cache /tmp/shotdex-reader-data.npz]

1. Sources are generated here with a fixed seed: Markdown (headings, lists, code, quotes, tables),
   plain text, source code, CSV tables, and HTML pages with random fonts (every family the set-up
   installs), sizes, weights, styles, colours, backgrounds and layouts, or with the browser's own
   look (underlined links, nested bullet lists, code spans). The words are made up
   (syllables, identifiers, numbers, dates, symbols), so no benchmark text can leak in.
2. shotdex's own Renderer draws them into tiles (real Chromium). With every screenshot, the box of
   each word on screen is taken from the page.
3. lines.py finds the segments on each tile, exactly as at reading time; a segment's label is the
   words whose centre lies in it, left to right. Segments cut by the tile's edge, or holding a word
   only partly, are left out.
4. A small CNN (glyphs.py) is trained with CTC on them (torch), batch norm folded into
   the convolutions at export. A held-out 5% of the segments gives the character error rate. One thread
   by default: OpenMP threads that share a busy core spin and crawl, and one thread is reproducible.
Nothing is downloaded. Inference (shotdex/embed/glyphs.py) never imports this file or torch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shotdex.embed.glyphs import CHARSET, HEIGHT, STRIDE, encode_label, prepare, weights_path  # noqa: E402
from shotdex.embed.lines import find_segments, gray_array, ink_mask  # noqa: E402

SEED = 20261201

# -- made-up text ------------------------------------------------------------------------------------
ONSETS = ("b c d f g h j k l m n p r s t v w z br cr dr fr gr pr tr bl cl fl gl pl sl st sp sk sh ch th wh qu "
          "str spr scr thr shr sn sm sw tw dw kn wr ph ps y x").split()
VOWELS = "a e i o u y ai ea ee ie oo ou io ia ue au oi ei".split()
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ng", "rk", "ss", "ck", "x", "th", "sh",
         "rn", "rm", "rl", "rd", "rt", "rs", "ll", "ff", "mm", "nn", "tt", "lt", "ld", "mp", "nk", "ft", "ct", "ght",
         "tch", "dge", "ve", "te", "ne", "se", "ble", "tion", "ment", "ing", "ed", "er", "ly", "ity", "al"]
# Common words of English prose and of technical documentation, so that letter pairs that real text is
# full of ("rn", "rm", "th", "Av") are not rare here; a generic list, no benchmark text. The words seen
# misread on pydocs pages while this was built (return, determine, availability, contents, modules,
# previous, index, ...) are left out on purpose, so the benchmark still measures how the reader generalises.
COMMON = ("the of and to a in is it that for as with be on not this are by or from at an which can if "
          "was but all have has one will also more other such may these when than its they only used then "
          "there into each new some no two been would first any use like most where what how who their them "
          "value values default object objects type types class function functions "
          "method methods file files name names list string number data set get call called "
          "argument arguments parameter error errors raise raised exception see example examples note "
          "section table page version versions changed "
          "added deprecated removed true false none given "
          "should must without between after before same different following format support supported "
          "system time path read write open close create created start end line lines text result results "
          "instance instances attribute attributes key keys item items element elements order size length "
          "number numbers integer float character characters byte bytes buffer memory process thread "
          "option options mode flag flags case cases form forms level levels work works make makes "
          "information interface implementation library standard documentation reference tutorial guide "
          "about above below under over through during within against across around because however "
          "therefore otherwise instead either neither both many much few less least more most very "
          "always never often usually sometimes already still even just only again once here there").split()
ACCENTED = "áàâäãåæçéèêëíìîïñóòôöõøœúùûüýÿßÁÉÍÓÖØÜÑÇŁłŠšŽžČčćőűğşİıąęńśźż"
PUNCT_AFTER = [",", ".", ":", ";", "!", "?", ")", "]", "'s", "%", "…", "”", "’"]
PUNCT_BEFORE = ["(", "[", "“", "‘", "$", "€", "£", "#", "@", "-", "~"]
SYMBOLS = list("+-*/=<>&|^%$#@!?~`\\{}[]()_.,:;'\"") + ["->", "=>", "==", "!=", "<=", ">=", "::", "...", "—", "–", "•",
                                                           "×", "°", "±", "©", "®", "™", "§", "→", "½", "²", "µ"]


def syllable_word(rng: random.Random) -> str:
    w = "".join(rng.choice(ONSETS) * (rng.random() < 0.75) + rng.choice(VOWELS) + rng.choice(CODAS)
                for _ in range(rng.choice([1, 1, 2, 2, 2, 3, 3, 4])))
    if rng.random() < 0.04:
        i = rng.randrange(len(w))
        w = w[:i] + rng.choice(ACCENTED) + w[i + 1:]
    return w


def number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.3:
        return str(rng.randint(0, 10 ** rng.randint(1, 7)))
    if r < 0.45:
        return f"{rng.uniform(0, 10 ** rng.randint(1, 4)):.{rng.randint(1, 4)}f}"
    if r < 0.55:
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}" + (f",{rng.randint(0, 999):03d}" if rng.random() < 0.3 else "")
    if r < 0.65:
        return f"{rng.randint(1900, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if r < 0.72:
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if r < 0.8:
        return f"{rng.uniform(0, 100):.1f}%"
    if r < 0.86:
        return f"{rng.randint(1, 12)}/{rng.randint(1, 31)}/{rng.randint(1950, 2030)}"
    if r < 0.92:
        return f"v{rng.randint(0, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    return f"{rng.choice('+-')}{rng.randint(0, 999)}"


def identifier(rng: random.Random) -> str:
    parts = [syllable_word(rng) for _ in range(rng.randint(1, 3))]
    r = rng.random()
    if r < 0.3:
        s = "_".join(parts)
    elif r < 0.45:
        s = "".join(p.capitalize() for p in parts)
    elif r < 0.55:
        s = parts[0] + "".join(p.capitalize() for p in parts[1:])
    elif r < 0.7:
        s = ".".join(parts)
    elif r < 0.8:
        s = "_".join(parts).upper()
    elif r < 0.88:
        s = "__" + "_".join(parts) + "__"
    else:
        s = "-".join(parts)
    if rng.random() < 0.25:
        s += rng.choice(["()", "(x)", "(self)", "[0]", "[i]", "(*args, **kwargs)", ":", "=", "(n, k)"])
    if rng.random() < 0.15:
        s += str(rng.randint(0, 99))
    return s


def token(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.62:
        w = rng.choice(COMMON) if r < 0.25 else syllable_word(rng)
        c = rng.random()
        w = w.capitalize() if c < 0.2 else (w.upper() if c < 0.25 else w)
    elif r < 0.75:
        w = number(rng)
    elif r < 0.88:
        w = identifier(rng)
    elif r < 0.93:
        w = rng.choice(SYMBOLS)
    else:
        w = "".join(rng.choice(CHARSET[1:]) for _ in range(rng.randint(1, 6)))
    if rng.random() < 0.12:
        w += rng.choice(PUNCT_AFTER)
    if rng.random() < 0.05:
        w = rng.choice(PUNCT_BEFORE) + w
    return w


def sentence(rng: random.Random, lo: int = 4, hi: int = 24) -> str:
    words = [token(rng) for _ in range(rng.randint(lo, hi))]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + rng.choice([".", ".", ".", "", ":", "?", "!"])


def cell(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.4:
        return number(rng)
    if r < 0.8:
        return " ".join(token(rng) for _ in range(rng.randint(1, 3)))
    if r < 0.9:
        return " ".join(syllable_word(rng).capitalize() for _ in range(rng.randint(1, 3)))
    return rng.choice(["", "-", "—", "n/a", "Yes", "No", "TBD", "✓"])


# -- sources -----------------------------------------------------------------------------------------
FAMILIES = ['"DejaVu Sans"', '"DejaVu Serif"', '"DejaVu Sans Mono"', '"Liberation Sans"', '"Liberation Serif"',
            '"Liberation Mono"', '"Liberation Sans Narrow"', '"DejaVu Sans Condensed"', "sans-serif", "serif",
            "monospace", "Arial", "Georgia", '"Lucida Grande"', "Helvetica", "Verdana", '"Times New Roman"',
            '"Courier New"', "system-ui"]


def markdown_source(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(4, 14)):
        r = rng.random()
        if r < 0.15:
            out.append("#" * rng.randint(1, 4) + " " + sentence(rng, 1, 7).rstrip(".:?!"))
        elif r < 0.45:
            words = sentence(rng, 10, 70).split()
            for i in range(len(words)):
                q = rng.random()
                if q < 0.05:
                    words[i] = f"`{identifier(rng)}`"
                elif q < 0.08:
                    words[i] = f"**{words[i]}**"
                elif q < 0.11:
                    words[i] = f"*{words[i]}*"
                elif q < 0.13:
                    words[i] = f"[{words[i]}](x.html)"
            out.append(" ".join(words))
        elif r < 0.65:
            mark = rng.choice(["-", "*", "+"])
            out.append("\n".join(f"{'  ' * (rng.random() < 0.2)}{mark} {sentence(rng, 1, 14)}"
                                 for _ in range(rng.randint(2, 7))))
        elif r < 0.75:
            out.append("```\n" + "\n".join(code_line(rng) for _ in range(rng.randint(2, 8))) + "\n```")
        elif r < 0.83:
            out.append("> " + sentence(rng, 5, 30))
        else:
            n = rng.randint(2, 6)
            rows = [[cell(rng) or "x" for _ in range(n)] for _ in range(rng.randint(2, 9))]
            out.append("\n".join(["| " + " | ".join(syllable_word(rng) for _ in range(n)) + " |",
                                  "|" + "---|" * n] + ["| " + " | ".join(r) + " |" for r in rows]))
    return "\n\n".join(out) + "\n"


def code_line(rng: random.Random) -> str:
    r = rng.random()
    ind = "    " * rng.randint(0, 3)
    if r < 0.25:
        return f"{ind}{identifier(rng).rstrip('():=')} = {rng.choice([number(rng), identifier(rng), repr(syllable_word(rng))])}"
    if r < 0.4:
        return f"{ind}def {identifier(rng).split('(')[0].replace('.', '_')}({', '.join(syllable_word(rng) for _ in range(rng.randint(0, 3)))}):"
    if r < 0.55:
        return f"{ind}return {identifier(rng)}({', '.join(token(rng) for _ in range(rng.randint(0, 3)))})"
    if r < 0.65:
        return f"{ind}# {sentence(rng, 2, 10)}"
    if r < 0.75:
        return f"{ind}if {identifier(rng)} {rng.choice(['==', '!=', '<', '>=', 'is', 'in'])} {token(rng)}:"
    if r < 0.85:
        return f"{ind}for {syllable_word(rng)} in {identifier(rng)}:"
    return ind + " ".join(token(rng) for _ in range(rng.randint(1, 8)))


def csv_source(rng: random.Random) -> str:
    import csv
    import io

    n = rng.randint(2, 8)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([rng.choice([syllable_word(rng), identifier(rng)]) for _ in range(n)])
    kinds = [rng.random() for _ in range(n)]
    for _ in range(rng.randint(3, 40)):
        w.writerow([number(rng) if k < 0.4 else cell(rng) for k in kinds])
    return buf.getvalue()


def html_source(rng: random.Random) -> str:
    from html import escape

    def E(t: str) -> str:
        return escape(t, quote=False)

    def color(dark: bool) -> str:
        v = [rng.randint(0, 90) if dark else rng.randint(200, 255) for _ in range(3)]
        return "#%02x%02x%02x" % tuple(v)

    inverted = rng.random() < 0.15
    fg, bg = (color(False), color(True)) if inverted else (color(True), color(False))
    fam = rng.choice(FAMILIES)
    size = rng.choice([12, 13, 14, 14, 15, 16, 16, 16, 17, 18, 20])
    css = [f"body {{ font-family: {fam}; font-size: {size}px; color: {fg}; background: {bg}; "
           f"line-height: {rng.choice([1.2, 1.3, 1.4, 1.5, 1.6])}; margin: {rng.randint(8, 60)}px; }}",
           f"h1, h2, h3 {{ font-family: {rng.choice(FAMILIES)}; font-weight: {rng.choice([400, 600, 700, 800])}; "
           f"color: {color(not inverted)}; }}",
           f"h1 {{ font-size: {rng.randint(24, 40)}px; }} h2 {{ font-size: {rng.randint(18, 30)}px; }}",
           f"code, pre {{ font-family: {rng.choice(FAMILIES[2:3] + FAMILIES[5:6] + ['monospace'])}; "
           f"background: {color(inverted) if rng.random() < 0.5 else 'transparent'}; }}",
           f"a {{ color: {rng.choice(['#0645ad', '#1a0dab', '#2a6496', fg])}; "
           f"text-decoration: {rng.choice(['underline', 'none'])}; }}",
           f"table {{ border-collapse: collapse; }} td, th {{ border: 1px solid {rng.choice(['#ccc', '#999', '#ddd', '#444'])}; "
           f"padding: {rng.randint(1, 6)}px {rng.randint(3, 10)}px; }}",
           f"th {{ background: {color(inverted)}; }}",
           f".side {{ color: {color(not inverted)}; font-size: {rng.randint(11, 15)}px; }}",
           f"em {{ font-style: italic; }} strong {{ font-weight: {rng.choice([600, 700, 900])}; }}"]
    if rng.random() < 0.3:
        css.append(f".main {{ columns: {rng.choice([2, 3])}; column-gap: {rng.randint(20, 50)}px; }}")
    body = []
    if rng.random() < 0.4:
        body.append("<nav class=side>" + " | ".join(f"<a href=#>{E(syllable_word(rng).capitalize())}</a>"
                                                   for _ in range(rng.randint(3, 8))) + "</nav>")
    body.append(f"<h1>{E(sentence(rng, 1, 6).rstrip('.:?!'))}</h1>")
    main = []
    for _ in range(rng.randint(3, 10)):
        r = rng.random()
        if r < 0.45:
            words = [E(w) for w in sentence(rng, 8, 60).split()]
            words = [f"<{t}>{w}</{t}>" if (t := rng.choice(["em", "strong", "code", "a", None, None, None, None, None,
                                                            None, None, None, None, None])) else w for w in words]
            main.append("<p>" + " ".join(words) + "</p>")
        elif r < 0.6:
            lv = rng.randint(2, 4)
            main.append(f"<h{lv}>{E(sentence(rng, 1, 6).rstrip('.:?!'))}</h{lv}>")
        elif r < 0.72:
            main.append("<ul>" + "".join(f"<li>{E(sentence(rng, 1, 12))}</li>" for _ in range(rng.randint(2, 6))) + "</ul>")
        elif r < 0.85:
            n = rng.randint(2, 6)
            rows = "".join("<tr>" + "".join(f"<td>{E(cell(rng))}</td>" for _ in range(n)) + "</tr>"
                           for _ in range(rng.randint(2, 8)))
            main.append("<table><tr>" + "".join(f"<th>{E(syllable_word(rng))}</th>" for _ in range(n)) + f"</tr>{rows}</table>")
        else:
            main.append("<pre>" + "\n".join(E(code_line(rng)) for _ in range(rng.randint(2, 6))) + "</pre>")
    body.append("<div class=main>" + "".join(main) + "</div>")
    return (f"<!DOCTYPE html><html><head><meta charset=utf-8><style>{''.join(css)}</style></head>"
            f"<body>{''.join(body)}</body></html>")


def plain_html_source(rng: random.Random) -> str:
    """A page with the browser's own look, or a document theme's: serif text, underlined links of
    several words, nested lists with disc, circle and square bullets, code spans on a tint, headings
    made of links (tables of contents, navigation, reference pages)."""
    from html import escape

    def E(t: str) -> str:
        return escape(t, quote=False)

    def link(lo: int = 1, hi: int = 6) -> str:
        return f"<a href=#>{E(sentence(rng, lo, hi).rstrip('.:?!'))}</a>"

    def code() -> str:
        return f"<code>{E(identifier(rng))}</code>"

    def para() -> str:
        parts = []
        for _ in range(rng.randint(3, 14)):
            r = rng.random()
            parts.append(link(1, 4) if r < 0.2 else code() if r < 0.35 else E(sentence(rng, 2, 10)))
        return "<p>" + " ".join(parts) + "</p>"

    def toc(depth: int = 0) -> str:
        items = []
        for _ in range(rng.randint(2, 6)):
            sub = toc(depth + 1) if depth < 2 and rng.random() < 0.3 else ""
            items.append(f"<li>{link(1, 6) if rng.random() < 0.8 else E(sentence(rng, 1, 6))}{sub}</li>")
        return "<ul>" + "".join(items) + "</ul>"

    css = ""
    if rng.random() < 0.5:
        css = (f"<style>body {{ font-family: {rng.choice(FAMILIES)}; font-size: {rng.choice([13, 14, 15, 16, 17])}px; "
               f"margin: {rng.randint(0, 40)}px; }} code {{ background: #{rng.choice(['eee', 'f0f0f0', 'ecf0f3', 'fff'])}; "
               f"padding: 0 {rng.randint(0, 3)}px; font-family: {rng.choice(['monospace', FAMILIES[2], FAMILIES[5]])}; }} "
               f"a {{ color: {rng.choice(['#0072aa', '#0000ee', '#551a8b', '#3465a4'])}; }}</style>")
    body = []
    for _ in range(rng.randint(3, 9)):
        r = rng.random()
        if r < 0.2:
            lv = rng.randint(1, 4)
            body.append(f"<h{lv}>{link(1, 5) if rng.random() < 0.4 else E(sentence(rng, 1, 6).rstrip('.:?!'))}</h{lv}>")
        elif r < 0.45:
            body.append(toc())
        elif r < 0.8:
            body.append(para())
        elif r < 0.9:
            body.append("<dl>" + "".join(f"<dt>{code()}</dt><dd>{E(sentence(rng, 3, 16))}</dd>"
                                         for _ in range(rng.randint(1, 4))) + "</dl>")
        else:
            body.append("<pre>" + "\n".join(E(code_line(rng)) for _ in range(rng.randint(2, 6))) + "</pre>")
    return f"<!DOCTYPE html><html><head><meta charset=utf-8>{css}</head><body>{''.join(body)}</body></html>"


def docs_html_source(rng: random.Random) -> str:
    """A documentation site's page (Sphinx, MkDocs, Javadoc alike), mostly in the browser's own look:
    navigation bars of links with "|" or "»" between them, headings ending in a pilcrow link, API
    signatures with italic parameters, index entries with italic notes in parentheses, em dashes,
    bold link headings in a sidebar, a copyright footer."""
    from html import escape

    def E(t: str) -> str:
        return escape(t, quote=False)

    def words(lo: int, hi: int) -> str:
        return E(sentence(rng, lo, hi).rstrip(".:?!"))

    def nav() -> str:
        sep = rng.choice([" |", " |", " »", " ›", ""])
        items = "".join(f"<li><a href=#>{words(1, 3)}</a>{sep}</li>" for _ in range(rng.randint(2, 7)))
        return f"<ul>{items}</ul>" if rng.random() < 0.6 else "<div>" + f"{sep} ".join(
            f"<a href=#>{words(1, 3)}</a>" for _ in range(rng.randint(2, 7))) + "</div>"

    def heading() -> str:
        lv = rng.randint(1, 4)
        pil = "<a href=#>¶</a>" if rng.random() < 0.5 else ""
        text = f"<a href=#>{words(1, 5)}</a>" if rng.random() < 0.3 else words(1, 6)
        return f"<h{lv}>{text}{pil}</h{lv}>"

    def signature() -> str:
        kind = f"<em>{rng.choice(['class', 'exception', 'async', 'abstractmethod', 'static', 'property'])}</em> " \
            if rng.random() < 0.4 else ""
        mod = f"<code>{E('.'.join(syllable_word(rng) for _ in range(rng.randint(1, 2))))}.</code>" if rng.random() < 0.5 else ""
        params = ", ".join(f"<em>{E(syllable_word(rng))}{E(rng.choice(['', '', '=None', '=0', '=True', '=-1']))}</em>"
                           for _ in range(rng.randint(0, 4)))
        return (f"<dt>{kind}{mod}<code><strong>{E(identifier(rng).split('(')[0])}</strong></code>({params})"
                f"{'<a href=#>¶</a>' if rng.random() < 0.5 else ''}</dt><dd><p>{E(sentence(rng, 4, 30))}</p></dd>")

    def index_entry() -> str:
        note = rng.choice(["in module", "class in", "method of", "attribute of", "function in", "in", "of", ""])
        target = f" (<em>{E(note)} {E(identifier(rng).split('(')[0])}</em>)" if rng.random() < 0.7 else ""
        return f"<li><a href=#>{E(identifier(rng))}</a>{target}</li>"

    def para() -> str:
        parts = []
        for _ in range(rng.randint(2, 10)):
            r = rng.random()
            parts.append(f"<a href=#>{words(1, 4)}</a>" if r < 0.2 else f"<code>{E(identifier(rng))}</code>" if r < 0.3
                         else f"<em>{words(1, 4)}</em>" if r < 0.4 else E(sentence(rng, 2, 12)))
            if rng.random() < 0.1:
                parts.append(rng.choice(["—", "–", "-"]))
        return "<p>" + " ".join(parts) + "</p>"

    css = ""
    if rng.random() < 0.4:
        css = (f"<style>body {{ font-family: {rng.choice(FAMILIES)}; font-size: {rng.choice([13, 14, 15, 16])}px; }} "
               f"a {{ color: {rng.choice(['#0072aa', '#0000ee', '#551a8b', '#3465a4', '#2980b9'])}; "
               f"text-decoration: {rng.choice(['underline', 'none'])}; }} "
               f"dt {{ background: #{rng.choice(['fff', 'eef', 'e7f2fa', 'f8f8f8'])}; }}</style>")
    body = [nav()] if rng.random() < 0.7 else []
    for _ in range(rng.randint(3, 9)):
        r = rng.random()
        if r < 0.2:
            body.append(heading())
        elif r < 0.45:
            body.append(para())
        elif r < 0.65:
            body.append("<dl>" + "".join(signature() for _ in range(rng.randint(1, 3))) + "</dl>")
        elif r < 0.8:
            body.append("<ul>" + "".join(index_entry() for _ in range(rng.randint(3, 12))) + "</ul>")
        elif r < 0.9:
            body.append(f"<h3><a href=#>{words(1, 3)}</a></h3>" + nav())
        else:
            body.append(f"<p>© {E(rng.choice(['Copyright', 'copyright', '']))} {rng.randint(1990, 2030)}, "
                        f"{words(1, 4)}. {words(2, 10)}.</p>")
    return f"<!DOCTYPE html><html><head><meta charset=utf-8>{css}</head><body>{''.join(body)}</body></html>"


def write_sources(folder: Path, n: int, seed: int) -> list[Path]:
    rng = random.Random(seed)
    makers = [("md", markdown_source), ("md", markdown_source), ("txt", lambda r: "\n".join(
        sentence(r, 3, 18) for _ in range(r.randint(5, 60)))), ("py", lambda r: "\n".join(
            code_line(r) for _ in range(r.randint(5, 50)))), ("csv", csv_source), ("csv", csv_source),
        ("html", html_source), ("html", html_source), ("html", plain_html_source), ("html", docs_html_source)]
    paths = []
    for i in range(n):
        ext, make = makers[i % len(makers)]
        p = folder / f"s{i:05d}.{ext}"
        text = make(rng)
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths


# -- rendering with word boxes -----------------------------------------------------------------------
def render_tiles(paths: list[Path]):
    """(grey tile array, [(word, x, y, w, h)]) for every tile of every source."""
    from shotdex.render import RenderSettings
    from shotdex.render.words import render_with_words

    got = render_with_words(paths, RenderSettings(max_tiles=4), log=lambda m: print(m, flush=True))
    return [(gray_array(t.image), words) for t, words in got]


def label_segments(gray: np.ndarray, words: list) -> list[tuple[np.ndarray, list[int]]]:
    """The tile's segments (as lines.py finds them) that can be labelled exactly, prepared."""
    H, W = gray.shape
    segs = find_segments(ink_mask(gray))
    wb = np.array([[x, y, x + w, y + h] for _, x, y, w, h in words], dtype=np.float32).reshape(-1, 4)
    cx, cy = (wb[:, 0] + wb[:, 2]) / 2, (wb[:, 1] + wb[:, 3]) / 2
    out = []
    for s in segs:
        if s.y <= 1 or s.y + s.h >= H - 1:
            continue  # cut by the tile's edge
        x0, y0, x1, y1 = s.x - 3, s.y - 3, s.x + s.w + 3, s.y + s.h + 3
        inside = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
        overlap = (wb[:, 0] < x1 - 2) & (wb[:, 2] > x0 + 2) & (wb[:, 1] < y1 - 2) & (wb[:, 3] > y0 + 2)
        if (overlap & ~inside).any():
            continue
        idx = np.flatnonzero(inside)
        texts = [words[i][0] for i in idx[np.argsort(cx[idx])]]
        if any(t == "\u0000" for t in texts):
            continue
        label = encode_label(" ".join(texts))
        if label is None:
            continue
        pic, _, _ = prepare(gray, s)
        if len(label) * 2 + 1 > pic.shape[1] // STRIDE:
            continue  # too narrow to hold its label (CTC would be undefined)
        out.append(((pic * 255).astype(np.uint8), label))
    return out


def build_data(n_sources: int, cache: Path | None, seed: int):
    if cache and cache.exists():
        z = np.load(cache, allow_pickle=False)
        widths, pix, lab, lablen = z["widths"], z["pixels"], z["labels"], z["label_lengths"]
    else:
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="shotdex-reader-") as d:
            paths = write_sources(Path(d), n_sources, seed)
            tiles = render_tiles(paths)
        print(f"rendered {len(tiles)} tiles in {time.time() - t0:.0f} s", flush=True)
        pics, labels = [], []
        for gray, words in tiles:
            for pic, label in label_segments(gray, words):
                pics.append(pic)
                labels.append(label)
        widths = np.array([p.shape[1] for p in pics], dtype=np.int32)
        pix = np.concatenate([p.reshape(-1) for p in pics]) if pics else np.zeros(0, np.uint8)
        lablen = np.array([len(lb) for lb in labels], dtype=np.int32)
        lab = np.array([c for lb in labels for c in lb], dtype=np.int16)
        print(f"{len(pics)} segments ({time.time() - t0:.0f} s)", flush=True)
        if cache:
            np.savez(cache, widths=widths, pixels=pix, labels=lab, label_lengths=lablen)
    pics, labels = [], []
    po = lo = 0
    for w, n in zip(widths, lablen):
        pics.append(pix[po: po + HEIGHT * w].reshape(HEIGHT, w))
        labels.append(lab[lo: lo + n].astype(np.int64))
        po += HEIGHT * int(w)
        lo += int(n)
    return pics, labels


# -- the model ---------------------------------------------------------------------------------------
def make_model(width: int = 128):
    """The network glyphs.Recogniser.logits runs (same layers, same order)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.b1 = nn.Conv1d(HEIGHT * STRIDE, width, 5, padding=2), nn.BatchNorm1d(width)
            self.l2, self.b2 = nn.Conv1d(width, width, 3, padding=1), nn.BatchNorm1d(width)
            self.l3, self.b3 = nn.Conv1d(width, width, 3, padding=2, dilation=2), nn.BatchNorm1d(width)
            self.out = nn.Conv1d(width, len(CHARSET) + 1, 1)

        def forward(self, x):  # x (N, 1, HEIGHT, W) -> (T, N, classes) log-probs
            n, _, h, w = x.shape
            t = w // STRIDE
            f = x[:, 0, :, : t * STRIDE].reshape(n, h, t, STRIDE).permute(0, 1, 3, 2).reshape(n, h * STRIDE, t)
            y = torch.relu(self.b1(self.l1(f)))
            y = y + torch.relu(self.b2(self.l2(y)))
            y = y + torch.relu(self.b3(self.l3(y)))
            return self.out(y).permute(2, 0, 1).log_softmax(2)

    return Net()


def export(net, path: Path) -> str:
    """Fold batch norm into the convolutions; write the numpy layout glyphs.py reads."""
    import hashlib

    def fold(conv, bn):
        w = conv.weight.detach().double().numpy()
        b = conv.bias.detach().double().numpy()
        if bn is not None:
            s = (bn.weight.detach().double() / (bn.running_var.double() + bn.eps).sqrt()).numpy()
            w = w * s.reshape(-1, *([1] * (w.ndim - 1)))
            b = (b - bn.running_mean.double().numpy()) * s + bn.bias.detach().double().numpy()
        return w.reshape(w.shape[0], -1).T.astype(np.float32), b.astype(np.float32)

    arrays = {}
    for name, conv, bn in [("l1", net.l1, net.b1), ("l2", net.l2, net.b2), ("l3", net.l3, net.b3),
                           ("out", net.out, None)]:
        arrays[f"{name}.w"], arrays[f"{name}.b"] = fold(conv, bn)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def batches(order: list[int], pics, max_px: int):
    """Index groups of similar width, at most max_px pixels (padded) each."""
    out, cur, wmax = [], [], 0
    for i in order:
        w = pics[i].shape[1]
        if cur and (len(cur) + 1) * max(wmax, w) * HEIGHT > max_px:
            out.append(cur)
            cur, wmax = [], 0
        cur.append(i)
        wmax = max(wmax, w)
    if cur:
        out.append(cur)
    return out


def tensor_batch(idx, pics, labels, augment_rng=None):
    import torch

    wmax = max(pics[i].shape[1] for i in idx)
    wmax += (-wmax) % 4
    x = np.zeros((len(idx), 1, HEIGHT, wmax), dtype=np.float32)
    for r, i in enumerate(idx):
        p = pics[i].astype(np.float32) / 255.0
        if augment_rng is not None and augment_rng.random() < 0.5:
            p = np.clip(p * augment_rng.uniform(0.7, 1.1), 0, 1)
        x[r, 0, :, : p.shape[1]] = p
    lens = torch.tensor([pics[i].shape[1] // STRIDE for i in idx], dtype=torch.long)
    tl = torch.tensor([len(labels[i]) for i in idx], dtype=torch.long)
    tg = torch.cat([torch.from_numpy(labels[i]) for i in idx]) if len(tl) else torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(x), lens, tg, tl


def cer(net, pics, labels, idx) -> float:
    """Character error rate (edit distance / true length) of greedy decoding on idx."""
    import torch

    errs = total = 0
    net.eval()
    with torch.no_grad():
        for b in batches(sorted(idx, key=lambda i: pics[i].shape[1]), pics, 200_000):
            x, lens, _, _ = tensor_batch(b, pics, labels)
            best = net(x).argmax(2).T.numpy()
            for r, i in enumerate(b):
                seq, prev = [], 0
                for k in best[r, : lens[r]]:
                    if k and k != prev:
                        seq.append(int(k))
                    prev = k
                errs += _edit(seq, labels[i].tolist())
                total += len(labels[i])
    net.train()
    return errs / max(1, total)


def _edit(a: list, b: list) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def train(pics, labels, epochs: int, seed: int, threads: int = 1, log=print):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = random.Random(seed)
    idx = list(range(len(pics)))
    rng.shuffle(idx)
    n_val = max(1, len(idx) // 20)
    val, tr = idx[:n_val], idx[n_val:]
    net = make_model()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    plan = batches(sorted(tr, key=lambda i: (pics[i].shape[1], rng.random())), pics, 120_000)
    steps = epochs * len(plan)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    t0 = time.time()
    curve = []
    for ep in range(epochs):
        rng.shuffle(plan)
        total = 0.0
        for b in plan:
            x, lens, tg, tl = tensor_batch(b, pics, labels, rng)
            loss = ctc(net(x), tg, lens, tl)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item()
        c = cer(net, pics, labels, val)
        curve.append({"epoch": ep + 1, "minutes": round((time.time() - t0) / 60, 1), "loss": round(total / len(plan), 4),
                      "val_cer": round(c, 5)})
        log(json.dumps(curve[-1]))
    net.eval()
    return net, curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", type=int, default=1200)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--cache", type=Path, default=None, help="keep the rendered segments here (npz)")
    ap.add_argument("--out", type=Path, default=weights_path())
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    t0 = time.time()
    pics, labels = build_data(args.sources, args.cache, SEED)
    print(f"{len(pics)} segments, {sum(p.shape[1] for p in pics) * HEIGHT / 1e6:.1f} M pixels", flush=True)
    net, curve = train(pics, labels, args.epochs, SEED, args.threads)
    digest = export(net, args.out)
    print(json.dumps({"weights": str(args.out), "sha256_16": digest, "bytes": args.out.stat().st_size,
                      "segments": len(pics), "minutes": round((time.time() - t0) / 60, 1), "curve": curve}))


if __name__ == "__main__":
    main()
