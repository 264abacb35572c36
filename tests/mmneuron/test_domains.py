"""Domain samples: the synthetic generator, a local folder and a Hugging Face dataset saved to disk, all in one
record format; a corrupt image is skipped, counted and named, never fatal."""
import io
import json
import logging

import numpy as np
import polars as pl
import pytest
from PIL import Image

from lmscope.mmneuron import domains, records, samples, synthetic_images
from lmscope.mmneuron.choices import LETTERS

SYNTH = {"kind": "synthetic", "train": 30, "validation": 10, "seed": 3, "image_size": 32, "frames": 3,
         "shuffle_choices": False}


def png_bytes(colour=(255, 0, 0), size=8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("domain", synthetic_images.DOMAINS)
def test_synthetic_samples_are_seeded_and_answerable(domain, tmp_path):
    stats = domains.prepare(domain, SYNTH, "synthetic0", tmp_path / "out")
    train = pl.read_parquet(tmp_path / "out" / "train.parquet")
    assert stats["splits"]["train"] == {"samples": 30, "skipped": 0, "skipped_ids": []}
    assert train.height == 30 and set(train["domain"]) == {domain}
    again = synthetic_images.sample(domain, "train", 7, 3, 32, 3, False)
    row = train.row(7, named=True)
    assert row["question"] == again.question and row["answers"] == again.answers
    assert np.array_equal(np.asarray(records.open_images(row["images"])[0]), np.asarray(again.images[0]))
    frames = {len(i) for i in train["images"]}
    assert frames == ({3} if domain == "driving" else {1})
    for r in train.iter_rows(named=True):
        assert r["kind"] in records.KINDS and len(r["answers"]) == 1
        if r["kind"] == "choice":  # medical, PMC-VQA style: the answer is the letter of one of the options
            assert domain == "medical" and r["answers"][0] in "ABCD"[:len(r["choices"])]
        if r["kind"] == "yesno":
            assert r["answers"][0] in ("yes", "no")
    validation = pl.read_parquet(tmp_path / "out" / "validation.parquet")
    assert validation.height == 10 and not set(validation["question"] + validation["id"]) & set(
        train["question"] + train["id"])  # different samples: ids differ


def test_answers_follow_the_pictures():
    """Spot checks that answers are what the drawing shows, not random labels."""
    for i in range(40):
        s = synthetic_images.sample("common", "train", i, 0, 48)
        darkest_sky = np.asarray(s.images[0]).astype(int)[:32].sum(-1).min()  # shapes never cover all the sky
        if s.question == "Is it night?":
            assert (s.answers[0] == "yes") == (darkest_sky < 200)
    for i in range(40):
        s = synthetic_images.sample("medical", "validation", i, 0, 48)
        pixels = np.asarray(s.images[0])
        assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()  # grayscale
        assert s.choices[LETTERS.index(s.answers[0])] in (*synthetic_images.ORGANS, "yes", "no",
                                                          *synthetic_images.PLACES)


def test_medical_options_fixed_or_shuffled():
    fixed = [synthetic_images.sample("medical", "train", i, 0, 32).choices for i in range(30)]
    assert all(c in ([*synthetic_images.ORGANS], ["yes", "no"], [*synthetic_images.PLACES]) for c in fixed)
    shuffled = [synthetic_images.sample("medical", "train", i, 0, 32, shuffle_choices=True) for i in range(30)]
    assert any(s.choices not in fixed for s in shuffled)
    for s in shuffled:  # the letter still points at the right option
        unshuffled = synthetic_images.sample("medical", "train", shuffled.index(s), 0, 32)
        assert s.choices[LETTERS.index(s.answers[0])] == unshuffled.choices[LETTERS.index(unshuffled.answers[0])]


def test_unknown_synthetic_domain_names_the_domains():
    with pytest.raises(ValueError, match="unknown synthetic domain 'space'.*common"):
        synthetic_images.sample("space", "train", 0, 0, 48)


def folder(tmp_path, records, suffix=".jsonl"):
    root = tmp_path / "vqa"
    (root / "img").mkdir(parents=True)
    (root / "img" / "a.png").write_bytes(png_bytes((255, 0, 0)))
    (root / "img" / "b.png").write_bytes(png_bytes((0, 0, 255)))
    (root / "img" / "broken.png").write_bytes(png_bytes()[:40])  # a truncated file
    if suffix == ".jsonl":
        (root / "records.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    else:
        pl.DataFrame(records).write_parquet(root / "records.parquet")
    return {"kind": "folder", "path": str(root), "records": f"records{suffix}", "validation_share": 0.0, "seed": 0}


def test_folder_source_reads_records_and_skips_a_corrupt_image(tmp_path, caplog):
    records = [
        {"id": "q1", "image": "img/a.png", "question": "What color?", "domain": "common",
         "answers": ["red"] * 8 + ["orange"] * 2},
        {"id": "q2", "images": ["img/a.png", "img/b.png"], "question": "Closer?", "answers": "yes",
         "domain": "driving"},
        {"id": "q3", "image": "img/broken.png", "question": "What color?", "answers": ["red"], "domain": "common"},
        {"id": "q4", "image": "img/missing.png", "question": "What color?", "answers": ["red"], "domain": "common"},
        {"id": "q5", "image": "img/b.png", "question": "Which?", "choices": ["A: red", "B: blue"], "answers": "B",
         "domain": "common", "split": "validation"},
    ]
    spec = folder(tmp_path, records)
    with caplog.at_level(logging.WARNING):
        stats = domains.prepare("common", spec, "folder0", tmp_path / "out")
    train = pl.read_parquet(tmp_path / "out" / "train.parquet")
    assert train["id"].to_list() == ["q1"]  # q2 is another domain; q3 and q4 are skipped
    row = train.row(0, named=True)
    assert row["answers"] == ["red", "orange"] and row["answer_counts"] == [8, 2] and row["kind"] == "open"
    assert stats["splits"]["train"]["skipped"] == 2 and stats["splits"]["train"]["skipped_ids"] == ["q3", "q4"]
    assert "q3" in caplog.text and "q4" in caplog.text
    validation = pl.read_parquet(tmp_path / "out" / "validation.parquet").row(0, named=True)
    assert validation["choices"] == ["red", "blue"] and validation["kind"] == "choice"
    assert validation["answers"] == ["B"]
    driving = domains.prepare("driving", spec, "folder0", tmp_path / "driving")
    assert driving["splits"]["train"]["samples"] == 1
    assert len(pl.read_parquet(tmp_path / "driving" / "train.parquet")["images"][0]) == 2


def test_folder_records_in_parquet_and_a_record_without_answers(tmp_path):
    records = [{"id": "q1", "image": "img/a.png", "question": "What?", "answers": None, "domain": "common"}]
    spec = folder(tmp_path, records, suffix=".parquet")
    with pytest.raises(ValueError, match=r"vqa/records.parquet, record q1: no answer"):
        domains.prepare("common", spec, "folder0", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_hf_source_offline_from_save_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"qid": datasets.Value("int64"), "image": datasets.Image(),
                                  "question": datasets.Value("string"),
                                  "answers": datasets.List({"answer": datasets.Value("string")}),
                                  "Choice A": datasets.Value("string"), "Choice B": datasets.Value("string"),
                                  "label": datasets.Value("string")})
    rows = {"qid": [1, 2, 3], "image": [{"bytes": png_bytes(), "path": None}, {"bytes": b"not an image", "path": None},
                                        {"bytes": png_bytes((0, 255, 0)), "path": None}],
            "question": ["Color?", "Color?", "Color?"],
            "answers": [[{"answer": "red"}] * 3, [{"answer": "x"}], [{"answer": "green"}, {"answer": "lime"}]],
            "Choice A": ["A:red", "A:red", "A:red"], "Choice B": ["B:green", "B:green", "B:green"],
            "label": ["B", "A", "A"]}
    data = datasets.DatasetDict({"val": datasets.Dataset.from_dict(rows, features=features),
                                 "tr": datasets.Dataset.from_dict(rows, features=features)})
    data.save_to_disk(str(tmp_path / "vqav2"))
    spec = {"kind": "hf", "path": str(tmp_path / "vqav2"), "name": None, "revision": None,
            "splits": {"train": "tr", "validation": "val"}, "limit": {"train": 2}, "answer_kind": "open",
            "columns": {"image": "image", "question": "question", "answers": "answers", "id": "qid"}}
    stats = domains.prepare("common", spec, "hf0", tmp_path / "open")
    assert stats["splits"]["train"] == {"samples": 1, "skipped": 1, "skipped_ids": ["2"]}  # limit 2, one broken
    validation = pl.read_parquet(tmp_path / "open" / "validation.parquet")
    assert validation["answers"].to_list() == [["red"], ["green", "lime"]]
    assert validation["answer_counts"].to_list() == [[3], [1, 1]]
    spec["columns"] = {"image": "image", "question": "question", "choices": ["Choice A", "Choice B"],
                       "answer_letter": "label"}
    domains.prepare("medical", spec, "hf0", tmp_path / "choice")
    row = pl.read_parquet(tmp_path / "choice" / "validation.parquet").row(0, named=True)
    assert row["choices"] == ["red", "green"] and row["kind"] == "choice" and row["answers"] == ["B"]
    spec["columns"] = {"image": "image", "question": "Question", "answers": "answers"}
    with pytest.raises(ValueError, match="hf0 .*split tr.*: no column 'Question'; it has qid, image"):
        domains.prepare("common", spec, "hf0", tmp_path / "bad")


def test_merge_concatenates_sources_and_refuses_an_empty_split(tmp_path):
    a = tmp_path / "a"
    domains.prepare("common", dict(SYNTH, train=5, validation=2), "synthetic0", a)
    b = tmp_path / "b"
    domains.prepare("common", dict(SYNTH, train=3, validation=1, seed=4), "synthetic1", b)
    domains.merge("common", [str(a), str(b)], tmp_path / "merged")
    merged = samples.read_split(tmp_path / "merged", "train")
    assert merged["source"].to_list() == ["synthetic0"] * 5 + ["synthetic1"] * 3
    stats = json.loads((tmp_path / "merged" / "stats.json").read_text())
    assert [s["source"] for s in stats["sources"]] == ["synthetic0", "synthetic1"]
    spec = folder(tmp_path, [{"image": "img/a.png", "question": "Q?", "answers": "x", "domain": "other"}])
    domains.prepare("common", spec, "folder0", tmp_path / "empty")
    with pytest.raises(ValueError, match="domain common: no train samples"):
        domains.merge("common", [str(tmp_path / "empty")], tmp_path / "merged2")
