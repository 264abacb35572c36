import numpy as np
import polars as pl
import pytest
import torch
import zarr

from brute_force import brute_force, brute_force_contexts, brute_force_threshold
from lmscope.sae_checkpoints import context_windows, figures, language, top_texts
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


@pytest.mark.parametrize("top_n, batch_docs", [(4, 3), (50, 5), (1, 1)])
def test_streaming_top_documents_equal_brute_force_with_ties(setup, top_n, batch_docs):
    sae, store, rows = setup
    top = top_texts.top_documents(sae, store, T, top_n=top_n, batch_docs=batch_docs)
    expected, z = brute_force(sae, rows, top_n, T)
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


@pytest.mark.parametrize("top_n, batch_docs, threshold, seed", [
    (4, 3, 0.7, 0), (50, 5, 0.7, 1), (1, 1, 0.3, 2), (6, 23, 0.0, 3), (3, 4, 0.9, 4)])
def test_threshold_documents_equal_the_authors_rule_by_brute_force(setup, top_n, batch_docs, threshold, seed):
    sae, store, rows = setup
    with torch.no_grad():
        sae.b_enc[3] = -100.0  # feature 3 never fires: no text, at any threshold
    got_all = top_texts.threshold_documents(sae, store, T, top_n=top_n, threshold=threshold, seed=seed,
                                            batch_docs=batch_docs)
    expected, z = brute_force_threshold(sae, rows, top_n, threshold, seed, T)
    order = top_texts.shuffled_order(len(z), seed).tolist()
    assert sorted(order) == list(range(23)) and order != list(range(23))
    for f in range(sae.d_sae):
        got = [(v, d, p) for v, d, p in zip(got_all["value"][f].tolist(), got_all["doc"][f].tolist(),
                                            got_all["position"][f].tolist()) if v > 0]
        assert [(d, p) for _, d, p in got] == [(d, p) for _, d, p in expected[f]], f
        np.testing.assert_allclose([v for v, _, _ in got], [v for v, _, _ in expected[f]], rtol=1e-6)
    assert expected[3] == []
    assert torch.allclose(got_all["frequency"], (z > 0).float().mean((0, 1)))
    top = top_texts.top_documents(sae, store, T, top_n=top_n, batch_docs=batch_docs)
    assert torch.equal(got_all["max_activation"], top["max_activation"])  # the same statistic as the top rule
    if threshold >= 0.7 and top_n > 1:  # the case is exercised: live features with fewer than top_n documents
        assert any(0 < len(expected[f]) < top_n for f in expected)
    # ties: the identical documents 2, 7, 15 qualify together and come in the shuffled order, not by doc id
    tied = [[d for _, d, _ in expected[f] if d in (2, 7, 15)] for f in range(sae.d_sae)]
    assert all(docs == sorted(docs, key=order.index) for docs in tied)
    if top_n >= 23:  # every qualifying document is taken: the cases are exercised
        assert any(len(docs) == 3 for docs in tied)
        assert any([d for _, d, _ in expected[f]] != sorted(d for _, d, _ in expected[f]) for f in expected)


def test_threshold_rule_takes_a_seeded_order_and_not_the_top(setup):
    sae, store, _ = setup
    pick = {seed: top_texts.threshold_documents(sae, store, T, top_n=2, threshold=0.3, seed=seed, batch_docs=4)
            for seed in (0, 1)}
    again = top_texts.threshold_documents(sae, store, T, top_n=2, threshold=0.3, seed=0, batch_docs=7)
    assert all(torch.equal(pick[0][key], again[key]) for key in ("value", "doc", "position"))
    assert not torch.equal(pick[0]["doc"], pick[1]["doc"])
    top = top_texts.top_documents(sae, store, T, top_n=2, batch_docs=4)
    assert not torch.equal(pick[0]["doc"], top["doc"])


