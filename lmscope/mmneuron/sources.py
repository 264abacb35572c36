"""The sources a domain's samples come from, each a generator of (id, record or BadImage) for one split
(config `domains[].sources[]`; README, Domains), reading a dataset as its authors publish it:

  synthetic  the generator in lmscope.mmneuron.synthetic_images (the embedded default)
  folder     a table of records (JSONL, parquet or CSV; one file, or one per split) whose image paths point into a
             directory or a zip archive: lmscope's own record fields, or a published table through `columns`
             (PMC-VQA's CSVs and images.zip, LingoQA's parquet and images.zip)
  hf         a Hugging Face dataset through `columns`, streamed from the hub, from a local directory of its
             parquet files, or from a `save_to_disk` directory (VQAv2, DocVQA)
  rsvqa      RSVQA's JSON triplets and image folder (RSVQA-HR: USGS_split_{split}_{questions,answers}.json, Data/)

Each streams: a split's images are read one sample at a time; what is held is a few hundred bytes of metadata per
sample at most (answers gathered by id, an archive's member names). Where `splits` maps train and validation to
the same split of the dataset (or one table has both), a seeded draw with `validation_share`, keyed on the image
(`columns.image_id`) where one is named, divides it, so that a train and a validation question never share an image.

A dataset whose layout is not the one described (a missing column or file, a split without answers, an archive
member missing or unreadable) is an InputError, one paragraph naming the dataset, the split and the column or
file; an image whose bytes do not decode is a BadImage, which preparation skips and counts
(lmscope.mmneuron.domains).
"""

from __future__ import annotations

import csv
import json
import random
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from lmscope.errors import InputError
from lmscope.mmneuron import synthetic_images
from lmscope.mmneuron.choices import LETTERS
from lmscope.mmneuron.records import LETTER_PREFIX, BadImage, checked, counted_answers, png, record

NO_ANSWERS_HINT = ("if this split does not publish its answers (VQAv2's testdev and test, DocVQA's test), carve the "
                   "validation split from one that has them: splits {train: S, validation: S} with validation_share")
RSVQA_KINDS = {"presence": "yesno", "comp": "yesno", "count": "count"}  # RSVQA's question types; area is open


def synthetic(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict]]:
    for index in range(spec[split]):
        s = synthetic_images.sample(domain, split, index, spec["seed"], spec["image_size"], spec["frames"],
                                    spec["shuffle_choices"])
        ident = f"{domain}-{split}-{index}"
        yield ident, record(domain, name, ident, [png(im) for im in s.images], s.question, s.answers,
                            [1] * len(s.answers), s.choices, s.kind)


def _drawn(spec: dict, key) -> str:
    """The split a sample of a dataset split shared by train and validation goes to: a seeded draw per key (the
    image, where named), so that every question on one image lands on the same side."""
    return "validation" if random.Random(f"{spec['seed']}/{key}").random() < spec["validation_share"] else "train"


def _per_split(value, split: str):
    return value[split] if isinstance(value, dict) else value


def _check_columns(wanted: list[str], present: list[str], where: str) -> None:
    if missing := [c for c in wanted if c not in present]:
        raise InputError(f"{where}: no column {', '.join(map(repr, missing))}; it has {', '.join(present)}")


def _wanted(columns: dict) -> list[str]:
    """The dataset columns a mapping names (choices may be one column of lists or one column per option)."""
    choices = columns.get("choices", [])
    return [c for key, c in columns.items() if key != "choices"] + (choices if isinstance(choices, list) else [choices])


def _choices(row: dict, columns: dict) -> list[str]:
    """Option texts without their letter ("A:Diffuse uptake" and " A:Diffuse uptake" in PMC-VQA)."""
    spec = columns.get("choices")
    values = [row[c] for c in spec] if isinstance(spec, list) else (row[spec] or [] if spec else [])
    return [LETTER_PREFIX.sub("", str(v)).strip() for v in values]


def _answers(row: dict, columns: dict, choices: list[str], value, where: str) -> tuple[list[str], list[int]]:
    """Distinct answers and their counts; for multiple choice the right option's letter."""
    if columns.get("answer_letter"):
        letter = str(row[columns["answer_letter"]] or "").strip()
        if len(letter) == 1 and letter in LETTERS[:len(choices)]:
            return [letter], [1]
        # as the reference (Z1zs/MMNeuron load_med): where the label is no letter, the answer text says which option
        text = str(row.get(columns.get("answers"), "") or "").strip()
        if text in choices:
            return [LETTERS[choices.index(text)]], [1]
        raise InputError(f"{where}: label {letter!r} in column {columns['answer_letter']!r} is none of the "
                         f"{len(choices)} options' letters, and no answer text names an option")
    answers, counts = counted_answers(value)
    if not answers:
        raise InputError(f"{where}: no answer in column {columns['answers']!r}; {NO_ANSWERS_HINT}")
    return answers, counts


