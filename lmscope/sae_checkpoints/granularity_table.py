"""Rules granularity, granularity_accuracy and granularity_agreement: each checkpoint's sampled features with
their labels from the classifier, planted truth and people (lmscope.sae_checkpoints.granularity), and how those
labels agree.
"""

from __future__ import annotations

import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.sae_checkpoints.figures import granularity_accuracy
from lmscope.sae_checkpoints.granularity import (accuracy, agreement, classify, feature_texts, planted_concepts,
                                                  planted_texts, true_label)
from lmscope.sae_checkpoints.highlight import window_pieces
from lmscope.sae_checkpoints.labelling import read_sheet
from lmscope.sae_checkpoints.token_vectors import TokenVectors
from lmscope.tables import write_csv
from lmscope.tokenizer import load_tokenizer


def run(*, sheet, contexts, tokens, concepts, vectors, granularity, token_share: float, related_percentile: float,
        truth_share: float, seed: int, tokenizer: dict, people=None) -> None:
    """Rule granularity: granularity.parquet for one checkpoint's sampled features — the classifier's label
    and evidence, the planted truth (when the corpus has concept labels), people's label (when a filled sheet
    is given) and `label`, the one fig. 5 counts: people's when present, else the classifier's."""
    sampled = pl.read_csv(sheet, columns=["feature"])["feature"].to_list()
    contexts = (pl.scan_parquet(contexts).select("feature", "rank", "doc_id", "position")
                .filter(pl.col("feature").is_in(sampled)).collect(engine="streaming"))
    docs = contexts["doc_id"].unique().to_numpy()
    pieces = window_pieces(load_tokenizer(tokenizer), zarr.open_array(str(tokens), mode="r"), docs)
    texts = feature_texts(contexts, sampled, pieces)
    # only a corpus with planted labels (the synthetic one) has any; the count is in the file's footer
    has_truth = pl.scan_parquet(concepts).select(pl.len()).collect().item() > 0
    planted = planted_concepts(concepts, docs)
    labels_of_people = read_sheet(people, sampled) if people else {}
    unit_vectors = TokenVectors(pl.read_parquet(vectors), seed=seed, source=str(vectors))
    rows = []
    for f in sampled:
        units = [u for _, _, u in texts[f]]
        ev = classify(units, unit_vectors, token_share, related_percentile)
        truth = true_label(planted_texts(texts[f], planted), truth_share) if has_truth else None
        person = labels_of_people.get(f)
        rows.append({"feature": f, "label": person or ev.label, "source": "people" if person else "classifier",
                     "classifier": ev.label, "truth": truth, "people": person, "n_texts": len(units),
                     "top_unit": ev.top_unit, "top_share": ev.top_share, "similarity": ev.similarity,
                     "percentile": ev.percentile, "one_meaning": ev.one_meaning})
    frame = pl.DataFrame(rows, schema={
        "feature": pl.Int32, "label": pl.String, "source": pl.String, "classifier": pl.String, "truth": pl.String,
        "people": pl.String, "n_texts": pl.Int32, "top_unit": pl.String, "top_share": pl.Float64,
        "similarity": pl.Float64, "percentile": pl.Float64, "one_meaning": pl.Boolean})
    with atomic_path(granularity) as tmp:
        frame.write_parquet(tmp)


def run_accuracy(*, tables: list, csv, confusion, pdf, checkpoints: list[str]) -> None:
    """Rule granularity_accuracy: the classifier against planted truth per checkpoint (a CSV), the confusion
    matrices (a CSV) and both drawn (a PDF)."""
    rows, matrices = [], []
    for ckpt, path in zip(checkpoints, tables):
        row, matrix = accuracy(pl.read_parquet(path), ckpt)
        rows.append(row)
        matrices += matrix
    write_csv(rows, csv)
    write_csv(matrices, confusion)
    granularity_accuracy(rows, matrices, pdf)


def run_agreement(*, tables: list, csv, checkpoints: list[str]) -> None:
    """Rule granularity_agreement: people's labels against the classifier, Cohen's kappa per checkpoint."""
    write_csv([agreement(pl.read_parquet(path), ckpt) for ckpt, path in zip(checkpoints, tables)], csv)
