import json
import random
from collections import Counter

import numpy as np
import polars as pl
import pytest
import zarr
from tokenizers.processors import TemplateProcessing

from lmscope import tokenizer
from lmscope.errors import InputError
from lmscope.sae_checkpoints import corpus, synthetic_text, text_sources
from lmscope.sae_checkpoints.text_sources import RawDocument

SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1}
SYNTHETIC = {"kind": "synthetic", "n_documents": 400, "seed": 0}


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


def reference_splits(langs: list[str], fractions: dict[str, float], seed: int) -> list[str]:
    """The list-based split assignment the per-document codes replaced: both must draw the same splits."""
    out = [""] * len(langs)
    for lang in sorted(set(langs)):
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        random.Random(f"{seed}:{lang}").shuffle(idx)
        n_train, n_val = round(fractions["train"] * len(idx)), round(fractions["validation"] * len(idx))
        for rank, i in enumerate(idx):
            out[i] = "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
    return out


def test_split_codes_draw_what_shuffling_the_documents_drew():
    langs = random.Random(1).choices(["ja", "en", "de"], k=3001)
    assert corpus.assign_splits(langs, SPLIT, seed=3) == reference_splits(langs, SPLIT, seed=3)


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


def test_balance_refuses_a_split_with_a_missing_language():
    with pytest.raises(ValueError, match="corpora\\[3\\].*'ja'"):
        corpus.balance_languages(np.array([1, 1], dtype=np.int8), ["ja", "en"], "train", 0, "corpora[3]")