def test_threshold_is_a_fraction_of_the_maximum_before_topk(tmp_path):
    """As the authors' hook on the encoder: feature 1 reaches 5 where feature 0 (6) takes the only active slot,
    so its maximum is 5, not its largest TopK activation 3."""
    sae = TopKSAE(2, 3, 1)
    with torch.no_grad():
        sae.W_enc_t.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    rows = np.zeros((2 * T, 2), dtype=np.float32)
    rows[0] = (6, 5)  # document 0: feature 0 active at 6, feature 1 at 5 before TopK
    rows[T + 1] = (0, 3)  # document 1: feature 1 active at 3
    store = zarr.create_array(store=str(tmp_path / "s.zarr"), shape=rows.shape, chunks=(T, 2), dtype="float32")
    store[:] = rows
    taken = {t: top_texts.threshold_documents(sae, store, T, top_n=5, threshold=t, seed=0, batch_docs=1)
             for t in (0.7, 0.5)}
    assert taken[0.7]["max_activation"].tolist() == [6.0, 3.0, 0.0]
    assert [d for d, v in zip(taken[0.7]["doc"][1].tolist(), taken[0.7]["value"][1].tolist()) if v > 0] == []
    assert [d for d, v in zip(taken[0.5]["doc"][1].tolist(), taken[0.5]["value"][1].tolist()) if v > 0] == [1]
    assert [d for d, v in zip(taken[0.7]["doc"][0].tolist(), taken[0.7]["value"][0].tolist()) if v > 0] == [0]


@pytest.mark.parametrize("selection", ["top", "threshold"])
def test_contexts_hold_every_tokens_activation_and_dead_features(setup, selection):
    sae, store, rows = setup
    with torch.no_grad():
        sae.b_enc[3] = -100.0  # feature 3 can never fire
    if selection == "top":
        top = top_texts.top_documents(sae, store, T, top_n=6, batch_docs=4)
    else:
        top = top_texts.threshold_documents(sae, store, T, top_n=6, threshold=0.5, seed=0, batch_docs=4)
    context_windows.write_contexts(sae, store, top, doc_id_offset=100, tokens_per_doc=T,
                                   path=store.store.root.parent / "contexts.parquet")
    contexts = pl.read_parquet(store.store.root.parent / "contexts.parquet")
    stats = top_texts.feature_stats(top, sae.d_sae)
    with torch.no_grad():
        z = sae.dense_latents(rows).view(-1, T, sae.d_sae)
    for f, rank, act, doc_id, pos, acts in contexts.iter_rows():
        doc = doc_id - 100
        np.testing.assert_allclose(acts, z[doc, :, f].numpy(), rtol=1e-6)
        assert act == pytest.approx(max(acts)) and acts[pos] == pytest.approx(act)
    assert stats.filter(pl.col("feature") == 3)["dead"].item() and 3 not in contexts["feature"].to_list()
    assert stats["n_texts"].to_list() == [int((contexts["feature"] == f).sum()) for f in range(16)]
    # ranks count 0, 1, ... per feature: the order of activation (top) or the order taken (threshold)
    for (f,), group in contexts.group_by(["feature"]):
        assert group["rank"].sort().to_list() == list(range(len(group)))


def test_run_writes_the_selection_asked_for(setup, tmp_path):
    sae, store, _ = setup
    sae.save(tmp_path / "sae", metadata={})
    store.attrs.update({"tokens_per_doc": T, "doc_id_offset": 100})
    for selection in ("top", "threshold"):
        out = tmp_path / selection
        top_texts.run(sae=tmp_path / "sae", test=tmp_path / "test.zarr",
                      contexts=out / "contexts.parquet", features=out / "features.parquet", top_n=3, batch_docs=4,
                      selection=selection, threshold=0.7, seed=5, device="cpu", threads=1)
        if selection == "top":
            chosen = top_texts.top_documents(sae, store, T, top_n=3, batch_docs=4)
        else:
            chosen = top_texts.threshold_documents(sae, store, T, top_n=3, threshold=0.7, seed=5, batch_docs=4)
        assert_same_contexts(pl.read_parquet(out / "contexts.parquet"),
                             brute_force_contexts(sae, store, chosen, 100, T))
        assert pl.read_parquet(out / "features.parquet").equals(top_texts.feature_stats(chosen, sae.d_sae))
    with pytest.raises(ValueError, match="selection"):
        top_texts.run(sae=tmp_path / "sae", test=tmp_path / "test.zarr", contexts=tmp_path / "c.parquet",
                      features=tmp_path / "f.parquet", top_n=3, batch_docs=4, selection="best", threshold=0.7,
                      seed=0, device="cpu", threads=1)


