import json
from collections import Counter

import numpy as np
import polars as pl
import pytest
from tokenizers.processors import TemplateProcessing

from lmscope import tokenizer
from lmscope.sae_checkpoints import corpus, text_sources
from lmscope.sae_checkpoints.text_sources import RawDocument

SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.fixture(scope="module")
def synthetic():
    docs, _ = text_sources.read_sources([{"kind": "synthetic", "n_documents": 400, "seed": 0}], ["ja", "en"], 4000, "c")
    splits = corpus.assign_splits([d.lang for d in docs], SPLIT, seed=0)
    tok = tokenizer.train_bpe([d.text for d, s in zip(docs, splits) if s == "train"], vocab_size=800)
    return docs, splits, tok


def test_splits_are_disjoint_cover_everything_and_are_stratified():
    langs = ["ja"] * 500 + ["en"] * 300
    splits = corpus.assign_splits(langs, SPLIT, seed=5)
    assert len(splits) == len(langs) and set(splits) == {"train", "validation", "test"}
    counts = Counter(zip(langs, splits))
    assert counts[("ja", "train")] == 400 and counts[("ja", "validation")] == 50 and counts[("ja", "test")] == 50
    assert counts[("en", "train")] == 240 and counts[("en", "validation")] == 30 and counts[("en", "test")] == 30
    assert splits == corpus.assign_splits(langs, SPLIT, seed=5)
    assert splits != corpus.assign_splits(langs, SPLIT, seed=6)


def test_windows_start_with_the_tokenizers_bos_and_hold_the_first_tokens(synthetic):
    docs, _, tok = synthetic
    win = corpus.tokenize_windows(docs[:50], tok, 16, bos=tokenizer.bos_id(tok, None, "k"))
    assert win.tokens.dtype == np.int32 and win.tokens.shape == (len(win.keep), 17)
    assert (win.tokens[:, 0] == tok.bos_token_id).all()
    for row, i in zip(win.tokens, win.keep):
        assert row[1:].tolist() == tok(docs[i].text, add_special_tokens=False)["input_ids"][:16]


def test_a_tokenizer_that_adds_bos_itself_does_not_get_two(synthetic):
    docs, _, tok = synthetic
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)])
    assert tok(docs[0].text)["input_ids"][0] == tok.bos_token_id  # it does add BOS on its own
    win = corpus.tokenize_windows(docs[:10], tok, 16, bos=tok.bos_token_id)
    assert (win.tokens[:, 1] != tok.bos_token_id).all()


def test_without_bos_the_configured_id_then_eos_stands_first(synthetic):
    docs, splits, _ = synthetic
    tok = tokenizer.train_bpe([d.text for d in docs[:100]], vocab_size=600, with_bos=False)
    assert tok.bos_token_id is None
    assert tokenizer.bos_id(tok, 7, "k") == 7
    assert tokenizer.bos_id(tok, None, "k") == tok.eos_token_id
    win = corpus.tokenize_windows(docs[:20], tok, 16, bos=tokenizer.bos_id(tok, None, "k"))
    assert (win.tokens[:, 0] == tok.eos_token_id).all()


def test_short_documents_are_skipped_and_counted(synthetic):
    _, _, tok = synthetic
    docs = [RawDocument("a", "en", "The cat."), RawDocument("b", "ja", "猫。"),
            RawDocument("c", "en", " ".join(["the river runs past the city"] * 10))]
    win = corpus.tokenize_windows(docs, tok, 20, bos=1)
    assert win.keep == [2]
    assert win.skipped_short == Counter({"en": 1, "ja": 1})