def jsonl_source(path, n: int = 120) -> dict:
    """Unlabelled documents from a file, with one line that is not JSON (skipped and counted)."""
    lines = [json.dumps({"text": d.text, "language": d.lang}, ensure_ascii=False)
             for d in synthetic_text.generate(n // 2, seed=7)]
    lines[3] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    return {"kind": "jsonl", "path": str(path), "text_field": "text", "lang_field": "language"}


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """The three corpus rules on labelled and unlabelled sources, with row groups, batches and chunks small
    enough that every stage crosses many of them."""
    out = tmp_path_factory.mktemp("corpus")
    sources = [SYNTHETIC, jsonl_source(out / "docs.jsonl")]
    paths = {name: out / name for name in ("sources.parquet", "spans.parquet", "sources.json", "documents.parquet",
                                           "tokens.zarr", "concepts.parquet", "stats.json", "tokenizer")}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(corpus, "ROW_GROUP_DOCUMENTS", 97)
        mp.setattr(corpus, "TOKENIZE_BATCH", 53)
        mp.setattr(corpus, "TOKEN_CHUNK_ROWS", 100)
        corpus.run_documents(sources=sources, languages=["ja", "en"], max_chars=4000, split=SPLIT, seed=0, key="c",
                             documents=paths["sources.parquet"], spans=paths["spans.parquet"],
                             stats=paths["sources.json"])
        corpus.run_tokenizer(sources=paths["sources.parquet"], tokenizer=paths["tokenizer"], vocab_size=800,
                             min_frequency=2)
        corpus.run_tokens(sources=paths["sources.parquet"], spans=paths["spans.parquet"],
                          documents=paths["documents.parquet"], tokens=paths["tokens.zarr"],
                          concepts=paths["concepts.parquet"], stats=paths["stats.json"],
                          tokenizer={"path": str(paths["tokenizer"])}, bos_token_id=None, tokens_per_doc=48,
                          languages=["ja", "en"], balance=True, seed=0, key="c")
    docs, _ = text_sources.read_sources(sources, ["ja", "en"], 4000, "c")
    tok = tokenizer.load_tokenizer({"path": str(paths["tokenizer"])})
    return {"out": out, "paths": paths, "docs": docs, "tok": tok,
            "documents": pl.read_parquet(paths["documents.parquet"]),
            "tokens": zarr.open_array(str(paths["tokens.zarr"]), mode="r"),
            "concepts": pl.read_parquet(paths["concepts.parquet"])}


def reference_corpus(docs: list[RawDocument], splits: list[str], tok, tokens_per_doc: int, languages: list[str],
                     seed: int) -> tuple[pl.DataFrame, np.ndarray, list[tuple]]:
    """The in-memory corpus stage the streaming one replaced (balance on): every document and window at once."""
    win = corpus.tokenize_windows(docs, tok, tokens_per_doc, tok.bos_token_id)
    kept = [(docs[i], splits[i], row, offsets) for i, row, offsets in zip(win.keep, win.tokens, win.offsets)]
    chosen = []
    for split in corpus.SPLITS:
        by_lang = {lg: [k for k in kept if k[0].lang == lg and k[1] == split] for lg in languages}
        rng, n = random.Random(f"{seed}:balance:{split}"), min(len(v) for v in by_lang.values())
        picked = {id(k) for lg in languages for k in rng.sample(by_lang[lg], n)}
        chosen += [k for k in kept if id(k) in picked]
    documents = pl.DataFrame({"doc_id": np.arange(len(chosen)), "source_id": [k[0].source_id for k in chosen],
                              "lang": [k[0].lang for k in chosen], "split": [k[1] for k in chosen],
                              "text": [k[0].text for k in chosen]})
    concepts = [(doc_id, pos, s.concept_id, s.concept_type, s.lang, s.surface)
                for doc_id, k in enumerate(chosen) for pos, s in corpus.align_concepts(k[0], k[3])]
    return documents, np.stack([k[2] for k in chosen]), concepts


def test_streamed_corpus_is_the_in_memory_one(streamed):
    docs, tok = streamed["docs"], streamed["tok"]
    splits = reference_splits([d.lang for d in docs], SPLIT, seed=0)
    sources = pl.read_parquet(streamed["paths"]["sources.parquet"])
    assert sources.columns == ["source_id", "lang", "split", "text"]
    assert sources["source_id"].to_list() == [d.source_id for d in docs] and sources["split"].to_list() == splits
    assert len(pl.read_parquet(streamed["paths"]["spans.parquet"])) == sum(len(d.spans) for d in docs)
    documents, tokens, concepts = reference_corpus(docs, splits, tok, 48, ["ja", "en"], seed=0)
    assert streamed["documents"].equals(documents)
    assert np.array_equal(streamed["tokens"][:], tokens)
    assert streamed["concepts"].rows() == concepts
    stats = json.loads(streamed["paths"]["stats.json"].read_text())
    assert stats["documents_in"] == len(docs) and stats["labelled_tokens"] == len(concepts)
    assert stats["dropped_for_balance"] == len(docs) - sum(stats["skipped_short"].values()) - len(documents)


def test_the_tokenizer_is_trained_on_the_training_split_alone(streamed):
    docs = streamed["docs"]
    splits = reference_splits([d.lang for d in docs], SPLIT, seed=0)
    expected = tokenizer.train_bpe([d.text for d, s in zip(docs, splits) if s == "train"], vocab_size=800)
    assert streamed["tok"].get_vocab() == expected.get_vocab()


def test_languages_are_one_to_one_in_every_split_and_rows_grouped_by_split(streamed):
    documents, tokens, tok = streamed["documents"], streamed["tokens"], streamed["tok"]
    counts = Counter(zip(documents["split"], documents["lang"]))
    for split in ("train", "validation", "test"):
        assert counts[(split, "ja")] == counts[(split, "en")] > 0
    assert documents["split"].to_list() == sorted(documents["split"].to_list(), key=corpus.SPLITS.index)
    assert documents["doc_id"].to_list() == list(range(len(documents)))
    assert tokens.shape == (len(documents), 49) and tokens.chunks == (100, 49)
    # the rows kept are the windows of exactly those documents
    text_of = {d.source_id: d.text for d in streamed["docs"]}
    for doc_id in (0, len(documents) // 2, len(documents) - 1):
        sid = documents["source_id"][doc_id]
        assert tokens[doc_id, 1:].tolist() == tok(text_of[sid], add_special_tokens=False)["input_ids"][:48]


def test_planted_labels_line_up_with_tokens(streamed):
    documents, concepts, tok = streamed["documents"], streamed["concepts"], streamed["tok"]
    tokens = streamed["tokens"][:]
    assert len(concepts) > 1000
    by_source = {d.source_id: d for d in streamed["docs"]}
    exact = whole = 0
    for doc_id, pos, cid, ctype, lang, surface in concepts.iter_rows():
        # the surface's language: the document's, or the other for a gloss (カヤ（Kaya）)
        assert (cid, lang, surface) in {(s.concept_id, s.lang, s.surface)
                                        for s in by_source[documents["source_id"][doc_id]].spans}
        piece = tok.decode([int(tokens[doc_id, pos + 1])]).strip()
        if not piece or "\ufffd" in piece:  # a space inside a name, or part of a multi-byte character
            continue
        whole += 1
        assert set(piece) & set(surface), (piece, surface)  # a shifted position would share nothing
        exact += piece in surface
    assert whole > 1000 and exact / whole > 0.95
    # every planted mention inside a window that holds a whole token of its own has a labelled token (one
    # whose token also covers more of a neighbouring mention, as まれで in 生まれで, counts for that one)
    labelled = set(zip(concepts["doc_id"], concepts["concept_id"]))
    for doc_id, sid in enumerate(documents["source_id"][:100]):
        window = tok.decode(tokens[doc_id, 1:].tolist())
        offsets = tok(window, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for span in by_source[sid].spans:
            whole_token = any(span.start <= a and b <= span.end and a < b for a, b in offsets)
            if span.end <= len(window) - 5 and whole_token:
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


def test_a_repeated_id_is_skipped_and_counted_once_the_digests_are_merged(tmp_path, monkeypatch):
    monkeypatch.setattr(text_sources.SeenIds, "MERGE_EVERY", 7)  # most look-ups then go to the merged array
    for folder, n in (("a", 30), ("b", 50)):  # the same file name: ids docs.jsonl:line1 .. line30 repeat
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "docs.jsonl").write_text("".join(json.dumps({"text": f"text {folder}{i}"}) + "\n"
                                                            for i in range(n)))
    specs = [{"kind": "jsonl", "path": str(tmp_path / f / "docs.jsonl"), "text_field": "text", "lang": "en"}
             for f in ("a", "b")]
    docs, stats = text_sources.read_sources(specs, ["en"], 100, "corpora[0]")
    assert [d.text for d in docs] == [f"text a{i}" for i in range(30)] + [f"text b{i}" for i in range(30, 50)]
    assert stats["corpora[0].sources[1]"]["skipped"] == {"duplicate id": 30}


def test_local_parquet_with_a_fixed_language_and_max_documents(tmp_path):
    path = tmp_path / "docs.parquet"
    pl.DataFrame({"body": [f"text number {i}" for i in range(10)]}).write_parquet(path)
    spec = {"kind": "parquet", "path": str(path), "text_field": "body", "lang": "en", "max_documents": 4}
    docs, _ = text_sources.read_sources([spec], ["en"], 100, "corpora[0]")
    assert [d.text for d in docs] == [f"text number {i}" for i in range(4)]
    with pytest.raises(text_sources.SourceError, match=r"corpora\[0\]\.sources\[0\]\.text_field: .*'text'"):
        text_sources.read_sources([{**spec, "text_field": "text"}], ["en"], 100, "corpora[0]")


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


def test_corpus_artifacts_are_written_whole(streamed):
    arr, documents = streamed["tokens"], streamed["documents"]
    assert arr.dtype == np.int32
    assert arr.attrs["split_offsets"]["train"] == [0, int((documents["split"] == "train").sum())]
    assert arr.attrs["bos_token_id"] == streamed["tok"].bos_token_id and arr.attrs["tokens_per_doc"] == 48
    stats = json.loads(streamed["paths"]["stats.json"].read_text())
    assert stats["split_offsets"] == arr.attrs["split_offsets"]
    assert json.loads(streamed["paths"]["sources.json"].read_text())["sources"]["c.sources[1]"]["skipped"] == {
        "unreadable": 1}
    names = {p.name for p in streamed["out"].iterdir()}
    assert names == {p.name for p in streamed["paths"].values()} | {"docs.jsonl"}  # no temporaries


def test_a_source_failing_midway_leaves_nothing_behind(tmp_path):
    missing = {"kind": "jsonl", "path": str(tmp_path / "nope.jsonl"), "text_field": "text", "lang": "en"}
    outputs = dict(documents=tmp_path / "sources.parquet", spans=tmp_path / "spans.parquet",
                   stats=tmp_path / "sources.json")
    with pytest.raises(text_sources.SourceError, match=r"c\.sources\[1\]\.path"):
        corpus.run_documents(sources=[{**SYNTHETIC, "n_documents": 20}, missing], languages=["ja", "en"],
                             max_chars=4000, split=SPLIT, seed=0, key="c", **outputs)
    with pytest.raises(InputError, match=r"c\.sources: no usable documents"):
        corpus.run_documents(sources=[SYNTHETIC], languages=["de"], max_chars=4000, split=SPLIT, seed=0, key="c",
                             **outputs)
    assert list(tmp_path.iterdir()) == []