def assert_same_contexts(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    """The same schema, rows and order; windows equal to float32 rounding (a batch of documents may be encoded
    with other BLAS kernels than one document alone: measured bit-identical on the CI CPU)."""
    assert got.schema == expected.schema
    assert got.drop("activations").equals(expected.drop("activations"))
    np.testing.assert_allclose(np.concatenate(got["activations"].to_list()),
                               np.concatenate(expected["activations"].to_list()), rtol=1e-6, atol=1e-7)
    assert got["activations"].list.len().to_list() == expected["activations"].list.len().to_list()


class ChunkReads:
    """A store that records which chunks each read touches (rows // chunk rows of its integer index)."""

    def __init__(self, array):
        self.array, self.chunks, self.reads = array, array.chunks, []

    def __getitem__(self, rows):
        self.reads.append(set((np.asarray(rows) // self.chunks[0]).tolist()))
        return self.array[rows]


@pytest.mark.parametrize("batch_docs, bucket_rows, flush_rows", [(3, 7, 5), (1, 10_000, 10_000), (9, 16, 3)])
def test_contexts_read_in_chunk_order_through_buckets_equal_brute_force(setup, tmp_path, batch_docs, bucket_rows,
                                                                        flush_rows):
    """23 documents in chunks of 4, the texts' windows visited by span of chunks and sorted back through
    buckets of `bucket_rows` texts: the table of reading every text's document on its own, and no chunk read
    twice."""
    sae, store, _ = setup
    top = top_texts.top_documents(sae, store, T, top_n=6, batch_docs=4)
    reads = ChunkReads(store)
    context_windows.write_contexts(sae, reads, top, 100, T, tmp_path / "contexts.parquet", batch_docs=batch_docs,
                                   bucket_rows=bucket_rows, flush_rows=flush_rows)
    got = pl.read_parquet(tmp_path / "contexts.parquet")
    assert_same_contexts(got, brute_force_contexts(sae, store, top, 100, T))
    touched = [chunk for read in reads.reads for chunk in read]
    assert len(touched) == len(set(touched)) == 6  # every chunk holds a text's document, and is read once
    assert sorted(touched) == touched  # in storage order
    if bucket_rows < got.height:  # the case is exercised: several buckets, several flushes
        assert got.height > 4 * bucket_rows and flush_rows < got.height
        assert not list(tmp_path.glob(".contexts.parquet*"))  # the buckets are gone


def test_contexts_of_only_dead_features_are_an_empty_table_of_the_same_schema(setup, tmp_path):
    sae, store, _ = setup
    top = top_texts.top_documents(sae, store, T, top_n=3, batch_docs=4)
    top["value"] = torch.zeros_like(top["value"])
    context_windows.write_contexts(sae, store, top, 100, T, tmp_path / "contexts.parquet")
    got = pl.read_parquet(tmp_path / "contexts.parquet")
    assert got.height == 0 and got.schema == brute_force_contexts(sae, store, top, 100, T).schema


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
    # the script rule (language.by: script, once by: token) gives each text its token's language, None the document's
    text_lang = pl.DataFrame([(d, p, language.script_language(t)) for (d, p), t in tokens.items()],
                             schema=["doc_id", "position", "lang"], orient="row")
    by_token = language.feature_languages(contexts, documents, d_sae=4, text_lang=text_lang)
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


def test_language_run_by_script_reads_the_activating_tokens(tmp_path):
    """The activating token's script (language.by: script; by: token meant this rule before it followed the
    authors' evaluate.py, whose run is tested in test_language.py)."""
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
                 language=tmp_path / "lang.parquet", tally_csv=tmp_path / "tally.csv", threshold=0.9, strict=False,
                 by="script", tokenizer={"path": str(tmp_path / "tok")}, ckpt="step-1")
    table = pl.read_parquet(tmp_path / "lang.parquet")
    assert table.rows() == [(0, 3, 1, 2, "mixed"), (1, 0, 0, 0, "dead")]
    assert pl.read_csv(tmp_path / "tally.csv")["mixed"].item() == 1
