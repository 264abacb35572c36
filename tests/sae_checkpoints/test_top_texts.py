import numpy as np
import polars as pl
import pytest
import torch
import zarr

from lmscope.sae_checkpoints import figures, language, top_texts
from lmscope.sae_checkpoints.sae import TopKSAE

T = 5  # tokens per document


@pytest.fixture
def setup(tmp_path):
    torch.manual_seed(0)
    sae = TopKSAE(8, 16, 3, encoder_bias=True, seed=0)
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((23 * T, 8)).astype(np.float32)
    rows[7 * T:8 * T] = rows[2 * T:3 * T]  # document 7 repeats document 2: ties in every feature
    rows[15 * T:16 * T] = rows[2 * T:3 * T]  # and so does document 15
    store = zarr.create_array(store=str(tmp_path / "test.zarr"), shape=rows.shape, chunks=(4 * T, 8),
                              dtype="float32")
    store[:] = rows
    return sae, store, torch.from_numpy(rows)


def brute_force(sae, rows, top_n):
    with torch.no_grad():
        z = sae.dense_latents(rows).view(-1, T, sae.d_sae)
    value, position = z.max(1)  # [docs, features]; first position on ties within a document
    out = {}
    for f in range(sae.d_sae):
        ranked = sorted(((-value[d, f].item(), d) for d in range(len(value)) if value[d, f] > 0))[:top_n]
        out[f] = [(-v, d, position[d, f].item()) for v, d in ranked]
    return out, z


@pytest.mark.parametrize("top_n, batch_docs", [(4, 3), (50, 5), (1, 1)])
def test_streaming_top_documents_equal_brute_force_with_ties(setup, top_n, batch_docs):
    sae, store, rows = setup
    top = top_texts.top_documents(sae, store, T, top_n=top_n, batch_docs=batch_docs)
    expected, z = brute_force(sae, rows, top_n)
    for f in range(sae.d_sae):
        got = [(v, d, p) for v, d, p in zip(top["value"][f].tolist(), top["doc"][f].tolist(),
                                            top["position"][f].tolist()) if v > 0]
        assert [(d, p) for _, d, p in got] == [(d, p) for _, d, p in expected[f]], f
        np.testing.assert_allclose([v for v, _, _ in got], [v for v, _, _ in expected[f]], rtol=1e-6)
    assert torch.allclose(top["frequency"], (z > 0).float().mean((0, 1)))
    # ties: the repeated documents 2, 7, 15 appear in that order wherever they rank
    tied = [[d for _, d, _ in expected[f] if d in (2, 7, 15)] for f in range(sae.d_sae)]
    assert all(docs == sorted(docs) for docs in tied)
    if top_n >= 4:
        assert any(len(docs) >= 2 for docs in tied)  # the case is exercised


def test_contexts_hold_every_tokens_activation_and_dead_features(setup):
    sae, store, rows = setup
    with torch.no_grad():
        sae.b_enc[3] = -100.0  # feature 3 can never fire
    top = top_texts.top_documents(sae, store, T, top_n=6, batch_docs=4)
    contexts, stats = top_texts.contexts_table(sae, store, top, doc_id_offset=100, tokens_per_doc=T)
    with torch.no_grad():
        z = sae.dense_latents(rows).view(-1, T, sae.d_sae)
    for f, rank, act, doc_id, pos, acts in contexts.iter_rows():
        doc = doc_id - 100
        np.testing.assert_allclose(acts, z[doc, :, f].numpy(), rtol=1e-6)
        assert act == pytest.approx(max(acts)) and acts[pos] == pytest.approx(act)
    assert stats.filter(pl.col("feature") == 3)["dead"].item() and 3 not in contexts["feature"].to_list()
    assert stats["n_texts"].to_list() == [int((contexts["feature"] == f).sum()) for f in range(16)]


@pytest.mark.parametrize("n_ja, n_en, n, expected", [
    (9, 1, 10, "ja"),            # exactly 90%
    (899, 101, 1000, "mixed"),   # 89.9%
    (1, 9, 10, "en"),
    (5, 5, 10, "mixed"),
    (0, 0, 0, "dead"),
    (50, 0, 50, "ja"),
])
def test_the_90_percent_rule_at_its_boundaries(n_ja, n_en, n, expected):
    assert language.tendency(n_ja, n_en, n, 0.9) == expected


