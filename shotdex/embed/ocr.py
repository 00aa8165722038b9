"""Tesseract OCR for the reader: screenshots -> text and word boxes, one worker per core.

Two engines give the same reading: the tesserocr API (one Tesseract instance per worker thread, kept
for the process's life, so no program start or model load per tile) when that package is installed,
else a `tesseract` process per tile. Both run `--oem 1 --psm 3` at 1x with OMP_THREAD_LIMIT=1: with
OpenMP threads free, Tesseract's threads fight over the cores and a tile takes 6x longer.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from ..errors import EmbedderError, TesseractNotFound
from .base import Word

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = ["Reading", "OcrPool", "READER_ENGINES", "reader_engine_of", "choose_engine", "ocr_config", "tessdata_dir", "tesseract_program", "tesseract_version"]

LANG = "eng"
OEM = 1  # LSTM engine
PSM = 3  # automatic page segmentation: keeps table cells apart (psm 6 reads grids as noise)
LINE_PSM = 7  # one line of text: the segments shotdex's own engine hands over
INSTALL_HINT = "tesseract is not installed: apt-get install tesseract-ocr"

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before any libtesseract loads in this process


class Reading(tuple):
    """(text, words) read from one image, plus what the figure tagger saw there (a tagger.Figure or None)."""

    __slots__ = ()

    def __new__(cls, text: str, words: list[Word], figure=None):
        return super().__new__(cls, (text, words, figure))

    def __reduce__(self):  # pickled to and from the runner's worker processes
        return (Reading, tuple(self))

    @property
    def figure(self):
        return self[2]

    @property
    def text(self) -> str:
        return self[0]

    @property
    def words(self) -> list[Word]:
        return self[1]


def tesseract_program() -> str | None:
    """The tesseract executable, or None."""
    return shutil.which("tesseract") or next(
        (p for p in ("/usr/bin/tesseract", "/usr/local/bin/tesseract") if os.access(p, os.X_OK)), None
    )


_VERSION: list[str] = []


def tesseract_version() -> str:
    """'major.minor' of the tesseract program (what the engine reads like); raises TesseractNotFound."""
    if not _VERSION:
        prog = tesseract_program()
        if prog is None:
            raise TesseractNotFound(INSTALL_HINT)
        out = subprocess.run([prog, "--version"], capture_output=True, text=True, timeout=30)
        first = (out.stdout or out.stderr).split()
        full = first[1] if len(first) > 1 else "unknown"
        _VERSION.append(".".join(full.lstrip("v").split(".")[:2]))
    return _VERSION[0]


def tessdata_dir() -> Path | None:
    """The folder holding eng.traineddata (Debian's tesseract-ocr-eng), or None."""
    candidates = [os.environ.get("TESSDATA_PREFIX", "")]
    for root in ("/usr/share/tesseract-ocr", "/usr/local/share/tesseract-ocr", "/usr/share"):
        base = Path(root)
        if base.is_dir():
            candidates += [str(p) for p in sorted(base.glob("*/tessdata"), reverse=True)] + [str(base / "tessdata")]
    for c in candidates:
        if c and (Path(c) / f"{LANG}.traineddata").exists():
            return Path(c)
    return None


def choose_engine(engine: str = "auto") -> str:
    """'api' (tesserocr, when installed and eng.traineddata is found) or 'process'."""
    if engine == "auto":
        return "api" if tessdata_dir() is not None and _has_tesserocr() else "process"
    if engine not in ("api", "process"):
        raise EmbedderError(f"unknown OCR engine {engine!r}; known: auto, api, process")
    return engine


READER_ENGINES = ("auto", "tesseract", "shotdex")


def reader_engine_of(name: str | None) -> str:
    """'tesseract' or 'shotdex' for a --reader-engine value. 'auto' is shotdex's own engine, since it met
    its benchmark targets against Tesseract (BENCHMARKS.md, reader section); it hands what it was not
    made for to Tesseract itself."""
    if name in (None, "auto", "shotdex"):
        return "shotdex"
    if name == "tesseract":
        return name
    raise EmbedderError(f"unknown reader engine {name!r}; known: {', '.join(READER_ENGINES)}")


def ocr_config(engine: str = "auto", reader_engine: str = "tesseract") -> str:
    """Everything about the reading that changes what is read (goes into the reader's fingerprint)."""
    own = ""
    if reader_engine_of(reader_engine) == "shotdex":
        from .own_reader import config

        own = f"{config()}:psm{LINE_PSM}+"
    engine = choose_engine(engine)
    if engine == "api":
        import tesserocr

        full = tesserocr.tesseract_version().split()[1]
        version = ".".join(full.lstrip("v").split(".")[:2])
    else:
        version = tesseract_version()
    return f"{own}tesseract{version}:{LANG}:oem{OEM}:psm{PSM}:scale1:gray"


def _parse_tsv(tsv: str) -> Reading:
    """Tesseract TSV -> text (lines joined by newlines, blocks by blank lines) and word boxes."""
    words: list[Word] = []
    lines: list[str] = []
    current: list[str] = []
    key = None
    last_block = None
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        text = cols[11].strip()
        if not text:
            continue
        block, par, line = cols[2], cols[3], cols[4]
        if (block, par, line) != key:
            if current:
                lines.append(" ".join(current))
            if last_block is not None and block != last_block:
                lines.append("")
            current, key, last_block = [], (block, par, line), block
        current.append(text)
        x, y, w, h = (int(c) for c in cols[6:10])
        words.append(Word(text, x, y, w, h, float(cols[10])))
    if current:
        lines.append(" ".join(current))
    return Reading("\n".join(lines).strip(), words)


def _gray(image: "Image") -> "Image":
    # Tesseract binarises a grey image anyway; handing it one saves its conversion and our encoding.
    if image.mode in ("RGBA", "LA", "P"):
        from PIL import Image as PILImage

        rgba = image.convert("RGBA")
        bg = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(bg, rgba)
    return image.convert("L")


def silence_leptonica(module) -> bool:
    """Turn off Leptonica's own messages ('Error in pixScanForForeground', 'boxClipToRectangle'), which
    it writes straight to file descriptor 2 from inside Tesseract: shotdex's stderr carries only its
    own 'shotdex: ' lines. True when the library was found."""
    import ctypes
    import glob

    folder = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
    names = glob.glob(os.path.join(folder, "tesserocr.libs", "libleptonica*.so*")) + glob.glob(
        os.path.join(folder, "tesserocr.libs", "liblept*.so*")) + ["liblept.so.5", "libleptonica.so.6"]
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            lib.setMsgSeverity(ctypes.c_int(6))  # L_SEVERITY_NONE
            return True
        except (OSError, AttributeError):
            continue
    return False


class _ApiEngine:
    """tesserocr: one TessBaseAPI per thread, initialised once."""

    def __init__(self, tessdata: Path, psm: int = PSM):
        import tesserocr

        silence_leptonica(tesserocr)
        self._mod = tesserocr
        self._path = str(tessdata)
        self._psm = psm
        self._local = threading.local()
        self._apis: list = []
        self._lock = threading.Lock()

    def _api(self):
        api = getattr(self._local, "api", None)
        if api is None:
            t = self._mod
            api = t.PyTessBaseAPI(path=self._path, lang=LANG, oem=t.OEM.LSTM_ONLY, psm=self._psm)
            self._local.api = api
            with self._lock:
                self._apis.append(api)
        return api

    def read(self, image: "Image") -> Reading:
        api = self._api()
        api.SetImage(_gray(image))
        api.SetSourceResolution(96)  # a screenshot at 1x; stops "Invalid resolution" guessing
        api.Recognize()  # releases the GIL (GetTSVText alone would recognise holding it)
        return _parse_tsv(api.GetTSVText(0))

    def release_thread(self) -> None:
        """End the calling thread's Tesseract instance, if it has one."""
        api = getattr(self._local, "api", None)
        if api is not None:
            self._local.api = None
            with self._lock:
                self._apis.remove(api)
            api.End()

    def close(self) -> None:
        with self._lock:
            for api in self._apis:
                api.End()
            self._apis.clear()


class _ProcessEngine:
    """A `tesseract` process per image, fed a PGM on stdin (no compression to pay for)."""

    def __init__(self, program: str, tessdata: Path | None, psm: int = PSM):
        self._cmd = [program, "stdin", "stdout", "--oem", str(OEM), "--psm", str(psm), "-l", LANG, "--dpi", "96"]
        if tessdata is not None:
            self._cmd[1:1] = ["--tessdata-dir", str(tessdata)]
        self._cmd.append("tsv")
        self._env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def read(self, image: "Image") -> Reading:
        buf = io.BytesIO()
        _gray(image).save(buf, format="PPM")
        out = subprocess.run(self._cmd, input=buf.getvalue(), capture_output=True, env=self._env, timeout=300)
        if out.returncode != 0:
            raise EmbedderError(f"tesseract failed: {out.stderr.decode(errors='replace').strip()[-300:]}")
        return _parse_tsv(out.stdout.decode("utf-8", errors="replace"))

    def release_thread(self) -> None:
        pass

    def close(self) -> None:
        pass


class OcrPool:
    """Reads many images in parallel, one worker per core (or `workers`).

    Workers are threads: tesserocr releases the GIL while it recognises, and a tesseract process
    needs no Python at all, so threads keep every core busy without pickling images to processes.
    """

    def __init__(self, workers: int = 0, engine: str = "auto", reader_engine: str = "tesseract"):
        reader_engine = reader_engine_of(reader_engine)
        prog = tesseract_program()
        tessdata = tessdata_dir()
        engine = choose_engine(engine)
        if engine == "process" and prog is None:
            raise TesseractNotFound(INSTALL_HINT)
        if engine == "api" and tessdata is None:
            raise TesseractNotFound(f"no {LANG}.traineddata found: apt-get install tesseract-ocr")
        self.engine = engine
        self.workers = workers or os.cpu_count() or 1
        make = (lambda psm: _ApiEngine(tessdata, psm)) if engine == "api" else (lambda psm: _ProcessEngine(prog, tessdata, psm))
        self.reader_engine = reader_engine
        if reader_engine == "shotdex":
            from .own_reader import OwnEngine

            self._engine = OwnEngine(make(PSM), make(LINE_PSM))
        else:
            self._engine = make(PSM)
        self._pool: ThreadPoolExecutor | None = None

    @property
    def counts(self):
        """What shotdex's own engine read and handed to Tesseract (None for Tesseract alone)."""
        return getattr(self._engine, "counts", None)

    def read_one(self, image: "Image", kind: str | None = None) -> Reading:
        """The reading of one image on the calling thread (callers run their own threads); `kind` is
        the tile's source kind (shotdex's own engine reads only the kinds it was made for)."""
        if self.reader_engine == "shotdex":
            return self._engine.read(image, kind)
        return self._engine.read(image)

    def release_thread(self) -> None:
        """Free the calling thread's engine (a caller's thread that is done reading)."""
        self._engine.release_thread()

    def read(self, images: Sequence["Image"]) -> list[Reading]:
        """The reading of each image, in order."""
        if len(images) <= 1 or self.workers == 1:
            return [self._engine.read(im) for im in images]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="shotdex-ocr")
        return list(self._pool.map(self._engine.read, images))

    def iter_read(self, images: Sequence["Image"], kinds: Sequence[str] | None = None) -> Iterator[Reading]:
        """The readings in order, each yielded as soon as it (and those before it) are done, so the
        caller can embed one text while the workers read the next tiles."""
        kinds = list(kinds) if kinds is not None else [None] * len(images)
        if len(images) <= 1 or self.workers == 1:
            yield from (self.read_one(im, k) for im, k in zip(images, kinds))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="shotdex-ocr")
        futures = [self._pool.submit(self.read_one, im, k) for im, k in zip(images, kinds)]
        try:
            for f in futures:
                yield f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        """Stop the worker threads and free the Tesseract instances."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._engine.close()


def _has_tesserocr() -> bool:
    import importlib.util

    return importlib.util.find_spec("tesserocr") is not None
