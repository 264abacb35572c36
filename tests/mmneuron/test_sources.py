"""The five datasets of presets/mmneuron.yaml, each as a tiny copy in its published layout (hub parquet shards,
PMC-VQA's CSVs and images.zip, LingoQA's parquet and frame archives, RSVQA-HR's JSON files and tifs), read through
the preset's own source definitions with only `path` moved here; and the bad layouts that must stop preparation
with one paragraph naming the dataset, the split and the column or file, leaving nothing behind."""
import io
import json
import zipfile

import polars as pl
import pytest
import yaml
from PIL import Image
from snakemake.utils import validate

from conftest import REPO
from lmscope.errors import InputError
from lmscope.mmneuron import config_checks, domains

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def image_bytes(index: int, fmt: str = "PNG") -> bytes:
    """An 8x8 image of a colour of its own, so every index has distinct bytes."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (index % 256, 255 - index % 256, (index * 7) % 256)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def preset() -> dict:
    """config.yaml with the preset over it, validated as the workflow does (the schema fills in the defaults)."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "presets" / "mmneuron.yaml").read_text()))
    validate(config, str(SCHEMA))
    return config


def source(preset: dict, domain: str, root) -> dict:
    """The preset's source of `domain` with its path moved under `root`."""
    (spec,) = next(d for d in preset["domains"] if d["name"] == domain)["sources"]
    return dict(spec, path=str(root / spec["path"]))


def hub_parquet(path, rows: dict, features) -> None:
    """A shard as the hub stores it: parquet written by `datasets`, its features (Image) in the metadata."""
    import datasets  # optional (the hf extra)

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))


def make_vqav2(root, images=30, testdev_answers=None):
    """lmms-lab/VQAv2: data/validation-0000N-of-00002.parquet (two questions per image, ten answers of
    {answer, answer_confidence, answer_id} each) and data/testdev-00000-of-00001.parquet."""
    datasets = pytest.importorskip("datasets")
    answer = {"answer": datasets.Value("string"), "answer_confidence": datasets.Value("string"),
              "answer_id": datasets.Value("int64")}
    features = datasets.Features({
        "question_type": datasets.Value("string"), "multiple_choice_answer": datasets.Value("string"),
        "answers": datasets.List(answer), "image_id": datasets.Value("int64"), "answer_type": datasets.Value("string"),
        "question_id": datasets.Value("int64"), "question": datasets.Value("string"), "image": datasets.Image()})

    def rows(image_ids, answers):
        qs = [(i, q) for i in image_ids for q in range(2)]
        return {"question_type": ["what color"] * len(qs), "multiple_choice_answer": ["red"] * len(qs),
                "answers": [answers(i, q) for i, q in qs], "image_id": [i for i, _ in qs],
                "answer_type": ["other"] * len(qs), "question_id": [i * 10 + q for i, q in qs],
                "question": [f"What is {q} in picture {i}?" for i, q in qs],
                "image": [{"bytes": image_bytes(i), "path": f"{i}.png"} for i, _ in qs]}

    def ten(i, q):
        return [{"answer": "red" if k < 7 else f"pink {i}", "answer_confidence": "yes", "answer_id": k + 1}
                for k in range(10)]

    data = root / "lmms-lab" / "VQAv2" / "data"
    half = images // 2
    hub_parquet(data / "validation-00000-of-00002.parquet", rows(range(half), ten), features)
    hub_parquet(data / "validation-00001-of-00002.parquet", rows(range(half, images), ten), features)
    hub_parquet(data / "testdev-00000-of-00001.parquet", rows(range(100, 103), lambda i, q: testdev_answers),
                features)