def _mapped_sample(domain: str, name: str, ident: str, row: dict, spec: dict, store: ImageStore, answers_value,
                   where: str) -> tuple[str, dict | BadImage]:
    """(id, record) of a published row through the config's column mapping, or (id, BadImage) when its images
    do not load."""
    columns = spec["columns"]
    image_column = columns.get("images") or columns["image"]
    try:
        blobs = _blobs(row[image_column] if columns.get("images") else [row[image_column]], store, ident)
    except (OSError, BadImage) as error:
        return ident, BadImage(str(error))
    choices = _choices(row, columns)
    answers, counts = _answers(row, columns, choices, answers_value, f"{where}, sample {ident}")
    return ident, record(domain, name, f"{name}:{ident}", blobs, str(row[columns["question"]]), answers, counts,
                         choices, "choice" if choices else spec["answer_kind"])


class ImageStore:
    """Where a table's image paths point: a directory (a missing file is a BadImage, skipped as the reference skips
    it), or a zip archive, looked up by exact member path, else by the one member the path is a suffix of (PMC-VQA's
    Figure_path "PMC1064097_F1.jpg" is member figures/PMC1064097_F1.jpg). A missing, ambiguous or unreadable member
    says the archive does not hold what the table names: an InputError."""

    def __init__(self, location: Path, dataset: str):
        self.location, self.dataset = location, dataset
        self.archive = None
        if location.suffix == ".zip":
            try:
                self.archive = zipfile.ZipFile(location)
            except (OSError, zipfile.BadZipFile) as error:
                raise InputError(f"{dataset}: cannot open the image archive {location} ({error})") from None
            self.members = set(self.archive.namelist())
            self.by_name = defaultdict(list)
            for member in self.members:
                self.by_name[member.rsplit("/", 1)[-1]].append(member)

    def read(self, path: str, sample: str) -> bytes:
        if self.archive is None:
            return (self.location / path).read_bytes()
        member = path if path in self.members else self._member(path, sample)
        try:
            return self.archive.read(member)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as error:
            raise InputError(f"{self.dataset}, sample {sample}: member {member} of {self.location} cannot be read "
                             f"({error})") from None

    def _member(self, path: str, sample: str) -> str:
        matches = [m for m in self.by_name.get(path.rsplit("/", 1)[-1], []) if m.endswith("/" + path.lstrip("/"))]
        if len(matches) != 1:
            found = f"{len(matches)} members end with it ({', '.join(sorted(matches)[:3])})" if matches else \
                "no member is or ends with it"
            raise InputError(f"{self.dataset}, sample {sample}: image {path} is not in {self.location}: {found}")
        return matches[0]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _table_columns(path: Path) -> list[str] | None:
    """A CSV's header or a parquet's columns; None for JSONL (each line says its own)."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as file:
            return next(csv.reader(file), [])
    if path.suffix == ".parquet":
        return pq.ParquetFile(path).schema_arrow.names
    return None


def _table_rows(path: Path, columns: list[str] | None = None) -> Iterator[dict]:
    """The table's rows one by one (a parquet read a batch at a time, only `columns` where given)."""
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise InputError(f"{path}, line {number}: not JSON ({error.msg})") from None
    elif path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=columns):
            yield from batch.to_pylist()
    elif path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as file:
            yield from csv.DictReader(file)
    else:
        raise InputError(f"{path}: records must be .jsonl, .parquet or .csv")


def _gathered_answers(path: Path, id_column: str, answers_column: str) -> dict:
    """Each id's answers over all its rows (LingoQA's val.parquet has one row per reference answer), from a first
    pass over those two columns."""
    gathered = defaultdict(list)
    for row in _table_rows(path, [id_column, answers_column]):
        value = row[answers_column]
        gathered[row[id_column]].extend(value if isinstance(value, list) else [value])
    return gathered