def test_script_of_the_activating_token():
    assert language.script_language("猫") == "ja" and language.script_language("ネコ") == "ja"
    assert language.script_language(" cat") == "en" and language.script_language("の") == "ja"
    assert language.script_language("1890") is None and language.script_language("。") is None


def test_feature_languages_count_by_document_or_by_token():
    documents = pl.DataFrame({"doc_id": [0, 1, 2, 3], "lang": ["ja", "en", "ja", "en"]})
    contexts = pl.DataFrame({"feature": [0, 0, 0, 1, 1, 2], "doc_id": [0, 2, 1, 0, 2, 3],
                             "position": [1, 1, 1, 2, 2, 0]})
    table = language.feature_languages(contexts, documents, d_sae=4)
    assert table.rows() == [(0, 3, 2, 1, "mixed"), (1, 2, 2, 0, "ja"), (2, 1, 0, 1, "en"), (3, 0, 0, 0, "dead")]
    tokens = {(0, 1): "猫", (2, 1): "1890", (1, 1): "猫", (0, 2): "cat", (2, 2): "cat", (3, 0): "。"}
    by_token = language.feature_languages(contexts, documents, d_sae=4, token_text=tokens)
    # feature 0: 猫 (ja), digits -> document ja, 猫 in an English document -> ja
    assert by_token.rows()[:3] == [(0, 3, 3, 0, "ja"), (1, 2, 0, 2, "en"), (2, 1, 0, 1, "en")]
    assert language.tally(table, "step-1") == {"checkpoint": "step-1", "ja": 1, "en": 1, "mixed": 1, "dead": 1,
                                               "share_ja": 1 / 3, "share_en": 1 / 3, "share_mixed": 1 / 3}


def test_fig4_csv_is_the_tallies(tmp_path):
    tallies = [{"checkpoint": "step-10", "ja": 1, "en": 2, "mixed": 7, "dead": 5, "share_ja": 0.1, "share_en": 0.2,
                "share_mixed": 0.7},
               {"checkpoint": "step-100", "ja": 4, "en": 4, "mixed": 2, "dead": 0, "share_ja": 0.4,
                "share_en": 0.4, "share_mixed": 0.2}]
    figures.fig4(tallies, tmp_path / "fig4.pdf", tmp_path / "fig4.csv")
    assert pl.read_csv(tmp_path / "fig4.csv").to_dicts() == tallies
    assert (tmp_path / "fig4.pdf").read_bytes().startswith(b"%PDF")


def test_language_run_by_token_reads_the_activating_tokens(tmp_path):
    from lmscope.tokenizer import train_bpe

    tok = train_bpe(["The cat sat. 猫がいる。 1890年"] * 20, vocab_size=300)
    tok.save_pretrained(tmp_path / "tok")
    texts = ["The cat sat.", "猫がいる。", "1890年"]
    ids = [tok(t, add_special_tokens=False)["input_ids"][:3] for t in texts]
    tokens = zarr.create_array(store=str(tmp_path / "tokens.zarr"), shape=(3, 4), chunks=(3, 4), dtype="int32")
    tokens[:] = np.array([[tok.bos_token_id, *row] for row in ids], dtype=np.int32)
    pl.DataFrame({"doc_id": [0, 1, 2], "lang": ["en", "en", "en"]}).write_parquet(tmp_path / "docs.parquet")
    # feature 0 fires on "The" (en), on the first token of 猫がいる (ja by script, though the document says en)
    # and on a digit of 1890 (no script: the document's en)
    pl.DataFrame({"feature": [0, 0, 0], "doc_id": [0, 1, 2], "position": [0, 0, 0]}).write_parquet(
        tmp_path / "contexts.parquet")
    pl.DataFrame({"feature": [0, 1]}).write_parquet(tmp_path / "features.parquet")
    language.run(contexts=tmp_path / "contexts.parquet", features=tmp_path / "features.parquet",
                 documents=tmp_path / "docs.parquet", tokens=tmp_path / "tokens.zarr",
                 language=tmp_path / "lang.parquet", tally_csv=tmp_path / "tally.csv", threshold=0.9, by="token",
                 tokenizer={"path": str(tmp_path / "tok")}, ckpt="step-1")
    table = pl.read_parquet(tmp_path / "lang.parquet")
    assert table.rows() == [(0, 3, 1, 2, "mixed"), (1, 0, 0, 0, "dead")]
    assert pl.read_csv(tmp_path / "tally.csv")["mixed"].item() == 1