def make_docvqa(root):
    """HuggingFaceM4/DocumentVQA: data/{train,validation}-00000-of-00001.parquet, answers a list of strings."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({
        "questionId": datasets.Value("int32"), "question": datasets.Value("string"),
        "question_types": datasets.List(datasets.Value("string")), "image": datasets.Image(),
        "docId": datasets.Value("int32"), "ucsf_document_id": datasets.Value("string"),
        "ucsf_document_page_no": datasets.Value("string"), "answers": datasets.List(datasets.Value("string"))})
    for split, first in (("train", 0), ("validation", 100)):
        ids = range(first, first + 3)
        hub_parquet(root / "HuggingFaceM4" / "DocumentVQA" / "data" / f"{split}-00000-of-00001.parquet",
                    {"questionId": list(ids), "question": [f"What is the date on page {i}?" for i in ids],
                     "question_types": [["form"]] * 3, "image": [{"bytes": image_bytes(i), "path": None} for i in ids],
                     "docId": list(ids), "ucsf_document_id": ["x"] * 3, "ucsf_document_page_no": ["1"] * 3,
                     "answers": [[f"{i} May 1970", f"May {i}, 1970"] for i in ids]}, features)


PMC_HEADER = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]


def make_pmc(root, header=PMC_HEADER, extra_train_row=None):
    """RadGenome/PMC-VQA: train.csv and test_clean.csv (options with their "A:" prefixes, some with a leading
    space), images.zip holding figures/{Figure_path}; one figure whose bytes are no image."""
    folder = root / "data" / "pmc_vqa"
    folder.mkdir(parents=True)
    options = ["A:Diffuse uptake pattern", " B:Focal uptake pattern", "C:No uptake pattern",
               " D:Cannot determine from the information given"]

    def row(figure, label, answer="Focal uptake pattern"):
        return dict(zip(PMC_HEADER, [figure, f"What pattern in {figure}?", answer, *options, label]))

    train = [row("PMC1_F1.jpg", "B"), row("PMC2_F1.jpg", "B"), row("PMC3_broken.jpg", "B"),
             row("PMC4_F2.jpg", "", answer="No uptake pattern")]  # no label: the answer text names option C
    train += [extra_train_row] if extra_train_row else []
    for name, rows in (("train.csv", train), ("test_clean.csv", [row("PMC9_F1.jpg", "A")])):
        pl.DataFrame([{k: r[k] for k in header} for r in rows]).write_csv(folder / name)
    with zipfile.ZipFile(folder / "images.zip", "w") as archive:
        for index, figure in enumerate(["PMC1_F1.jpg", "PMC2_F1.jpg", "PMC4_F2.jpg", "PMC9_F1.jpg"]):
            archive.writestr(f"figures/{figure}", image_bytes(index, "JPEG"))
        archive.writestr("figures/PMC3_broken.jpg", b"not a jpeg")
    return folder


def make_lingoqa(root):
    """LingoQA: action/{train.parquet, images.zip} and evaluation/{val.parquet, images.zip}; images a list of
    five frame paths (images/{split}/{segment}/{n}.jpg in the archive); val has two rows (two reference answers)
    per question_id."""
    for folder, table, split, questions in (("action", "train.parquet", "train", 3),
                                            ("evaluation", "val.parquet", "val", 2)):
        directory = root / "data" / "lingoqa" / folder
        directory.mkdir(parents=True)
        rows = []
        with zipfile.ZipFile(directory / "images.zip", "w") as archive:
            for q in range(questions):
                frames = [f"images/{split}/seg{q}/{n}.jpg" for n in range(5)]
                for n, frame in enumerate(frames):
                    archive.writestr(frame, image_bytes(q * 5 + n, "JPEG"))
                answers = ["Because the light is red.", "The light is red."] if split == "val" else ["It stops."]
                rows += [{"question_id": f"{split}{q}", "segment_id": f"seg{q}", "question": f"Why stop at {q}?",
                          "answer": a, "images": frames} for a in answers]
        pl.DataFrame(rows).write_parquet(directory / table)


def make_rsvqa(root):
    """RSVQA-HR: USGS_split_{train,val}_{questions,answers,images}.json and Data/{img_id}.tif; answers listed out
    of id order, one question inactive."""
    folder = root / "data" / "rsvqa_hr"
    (folder / "Data").mkdir(parents=True)
    kinds = {"presence": "Is there a road?", "comp": "Are there more houses than roads?",
             "count": "How many buildings are there?", "area": "What is the area covered by buildings?"}
    answers_text = {"presence": "yes", "comp": "no", "count": "7", "area": "between 10m2 and 100m2"}
    for split, img_id in (("train", 5), ("val", 6)):
        questions = [{"id": k, "img_id": img_id, "type": t, "question": text, "answers_ids": [100 + k],
                      "active": True, "date_added": 1.0} for k, (t, text) in enumerate(kinds.items())]
        questions.append({"id": 9, "img_id": img_id, "type": "count", "question": "Inactive?", "answers_ids": [100],
                          "active": False, "date_added": 1.0})
        answers = [{"id": 100 + k, "question_id": k, "answer": answers_text[t], "active": True}
                   for k, t in enumerate(kinds)][::-1]
        images = [{"id": img_id, "questions_ids": [q["id"] for q in questions], "active": True}]
        for part, entries in (("questions", questions), ("answers", answers), ("images", images)):
            (folder / f"USGS_split_{split}_{part}.json").write_text(json.dumps({part: entries}))
        Image.new("RGB", (8, 8), (img_id, 0, 0)).save(folder / "Data" / f"{img_id}.tif")


def read(out, split):
    return pl.read_parquet(out / f"{split}.parquet")


def test_the_preset_checks_against_the_copies(preset, tmp_path):
    """The preset's file checks pass on the published layouts (and so name what a user must download)."""
    make_pmc(tmp_path)
    make_lingoqa(tmp_path)
    make_rsvqa(tmp_path)
    config_checks.check(preset, workdir=tmp_path)
    (tmp_path / "data" / "pmc_vqa" / "images.zip").unlink()
    with pytest.raises(InputError, match=r"domains\[2\].sources\[0\].images: no such file: data/pmc_vqa/images.zip"):
        config_checks.check(preset, workdir=tmp_path)


