"""Example-feature pages (fig3 / fig6), the feature browser, token pieces and the CJK font (no tofu)."""

import base64
import io
import json
import re
import shutil
import subprocess
import unicodedata
import warnings

import numpy as np
import paper_scale_checkpoint
import polars as pl
import pytest
import zarr

from lmscope import fonts
from lmscope.errors import InputError
from lmscope.sae_checkpoints import browser, browser_shards, feature_cards, highlight, stages
from lmscope.sae_checkpoints.synthetic_text import generate
from lmscope.tokenizer import load_tokenizer, train_bpe


@pytest.fixture(scope="module")
def tokenizer():
    docs = generate(40, seed=3)
    return train_bpe([d.text for d in docs], vocab_size=400)


def test_the_shipped_font_covers_every_character_of_the_synthetic_world():
    text = "".join(d.text for d in generate(300, seed=0))
    assert re.search(r"[\u3040-\u30ff]", text) and re.search(r"[\u4e00-\u9fff]", text)  # kana and kanji present
    assert fonts.missing_glyphs(text) == set()
    # the check can fail: scripts that neither DejaVu Sans nor IPAexGothic covers are reported
    assert fonts.missing_glyphs("猫 cat ꀀ අ") == {"ꀀ", "අ"}


def test_the_embedded_font_is_a_subset_holding_exactly_the_page_characters():
    from fontTools.ttLib import TTFont

    css = fonts.font_face_css("猫はネコ")
    data = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", css).group(1))
    cmap = TTFont(io.BytesIO(data)).getBestCmap()
    assert {ord(c) for c in "猫はネコ"} <= set(cmap)
    assert ord("犬") not in cmap  # subset, not the whole 6 MB font
    assert len(data) < 50_000


def test_token_pieces_join_to_the_decoded_text_even_inside_a_split_character(tokenizer):
    # 猫 as its three UTF-8 bytes, each a byte-level token of its own: decoding one alone gives U+FFFD
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = {c: i for c, i in tokenizer.get_vocab().items() if len(c) == 1}
    mapped = ByteLevel(add_prefix_space=False).pre_tokenize_str("猫")[0][0]  # bytes as byte-level characters
    byte_tokens = [alphabet[c] for c in mapped]
    assert len(byte_tokens) == 3 and highlight.REPLACEMENT in tokenizer.decode(byte_tokens[:1])
    ids = tokenizer("The cat", add_special_tokens=False)["input_ids"] + byte_tokens + \
        tokenizer("はネコ", add_special_tokens=False)["input_ids"]
    pieces = highlight.token_pieces(tokenizer, ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces) == tokenizer.decode(ids) == "The cat猫はネコ"
    start = len(tokenizer("The cat", add_special_tokens=False)["input_ids"])
    assert pieces[start:start + 3] == ["", "", "猫"]  # the character appears with the byte that completes it
    assert highlight.REPLACEMENT not in "".join(pieces)


def test_highlighted_html_escapes_text_and_shades_by_activation():
    out = highlight.text_html(["a<b", " c", " d"], [0.0, 0.5, 1.0], 1.0, top_position=2)
    assert out.startswith("a&lt;b<span")
    assert 'rgba(255,140,0,0.50)" title="0.5"> c</span>' in out
    assert '<span class="top" style="background:rgba(255,140,0,1.00)"' in out
    assert highlight.shade(2.0, 1.0) == 1.0 and highlight.shade(0.3, 0.0) == 0.0


def test_stages_are_first_middle_and_last_checkpoint():
    assert stages.stage_checkpoints(["a", "b", "c", "d", "e"]) == {"early": "a", "middle": "c", "final": "e"}
    assert stages.stage_checkpoints(["a", "b", "c", "d"]) == {"early": "a", "middle": "b", "final": "d"}
    assert stages.stage_checkpoints(["a", "b"]) == {"early": "a", "final": "b"}
    assert stages.stage_checkpoints(["a"]) == {"early": "a"}
    # examples.checkpoints names them instead (the paper's steps 100, 10,000 and the last)
    assert stages.stage_checkpoints(list("abcde"), ["b", "d", "e"]) == {"early": "b", "middle": "d", "final": "e"}
    assert stages.stage_checkpoints(list("abcde"), ["b", "e"]) == {"early": "b", "final": "e"}
    assert stages.stage_checkpoints(list("abcde"), ["c"]) == {"early": "c"}