def _blobs(values: list, store: ImageStore, ident: str) -> list[bytes]:
    """Image bytes of one sample: embedded ({bytes, path} structs) or read from the store by path."""
    if not values:
        raise BadImage("no image")
    blobs = []
    for value in values:
        if isinstance(value, dict) and value.get("bytes"):
            blobs.append(value["bytes"])
        elif isinstance(value, (str, dict)) and (path := value if isinstance(value, str) else value.get("path")):
            blobs.append(store.read(path, ident))
        else:
            raise BadImage(f"no image data ({type(value).__name__})")
    return [checked(b) for b in blobs]


def folder(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict | BadImage]]:
    root = Path(spec["path"])
    table = root / _per_split(spec["records"], split)
    shared = _per_split(spec["records"], "train") == _per_split(spec["records"], "validation")
    store = ImageStore(root / _per_split(spec.get("images", "."), split), f"{name} ({table}, split {split})")
    try:
        if spec.get("columns"):
            yield from _published_table(domain, split, spec, name, table, shared, store)
        else:
            yield from _lmscope_table(domain, split, spec, name, table, shared, store)
    finally:
        store.close()


def _lmscope_table(domain, split, spec, name, table, shared, store):
    """Records in lmscope's own fields: {image or images, question, answers (or answer), answer_counts, choices,
    kind, domain, split}, the last two optional (a missing split is drawn). The file is parsed whole first (paths
    and answers, no images), so that one that is not JSON says so before any record is judged."""
    for number, row in enumerate(list(_table_rows(table)), 1):
        ident = str(row.get("id", f"{table.name}:{number}"))
        if row.get("domain", domain) != domain or (shared and (row.get("split") or _drawn(spec, ident)) != split):
            continue
        files = row.get("images") or ([row["image"]] if row.get("image") else [])
        if not files or not row.get("question"):
            raise InputError(f"{table}, record {ident}: needs image (or images) and question")
        try:
            blobs = _blobs(files, store, ident)
        except (OSError, BadImage) as error:
            yield ident, BadImage(f"{error}")
            continue
        answers, counts = counted_answers(row.get("answers", row.get("answer")))
        if isinstance(row.get("answers"), list) and row.get("answer_counts"):
            counts = list(row["answer_counts"])
        choices = [LETTER_PREFIX.sub("", c) for c in row.get("choices") or []]
        kind = row.get("kind") or ("choice" if choices else "open")
        if not answers:
            raise InputError(f"{table}, record {ident}: no answer (give answers: a list of strings, or answer)")
        yield ident, record(domain, name, ident, blobs, row["question"], answers, counts, choices, kind)


def _published_table(domain, split, spec, name, table, shared, store):
    """A dataset's own table read through `columns`; rows sharing an id are one question with their answers
    gathered."""
    columns = spec["columns"]
    where = f"{name} ({table}, split {split})"
    if not table.is_file():
        raise InputError(f"{where}: no such file")
    present = _table_columns(table)
    if present is not None:
        _check_columns(_wanted(columns), present, where)
    id_column, answers_column = columns.get("id"), columns.get("answers")
    gathered = _gathered_answers(table, id_column, answers_column) if id_column and answers_column else None
    seen = set()
    for number, row in enumerate(_table_rows(table), 1):
        if present is None:
            _check_columns(_wanted(columns), list(row), f"{where}, line {number}")
        ident = str(row[id_column]) if id_column else f"{table.name}:{number}"
        if gathered is not None:
            if ident in seen:
                continue
            seen.add(ident)
        if shared and _drawn(spec, row[columns["image_id"]] if columns.get("image_id") else ident) != split:
            continue
        answers_value = gathered[row[id_column]] if gathered is not None else row.get(answers_column)
        yield _mapped_sample(domain, name, ident, row, spec, store, answers_value, where)


def _load_hf(spec: dict, hf_split: str):
    import datasets  # optional (the hf extra), 2 s to import here: loaded only for an hf source

    path = Path(spec["path"])
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():  # written by save_to_disk
        data = datasets.load_from_disk(str(path))
        return data[hf_split] if isinstance(data, datasets.DatasetDict) else data
    # a hub id, or a local copy of the hub's files (data/{split}-000NN-of-000MM.parquet)
    return datasets.load_dataset(spec["path"], spec.get("name"), split=hf_split, revision=spec.get("revision"),
                                 streaming=True)


def _raw_images(data, column: str):
    """The dataset with its image column left undecoded, so a broken image is ours to skip."""
    import datasets  # optional (the hf extra), 2 s to import here: loaded only for an hf source

    feature = data.features[column] if data.features else None
    if isinstance(feature, datasets.Image):
        return data.cast_column(column, datasets.Image(decode=False))
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.Image):
        return data.cast_column(column, datasets.List(datasets.Image(decode=False)))
    return data


