"""The one record format of a visual question answering sample, whatever its dataset (METHODS B2).

    id, domain, source, images (PNG or original bytes, one per frame), image_key (sha1 of the frames' bytes:
    questions on the same image share it), question, answers (distinct answers), answer_counts (annotators per
    answer: VQAv2's ten, else 1), choices (option texts for multiple choice, in letter order; empty otherwise),
    kind (open|yesno|count|choice)

For multiple choice the answer is the right option's letter. Sources (lmscope.mmneuron.sources) yield these
records, a domain's samples directory stores them (lmscope.mmneuron.domains) and readers take them back
(lmscope.mmneuron.samples).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import Counter

import pyarrow as pa
from PIL import Image

from lmscope.errors import InputError

SPLITS = ("train", "validation")
KINDS = ("open", "yesno", "count", "choice")
SCHEMA = pa.schema([("id", pa.string()), ("domain", pa.string()), ("source", pa.string()),
                    ("images", pa.list_(pa.binary())), ("image_key", pa.string()), ("question", pa.string()),
                    ("answers", pa.list_(pa.string())), ("answer_counts", pa.list_(pa.int64())),
                    ("choices", pa.list_(pa.string())), ("kind", pa.string())])
LETTER_PREFIX = re.compile(r"^\s*\(?[A-Z]\s*[:.)]\s*")


class BadImage(Exception):
    """An image that cannot be decoded."""


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def checked(blob: bytes) -> bytes:
    """The bytes unchanged when they decode as an image, else BadImage."""
    try:
        with Image.open(io.BytesIO(blob)) as image:
            image.load()
    except Exception as error:  # PIL raises many types for broken files
        raise BadImage(str(error)) from error
    return blob


def open_images(blobs: list[bytes]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(b)).convert("RGB") for b in blobs]


def image_key(blobs: list[bytes]) -> str:
    """sha1 of the frames' bytes, each prefixed with its length: the same image(s) give the same key, whichever
    question or source they come with."""
    digest = hashlib.sha1()
    for blob in blobs:
        digest.update(len(blob).to_bytes(8, "little"))
        digest.update(blob)
    return digest.hexdigest()


def counted_answers(value) -> tuple[list[str], list[int]]:
    """Distinct answers and how many annotators gave each, from a string, a list of strings (one per
    annotator) or a list of {answer: ..} records (VQAv2's {answer, answer_confidence, answer_id})."""
    if value is None:
        return [], []
    if isinstance(value, str):
        value = [value]
    texts = [v["answer"] if isinstance(v, dict) else v for v in value]
    counts = Counter(str(t).strip() for t in texts if t is not None and str(t).strip())
    return list(counts), list(counts.values())


def record(domain: str, source: str, ident: str, images: list[bytes], question: str, answers: list[str],
           counts: list[int], choices: list[str], kind: str) -> dict:
    if not answers:
        raise InputError(f"{source}: sample {ident} has no answer")
    if kind not in KINDS:
        raise InputError(f"{source}: sample {ident} has kind {kind!r}, not one of {', '.join(KINDS)}")
    return {"id": ident, "domain": domain, "source": source, "images": images, "image_key": image_key(images),
            "question": question, "answers": answers, "answer_counts": counts, "choices": choices, "kind": kind}