def test_example_features_pinned_first_then_a_seeded_sample_of_eligible_ones():
    language = pl.DataFrame({"feature": list(range(10)), "n_texts": [0, 3, 5, 2, 3, 3, 9, 3, 3, 1]})
    eligible = {1, 2, 4, 5, 6, 7, 8}
    picked = feature_cards.choose_features(language, 4, 3, seed=0, pinned=[6], checkpoint="step-1")
    assert picked[0] == 6 and len(picked) == 4 and set(picked) <= eligible
    assert picked == feature_cards.choose_features(language, 4, 3, seed=0, pinned=[6], checkpoint="step-1")
    samples = {tuple(feature_cards.choose_features(language, 3, 3, seed=s, pinned=[], checkpoint="c")) for s in range(8)}
    assert len(samples) > 1  # the seed matters
    assert set(feature_cards.choose_features(language, 99, 3, 0, [], "c")) == eligible
    with pytest.raises(ValueError, match=r"examples.pinned\['step-1'\]: feature 3 has fewer than 3 texts"):
        feature_cards.choose_features(language, 4, 3, seed=0, pinned=[3], checkpoint="step-1")


def small_checkpoint():
    """Three documents and four features (one dead) with hand-made contexts."""
    pieces = {10: ["The", " cat", " sat", "."], 11: ["猫", "は", "ネコ", "。"], 12: ["A", " dog", " and", " a cat"]}
    lang = {10: "en", 11: "ja", 12: "en"}
    contexts = pl.DataFrame({
        "feature": [0, 0, 0, 1, 1, 3],
        "rank": [0, 1, 2, 0, 1, 0],
        "activation": [0.9, 0.8, 0.5, 2.0, 1.0, 0.3],
        "doc_id": [10, 11, 12, 12, 10, 11],
        "position": [1, 0, 3, 1, 1, 2],
        "activations": [[0.0, 0.9, 0.1, 0.0], [0.8, 0.0, 0.4, 0.0], [0.0, 0.2, 0.0, 0.5], [0.0, 2.0, 0.0, 0.0],
                        [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.3, 0.0]],
    }, schema_overrides={"feature": pl.Int32, "activations": pl.List(pl.Float32)})
    stats = pl.DataFrame({"feature": [0, 1, 2, 3], "frequency": [0.1, 0.05, 0.0, 0.01],
                          "max_activation": [0.9, 2.0, 0.0, 0.3], "n_texts": [3, 2, 0, 1],
                          "dead": [False, False, True, False]}, schema_overrides={"feature": pl.Int32})
    language = pl.DataFrame({"feature": [0, 1, 2, 3], "n_texts": [3, 2, 0, 1], "n_ja": [1, 0, 0, 1],
                             "n_en": [2, 2, 0, 0], "tendency": ["mixed", "en", "dead", "ja"]},
                            schema_overrides={"feature": pl.Int32})
    return contexts, stats, language, lang, pieces


def write_browser(directory, contexts, stats, language, lang, pieces, texts_per_feature, labels=None):
    """A checkpoint's page and shards from in-memory tables, as run_page writes them from files."""
    contexts.write_parquet(directory / "contexts.parquet")
    (directory / "page").mkdir()
    documents = lambda ids: [browser_shards.shown_document(d, lang[d], pieces[d]) for d in ids]  # noqa: E731
    maxima = stats.sort("feature")["max_activation"].to_numpy()
    browser_shards.write_shards(directory / "page", browser_shards.feature_blocks(
        directory / "contexts.parquet", texts_per_feature), stats.height, maxima, documents)
    index = browser.page_index("step-5", "m", stats, language, labels or {}, "page")
    (directory / "page.html").write_text(browser.checkpoint_html(index), encoding="utf-8")
    return index


def read_shard(path):
    """A shard's data as the page sees it: {feature: [(doc_id, position, activation, positions, levels)]}."""
    shard = json.loads(re.fullmatch(r"lmscopeShard\(\d+,(.*)\);\n", path.read_text(encoding="utf-8"), re.S).group(1))
    if "features" not in shard:
        return {}
    c = {name: np.frombuffer(base64.b64decode(shard[name]), dtype=dtype)
         for name, dtype in browser_shards.SHARD_COLUMNS.items()}
    texts, text, shade = {}, 0, 0
    for feature, n in zip(c["features"], c["n_texts"]):
        for _ in range(n):
            k = c["shaded"][text]
            texts.setdefault(int(feature), []).append((
                shard["docs"][c["doc"][text]][0], int(c["position"][text]), float(c["activation"][text]),
                c["shade_position"][shade:shade + k].tolist(), c["shade_level"][shade:shade + k].tolist()))
            text, shade = text + 1, shade + k
    return texts