def test_languages_are_one_to_one_in_every_split_and_rows_grouped_by_split(synthetic):
    docs, splits, tok = synthetic
    built = corpus.build(docs, splits, tok, 48, tok.bos_token_id, ["ja", "en"], True, 0, "c")
    counts = Counter(zip(built.documents["split"], built.documents["lang"]))
    for split in ("train", "validation", "test"):
        assert counts[(split, "ja")] == counts[(split, "en")] > 0
    assert built.documents["split"].to_list() == sorted(built.documents["split"].to_list(),
                                                         key=corpus.SPLITS.index)
    assert built.documents["doc_id"].to_list() == list(range(len(built.documents)))
    assert built.tokens.shape == (len(built.documents), 49)
    # the rows kept are the windows of exactly those documents
    text_of = {d.source_id: d.text for d in docs}
    for doc_id in (0, len(built.documents) // 2, len(built.documents) - 1):
        sid = built.documents["source_id"][doc_id]
        assert built.tokens[doc_id, 1:].tolist() == tok(text_of[sid], add_special_tokens=False)["input_ids"][:48]


def test_balance_refuses_a_split_with_a_missing_language():
    with pytest.raises(ValueError, match="corpora\\[3\\].*'ja'"):
        corpus.balance_languages(["en", "en"], ["train", "train"], ["ja", "en"], 0, "corpora[3]")


def test_planted_labels_line_up_with_tokens(synthetic):
    docs, splits, tok = synthetic
    built = corpus.build(docs, splits, tok, 48, tok.bos_token_id, ["ja", "en"], True, 0, "c")
    assert len(built.concepts) > 1000
    by_source = {d.source_id: d for d in docs}
    exact = whole = 0
    for doc_id, pos, cid, ctype, lang, surface in built.concepts.iter_rows():
        assert by_source[built.documents["source_id"][doc_id]].lang == lang
        piece = tok.decode([int(built.tokens[doc_id, pos + 1])]).strip()
        if not piece or "\ufffd" in piece:  # a space inside a name, or part of a multi-byte character
            continue
        whole += 1
        assert set(piece) & set(surface), (piece, surface)  # a shifted position would share nothing
        exact += piece in surface
    assert whole > 1000 and exact / whole > 0.95
    # every planted mention inside a window has at least one labelled token
    labelled = set(zip(built.concepts["doc_id"], built.concepts["concept_id"]))
    for doc_id, sid in enumerate(built.documents["source_id"][:100]):
        window = tok.decode(built.tokens[doc_id, 1:].tolist())
        for span in by_source[sid].spans:
            if span.end <= len(window) - 5:
                assert (doc_id, span.concept_id) in labelled


def test_local_jsonl_skips_and_counts_bad_records(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"text": "An English text.", "language": "en"}),
             "{not json",
             json.dumps({"text": "", "language": "en"}),
             json.dumps({"text": "Ein deutscher Text.", "language": "de"}),
             json.dumps({"text": "日本語の文章。", "language": "ja"})]
    path.write_text("\n".join(lines) + "\n")
    spec = {"kind": "jsonl", "path": str(path), "text_field": "text", "lang_field": "language"}
    docs, stats = text_sources.read_sources([spec], ["ja", "en"], 100, "corpora[0]")
    assert [(d.lang, d.text) for d in docs] == [("en", "An English text."), ("ja", "日本語の文章。")]
    skipped = stats["corpora[0].sources[0]"]["skipped"]
    assert skipped == {"unreadable": 1, "empty text": 1, "language 'de' not in ['ja', 'en']": 1}


def test_local_parquet_with_a_fixed_language_and_max_documents(tmp_path):
    path = tmp_path / "docs.parquet"
    pl.DataFrame({"body": [f"text number {i}" for i in range(10)]}).write_parquet(path)
    spec = {"kind": "parquet", "path": str(path), "text_field": "body", "lang": "en", "max_documents": 4}
    docs, _ = text_sources.read_sources([spec], ["en"], 100, "corpora[0]")
    assert [d.text for d in docs] == [f"text number {i}" for i in range(4)]


def test_a_missing_local_file_names_the_key(tmp_path):
    spec = {"kind": "jsonl", "path": str(tmp_path / "nope.jsonl"), "text_field": "text", "lang": "en"}
    with pytest.raises(text_sources.SourceError, match=r"corpora\[2\]\.sources\[0\]\.path"):
        text_sources.read_sources([spec], ["en"], 100, "corpora[2]")


def test_hugging_face_dataset_source_streams_a_dataset_saved_to_disk(tmp_path):
    # The same load_dataset(..., streaming=True) call that reads wikimedia/wikipedia from the hub, here on a
    # dataset saved in the hub's parquet layout.
    data = tmp_path / "wiki" / "data"
    data.mkdir(parents=True)
    pl.DataFrame({"id": ["7", "8", "9"], "title": ["a", "b", "c"],
                  "text": ["猫は動物である。", "", "川は流れる。"]}).write_parquet(data / "train-00000-of-00001.parquet")
    spec = {"kind": "hf", "dataset": str(tmp_path / "wiki"), "split": "train", "text_field": "text", "lang": "ja"}
    docs, stats = text_sources.read_sources([spec], ["ja", "en"], 100, "corpora[0]")
    assert [(d.source_id, d.text) for d in docs] == [("wiki:7", "猫は動物である。"), ("wiki:9", "川は流れる。")]
    assert stats["corpora[0].sources[0]"]["skipped"] == {"empty text": 1}


def test_corpus_artifacts_are_written_whole(synthetic, tmp_path):
    import zarr

    docs, splits, tok = synthetic
    built = corpus.build(docs, splits, tok, 32, tok.bos_token_id, ["ja", "en"], True, 0, "c")
    out = {k: tmp_path / v for k, v in dict(d="documents.parquet", t="tokens.zarr", c="concepts.parquet",
                                            s="stats.json").items()}
    corpus.write(built, out["d"], out["t"], out["c"], out["s"], attrs={"corpus": "c"})
    arr = zarr.open_array(str(out["t"]), mode="r")
    assert arr.dtype == np.int32 and arr.shape == built.tokens.shape
    assert (arr[:] == built.tokens).all()
    assert arr.attrs["split_offsets"]["train"] == [0, int((built.documents["split"] == "train").sum())]
    assert pl.read_parquet(out["d"]).equals(built.documents)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(v.name for v in out.values())  # no temporaries