def test_vqav2_validation_is_carved_by_image_and_seeded(preset, tmp_path):
    make_vqav2(tmp_path)
    spec = source(preset, "common", tmp_path)
    stats = domains.prepare("common", spec, "hf0", tmp_path / "out")
    train, validation = read(tmp_path / "out", "train"), read(tmp_path / "out", "validation")
    assert train.height + validation.height == 60 and validation.height > 0 and train.height > validation.height
    assert stats["splits"]["validation"]["samples"] == validation.height
    assert not set(train["image_key"]) & set(validation["image_key"])  # both questions of an image on one side
    row = train.row(0, named=True)
    assert row["answers"][0] == "red" and row["answer_counts"] == [7, 3] and row["kind"] == "open"
    assert row["question"].startswith("What is") and len(row["images"]) == 1
    domains.prepare("common", spec, "hf0", tmp_path / "again")
    assert read(tmp_path / "again", "validation")["id"].to_list() == validation["id"].to_list()
    domains.prepare("common", dict(spec, seed=1), "hf0", tmp_path / "seed1")
    assert read(tmp_path / "seed1", "validation")["id"].to_list() != validation["id"].to_list()


def test_vqav2_testdev_without_answers_says_to_carve(preset, tmp_path):
    make_vqav2(tmp_path, images=2)
    spec = dict(source(preset, "common", tmp_path), splits={"train": "validation", "validation": "testdev"})
    with pytest.raises(InputError) as error:
        domains.prepare("common", spec, "hf0", tmp_path / "out")
    message = str(error.value)
    assert "\n" not in message and "VQAv2" in message and "split testdev" in message
    assert "no answer in column 'answers'" in message and "carve the validation split" in message
    assert not (tmp_path / "out").exists()


def test_docvqa_reads_its_answer_lists(preset, tmp_path):
    make_docvqa(tmp_path)
    domains.prepare("document", source(preset, "document", tmp_path), "hf0", tmp_path / "out")
    validation = read(tmp_path / "out", "validation")
    assert validation["id"].to_list() == ["hf0:100", "hf0:101", "hf0:102"]
    assert validation["answers"][0].to_list() == ["100 May 1970", "May 100, 1970"]
    assert validation["answer_counts"][0].to_list() == [1, 1] and set(validation["kind"]) == {"open"}
    assert read(tmp_path / "out", "train")["question"][2] == "What is the date on page 2?"


def test_pmc_vqa_csv_and_archive(preset, tmp_path):
    make_pmc(tmp_path)
    stats = domains.prepare("medical", source(preset, "medical", tmp_path), "folder0", tmp_path / "out")
    train = read(tmp_path / "out", "train")
    assert stats["splits"]["train"]["skipped_ids"] == ["train.csv:3"]  # the figure that is no image
    assert train["answers"].to_list() == [["B"], ["B"], ["C"]]  # the third by its answer text
    assert train["choices"][0].to_list() == ["Diffuse uptake pattern", "Focal uptake pattern", "No uptake pattern",
                                             "Cannot determine from the information given"]
    assert set(train["kind"]) == {"choice"} and train["question"][0] == "What pattern in PMC1_F1.jpg?"
    assert train["images"][0].to_list() == [image_bytes(0, "JPEG")]  # figures/PMC1_F1.jpg, found by its suffix
    assert read(tmp_path / "out", "validation")["answers"].to_list() == [["A"]]


