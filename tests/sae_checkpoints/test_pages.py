"""Example-feature pages (fig3 / fig6), the feature browser, token pieces and the CJK font (no tofu)."""

import base64
import io
import re
import shutil
import subprocess
import unicodedata
import warnings

import polars as pl
import pytest

from lmscope import fonts
from lmscope.sae_checkpoints import browser, feature_cards, highlight, stages
from lmscope.sae_checkpoints.synthetic_text import generate
from lmscope.tokenizer import train_bpe


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


def test_browser_data_keeps_live_features_and_sparse_shading():
    contexts, stats, language, lang, pieces = small_checkpoint()
    data = browser.page_data("step-5", "m", contexts, stats, language, lang, pieces, texts_per_feature=2)
    assert [f[0] for f in data["features"]] == [0, 1, 3]  # feature 2 is dead
    assert data["d_sae"] == 4 and [d[0] for d in data["docs"]] == [10, 11, 12]
    f0 = data["features"][0]
    assert f0[1] == "mixed" and len(f0[8]) == 2  # texts_per_feature cuts rank 2
    doc, position, activation, positions, levels = f0[8][1]
    assert (doc, position, positions, levels) == (1, 0, [0, 2], [227, 113])  # 0.8/0.9 and 0.4/0.9 of 255
    assert browser.levels([0.0, 0.001, 1.0], 1.0) == ([1, 2], [1, 255])  # a tiny activation stays visible


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


def expected_token_search(data, query):
    """Brute force of the page's token search: features whose texts' top tokens contain the query (NFKC,
    case-folded, trimmed), most matching texts first, then by id."""
    norm = lambda s: unicodedata.normalize("NFKC", s).lower().strip()  # noqa: E731
    counts = []
    for f in data["features"]:
        n = sum(norm(query) in norm(data["docs"][t[0]][2][t[1]]) for t in f[8])
        if n:
            counts.append((-n, f[0]))
    return [f for _, f in sorted(counts)]


@pytest.mark.skipif(find_browser() is None, reason="no chromium/chrome installed (tests/install_browser.sh)")
def test_browser_searches_by_token_and_feature_in_a_real_headless_browser(tmp_path):
    contexts, stats, language, lang, pieces = small_checkpoint()
    data = browser.page_data("step-5", "m", contexts, stats, language, lang, pieces, texts_per_feature=50)
    (tmp_path / "page.html").write_text(browser.checkpoint_html(data), encoding="utf-8")
    url = (tmp_path / "page.html").as_uri()
    bin_ = find_browser()

    def shown(dom):
        assert 'data-ready="1"' in dom, "the page's script did not finish"
        return [int(f) for f in re.findall(r'class="card" data-feature="(\d+)"', dom)]

    dom = dump_dom(bin_, url)
    assert shown(dom) == [0, 1, 3] and 'data-cjk-font="loaded"' in dom  # everything live; embedded font loads
    for query in ("cat", "ネコ", "CAT", "dog", "猫", "nothing"):
        dom = dump_dom(bin_, f"{url}#token={query}")
        assert shown(dom) == expected_token_search(data, query), query
    assert expected_token_search(data, "cat") == [0, 1]  # the brute force is not vacuous
    dom = dump_dom(bin_, f"{url}#feature=3")
    assert shown(dom) == [3] and "ネコ" in dom and '<span class="top"' in dom
    dom = dump_dom(bin_, f"{url}#feature=2")
    assert shown(dom) == [] and "feature #2 is dead" in dom