def test_browser_index_keeps_live_features_and_shards_hold_sparse_shading(tmp_path):
    contexts, stats, language, lang, pieces = small_checkpoint()
    index = write_browser(tmp_path, contexts, stats, language, lang, pieces, texts_per_feature=2, labels={3: "token"})
    assert index["id"] == [0, 1, 3] and index["d_sae"] == 4  # feature 2 is dead
    assert [index["tendencies"][t] for t in index["tendency"]] == ["mixed", "en", "ja"]
    assert index["granularity"] == {"3": "token"}
    texts = read_shard(tmp_path / "page" / "shard-00000.js")  # 4 features: one block
    assert sorted(texts) == [0, 1, 3] and len(texts[0]) == 2  # texts_per_feature cuts rank 2
    doc, position, activation, positions, levels = texts[0][1]
    assert (doc, position, positions, levels) == (11, 0, [0, 2], [227, 113])  # 0.8/0.9 and 0.4/0.9 of 255
    assert activation == pytest.approx(0.8)
    # the top tokens' pieces, each with its features as [step from the previous feature, texts]
    tokens = (tmp_path / "page" / "tokens.js").read_text(encoding="utf-8")
    assert tokens == 'lmscopeTokens({"pieces":[" cat"," dog","ネコ","猫"],"postings":["0,1,1,1","1,1","3,1","0,1"]});\n'
    # a tiny activation stays visible; a block without texts gets an empty shard
    last = browser_shards.BLOCK_FEATURES + 5  # the only live feature, in the second block
    tiny = contexts.head(1).with_columns(feature=pl.lit(last, pl.Int32),
                                         activations=pl.Series([[0.0, 0.001, 1.0, 0.0]], dtype=pl.List(pl.Float32)))
    stats = pl.DataFrame({"feature": range(last + 1), "frequency": 0.1, "max_activation": 1.0, "n_texts": 1,
                          "dead": [True] * last + [False]}, schema_overrides={"feature": pl.Int32})
    (tmp_path / "tiny").mkdir()
    write_browser(tmp_path / "tiny", tiny, stats, stats.select("feature", tendency=pl.lit("en"), n_ja=0, n_en=1),
                  lang, pieces, 1)
    assert read_shard(tmp_path / "tiny" / "page" / "shard-00000.js") == {}
    assert read_shard(tmp_path / "tiny" / "page" / "shard-00001.js")[last][0][3:] == ([1, 2], [1, 255])


def test_shards_need_contexts_in_feature_and_rank_order(tmp_path):
    contexts = small_checkpoint()[0]
    contexts.reverse().write_parquet(tmp_path / "contexts.parquet")
    with pytest.raises(InputError, match="not in feature and rank order"):
        next(browser_shards.feature_blocks(tmp_path / "contexts.parquet", 50))