def test_lingoqa_frames_and_gathered_reference_answers(preset, tmp_path):
    make_lingoqa(tmp_path)
    spec = source(preset, "driving", tmp_path)
    domains.prepare("driving", spec, "folder0", tmp_path / "out")
    train, validation = read(tmp_path / "out", "train"), read(tmp_path / "out", "validation")
    assert train.height == 3 and [len(f) for f in train["images"]] == [5, 5, 5]
    assert train["images"][1][4] == image_bytes(9, "JPEG")  # question 1's fifth frame
    assert validation["id"].to_list() == ["folder0:val0", "folder0:val1"]  # two rows each, one question
    assert validation["answers"][0].to_list() == ["Because the light is red.", "The light is red."]
    role = next(d for d in preset["domains"] if d["name"] == "driving")["role"]
    assert role.startswith("Role: You are an advanced AI assistant installed on the Ego vehicle") and role.endswith(
        "It's important to note that the Ego vehicle itself is not visible in the images provided.")


def test_rsvqa_hr_active_questions_answered_by_id(preset, tmp_path):
    make_rsvqa(tmp_path)
    domains.prepare("remote_sensing", source(preset, "remote_sensing", tmp_path), "rsvqa0", tmp_path / "out")
    train = read(tmp_path / "out", "train")
    assert train["question"].to_list()[0] == "Is there a road?" and "Inactive?" not in train["question"].to_list()
    assert train["answers"].to_list() == [["yes"], ["no"], ["7"], ["between 10m2 and 100m2"]]
    assert train["kind"].to_list() == ["yesno", "yesno", "count", "open"]
    assert Image.open(io.BytesIO(train["images"][0][0])).format == "TIFF"
    assert read(tmp_path / "out", "validation")["id"].to_list()[0] == "rsvqa0:val:0"


def fails(domain, spec, tmp_path, *fragments):
    """Preparation stops with one paragraph holding every fragment, and leaves no output."""
    with pytest.raises(InputError) as error:
        domains.prepare(domain, spec, "folder0", tmp_path / "out")
    message = str(error.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert not (tmp_path / "out").exists()


def test_pmc_vqa_missing_column_lists_the_columns(preset, tmp_path):
    make_pmc(tmp_path, header=[c for c in PMC_HEADER if c != "Answer_label"])
    fails("medical", source(preset, "medical", tmp_path), tmp_path, "pmc_vqa/train.csv", "split train",
          "no column 'Answer_label'", "it has Figure_path, Question, Answer, Choice A")


def test_pmc_vqa_figure_missing_from_the_archive(preset, tmp_path):
    extra = dict(zip(PMC_HEADER, ["PMC404_F1.jpg", "Q?", "x", "A:x", "B:y", "C:z", "D:w", "A"]))
    make_pmc(tmp_path, extra_train_row=extra)
    fails("medical", source(preset, "medical", tmp_path), tmp_path, "pmc_vqa/train.csv", "split train",
          "sample train.csv:5", "image PMC404_F1.jpg is not in", "images.zip")


def test_pmc_vqa_ambiguous_member(preset, tmp_path):
    folder = make_pmc(tmp_path)
    with zipfile.ZipFile(folder / "images.zip", "a") as archive:
        archive.writestr("images/PMC1_F1.jpg", image_bytes(1))  # version 2's folder beside version 1's
    fails("medical", source(preset, "medical", tmp_path), tmp_path, "split train", "sample train.csv:1",
          "2 members end with it (figures/PMC1_F1.jpg, images/PMC1_F1.jpg)")


def test_lingoqa_unreadable_frame(preset, tmp_path):
    make_lingoqa(tmp_path)
    archive = tmp_path / "data" / "lingoqa" / "action" / "images.zip"
    data = bytearray(archive.read_bytes())
    frame = image_bytes(0, "JPEG")  # stored uncompressed: its bytes are in the file as they are
    start = data.index(frame)
    data[start + len(frame) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    fails("driving", source(preset, "driving", tmp_path), tmp_path, "lingoqa/action/train.parquet", "split train",
          "sample train0", "member images/train/seg0/0.jpg", "cannot be read", "CRC")