def hf(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict | BadImage]]:
    columns = spec["columns"]
    hf_split = spec["splits"][split]
    shared = spec["splits"]["train"] == spec["splits"]["validation"]
    where = f"{name} ({spec['path']}, split {hf_split})"
    image_column = columns.get("images") or columns["image"]
    data = _load_hf(spec, hf_split)
    if data.column_names is not None:
        _check_columns(_wanted(columns), data.column_names, where)
    data = _raw_images(data, image_column)
    store = ImageStore(Path(spec["image_root"]) if spec.get("image_root") else Path("."), where)
    limit = spec.get("limit", {}).get(split)
    taken = 0
    for number, row in enumerate(data):
        if limit is not None and taken >= limit:
            break
        if number == 0 and data.column_names is None:  # a stream whose features are known only from its rows
            _check_columns(_wanted(columns), list(row), where)
        ident = str(row[columns["id"]]) if columns.get("id") else f"{hf_split}:{number}"
        if shared and _drawn(spec, row[columns["image_id"]] if columns.get("image_id") else ident) != split:
            continue
        taken += 1
        yield _mapped_sample(domain, name, ident, row, spec, store, row.get(columns.get("answers")), where)


def _rsvqa_entries(path: Path, key: str, where: str) -> pl.DataFrame:
    """One of RSVQA's JSON files ({key: [entries]}) as a table, columnar (a few bytes per entry, not a dict each)."""
    if not path.is_file():
        raise InputError(f"{where}: no file {path.name} in {path.parent}")
    data = pl.read_json(path)
    if key not in data.columns:
        raise InputError(f"{where}: {path} has no {key!r} list; it has {', '.join(data.columns)}")
    return data.select(pl.col(key).explode()).unnest(key)


def rsvqa(domain: str, split: str, spec: dict, name: str) -> Iterator[tuple[str, dict | BadImage]]:
    """RSVQA as published (RSVQA-HR: USGS_split_{train,val,test,test_phili}_{questions,answers,images}.json and
    Data/{img_id}.tif): the active questions, each with the answer its answers_ids[0] names, and its image."""
    root, theirs = Path(spec["path"]), spec["splits"][split]
    shared = spec["splits"]["train"] == spec["splits"]["validation"]
    where = f"{name} ({root}, split {theirs})"
    questions = _rsvqa_entries(root / f"{spec['prefix']}_split_{theirs}_questions.json", "questions", where)
    answers = _rsvqa_entries(root / f"{spec['prefix']}_split_{theirs}_answers.json", "answers", where)
    _check_columns(["id", "img_id", "type", "question", "answers_ids", "active"], questions.columns,
                   f"{where}, {spec['prefix']}_split_{theirs}_questions.json")
    _check_columns(["answer"], answers.columns, f"{where}, {spec['prefix']}_split_{theirs}_answers.json")
    # by the answer's id where the file gives one; the reference (load_rs) indexes the list, i.e. id = position
    answer_ids = answers["id"] if "id" in answers.columns else pl.Series(range(answers.height))
    by_id = pl.DataFrame({"answer_id": answer_ids.cast(pl.Int64), "answer": answers["answer"]})
    table = (questions.filter(pl.col("active"))
             .with_columns(answer_id=pl.col("answers_ids").list.first().cast(pl.Int64))
             .join(by_id, on="answer_id", how="left", maintain_order="left")
             .select("id", "img_id", "type", "question", "answer"))
    del questions, answers, by_id  # the joined table, its five columns, is all a split keeps
    store = ImageStore(root, where)
    for row in table.iter_rows(named=True):
        ident = f"{theirs}:{row['id']}"
        if shared and _drawn(spec, row["img_id"]) != split:
            continue
        if row["answer"] is None:
            raise InputError(f"{where}, sample {ident}: no answer with the id its answers_ids names; "
                             f"{NO_ANSWERS_HINT}")
        try:
            blobs = [checked(store.read(spec["image_path"].format(img_id=row["img_id"]), ident))]
        except (OSError, BadImage) as error:
            yield ident, BadImage(str(error))
            continue
        yield ident, record(domain, name, f"{name}:{ident}", blobs, row["question"], [str(row["answer"])], [1], [],
                            RSVQA_KINDS.get(row["type"], "open"))


SOURCES = {"synthetic": synthetic, "folder": folder, "hf": hf, "rsvqa": rsvqa}