def test_example_pages_render_japanese_without_missing_glyphs(tmp_path):
    contexts, stats, language, lang, pieces = small_checkpoint()
    exs = feature_cards.collect("early", "step-5", [0, 3], contexts, stats, language, lang, pieces, n_texts=3)
    assert [len(e.texts) for e in exs] == [3, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for tofu
        feature_cards.write_pdf(exs, tmp_path / "fig.pdf", "Example features 猫", "caption")
    pdf = (tmp_path / "fig.pdf").read_bytes()
    assert b"IPAexGothic" in pdf and b"DejaVuSans" in pdf  # both fonts embedded
    feature_cards.write_html(exs, tmp_path / "fig.html", "Example features", "caption")
    page = (tmp_path / "fig.html").read_text()
    assert "@font-face" in page and "ネコ" in page and '<span class="top"' in page
    feature_cards.write_csv(exs, tmp_path / "fig.csv")
    rows = pl.read_csv(tmp_path / "fig.csv")
    assert rows["top_token"].to_list() == [" cat", "猫", " a cat", "ネコ"]
    assert rows["text"][1] == "猫はネコ。"


def find_browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def dump_dom(browser_bin, url):
    proc = subprocess.run([browser_bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--disable-background-networking", "--no-first-run", "--virtual-time-budget=10000",
                           "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def expected_token_search(contexts, pieces, query, texts_per_feature=50):
    """Brute force of the page's token search: features whose texts' top tokens contain the query (NFKC,
    case-folded, trimmed), most matching texts first, then by id."""
    norm = lambda s: unicodedata.normalize("NFKC", s).lower().strip()  # noqa: E731
    tops = pl.DataFrame([(d, p, piece) for d, window in pieces.items() for p, piece in enumerate(window)],
                        schema={"doc_id": pl.Int64, "position": pl.Int64, "piece": pl.String}, orient="row")
    matching = tops.filter(pl.col("piece").map_elements(lambda piece: norm(query) in norm(piece), pl.Boolean))
    counts = (contexts.filter(pl.col("rank") < texts_per_feature).join(matching, on=["doc_id", "position"])
              .group_by("feature").len().sort(pl.col("len"), "feature", descending=[True, False]))
    return counts["feature"].to_list()


def shown(dom):
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    return [int(f) for f in re.findall(r'class="card" data-feature="(\d+)"', dom)]


def texts_shown(dom):
    return dom.split('<div id="results">')[1].split("<script")[0].count('<div class="text">')


@pytest.mark.skipif(find_browser() is None, reason="no chromium/chrome installed (tests/install_browser.sh)")
def test_browser_searches_by_token_and_feature_in_a_real_headless_browser(tmp_path):
    contexts, stats, language, lang, pieces = small_checkpoint()
    write_browser(tmp_path, contexts, stats, language, lang, pieces, texts_per_feature=50)
    url = (tmp_path / "page.html").as_uri()
    bin_ = find_browser()
    dom = dump_dom(bin_, url)
    assert shown(dom) == [0, 1, 3] and 'data-cjk-font="loaded"' in dom  # everything live; the font loads
    for query in ("cat", "ネコ", "CAT", "dog", "猫", "nothing"):
        dom = dump_dom(bin_, f"{url}#token={query}")
        assert shown(dom) == expected_token_search(contexts, pieces, query), query
    assert expected_token_search(contexts, pieces, "cat") == [0, 1]  # the brute force is not vacuous
    dom = dump_dom(bin_, f"{url}#feature=3")
    assert shown(dom) == [3] and "ネコ" in dom and '<span class="top"' in dom
    dom = dump_dom(bin_, f"{url}#feature=2")
    assert shown(dom) == [] and "feature #2 is dead" in dom
    # without its folder of shards (a report's copy of the page) the cards say why they have no texts
    (tmp_path / "page").rename(tmp_path / "elsewhere")
    dom = dump_dom(bin_, url)
    assert shown(dom) == [0, 1, 3] and "page/shard-00000.js did not load" in dom


@pytest.fixture(scope="module")
def paper_scale(tmp_path_factory):
    """A checkpoint of 32,768 features x 50 texts (tests/paper_scale_checkpoint.py) and its browser page, built
    by run_page."""
    directory = tmp_path_factory.mktemp("paper_scale")
    tables = paper_scale_checkpoint.write_checkpoint(directory / "features")
    browser.run_page(**tables, page=directory / "step-1.html", shards=directory / "step-1")
    return tables, directory


@pytest.mark.skipif(find_browser() is None, reason="no chromium/chrome installed (tests/install_browser.sh)")
def test_browser_of_32768_features_opens_with_little_and_finds_late_features(paper_scale):
    tables, directory = paper_scale
    url = (directory / "step-1.html").as_uri()
    bin_ = find_browser()
    dom = dump_dom(bin_, url)
    assert shown(dom) == list(range(20))  # the first page of cards, in id order (feature 999 is the first dead)
    assert texts_shown(dom) == 20 * 5  # each with its first five texts
    # what the page read before the first cards had their texts: itself and the shard of features 0-31
    loaded = re.search(r'data-first-render-files="([^"]*)"', dom).group(1).split()
    assert loaded == ["shard-00000.js"]
    assert (directory / "step-1.html").stat().st_size + sum((directory / "step-1" / f).stat().st_size
                                                            for f in loaded) < 5_000_000

    # a feature in a late shard, by id and by the one token only its texts activate on
    marked = paper_scale_checkpoint.MARKED
    for search in (f"feature={marked}", f"token={paper_scale_checkpoint.MARK}"):
        dom = dump_dom(bin_, f"{url}#{search}")
        assert shown(dom) == [marked], search
        assert texts_shown(dom) == 5 and dom.count(paper_scale_checkpoint.MARK) >= 5
        assert browser_shards.shard_name(marked // browser_shards.BLOCK_FEATURES) in re.search(
            r'data-first-render-files="([^"]*)"', dom).group(1)
    # a token many features activate on: the same features, in the same order, as a brute force over the tables
    contexts = pl.read_parquet(tables["contexts"], columns=["feature", "rank", "doc_id", "position"])
    pieces = highlight.window_pieces(load_tokenizer(tables["tokenizer"]), zarr.open_array(str(tables["tokens"])),
                                     contexts["doc_id"].unique().to_list())
    expected = expected_token_search(contexts, pieces, "river")
    dom = dump_dom(bin_, f"{url}#token=river")
    assert len(expected) > 1000 and shown(dom) == expected[:20]
    assert f'data-count="{len(expected)}"' in dom
