"""People's path to granularity labels: which features to label, the sheet they fill in, and reading it back.

Per checkpoint a seeded sample of live features (the paper labelled 100 per checkpoint by hand) is written as
a CSV — feature, an empty `label` column, the allowed labels, the top units as a reminder — and as an HTML page
showing each sampled feature's top texts with the activating tokens highlighted. A filled sheet named in the
config is read back strictly: an unknown label, a sampled feature with no row, a row for a feature that was
not sampled and a duplicate row each stop the run with an error naming the row, because a silently dropped
label would change fig. 5 and the agreement score without anyone noticing.
"""

from __future__ import annotations

import csv
import html
import random
from collections import Counter
from pathlib import Path

import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.sae_checkpoints import highlight
from lmscope.sae_checkpoints.feature_cards import card_html, collect, feature_contexts
from lmscope.sae_checkpoints.granularity import LABELS, feature_texts
from lmscope.sae_checkpoints.highlight import window_pieces
from lmscope.sae_checkpoints.language import document_languages
from lmscope.tokenizer import load_tokenizer

ALLOWED = " / ".join(LABELS)
SHEET_COLUMNS = ("feature", "label", "allowed", "top_units", "note")


def sample_features(language: pl.DataFrame, n: int, min_texts: int, seed: int, checkpoint: str) -> list[int]:
    """Up to `n` live features with at least `min_texts` texts, drawn with a seed of their own per checkpoint
    (so adding a checkpoint leaves the others' samples alone); sorted by id."""
    eligible = sorted(language.filter(pl.col("n_texts") >= min_texts)["feature"].to_list())
    random.Random(f"granularity:{seed}:{checkpoint}").shuffle(eligible)
    return sorted(eligible[:n])


def write_sheet_csv(features: list[int], top_units: dict[int, str], path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SHEET_COLUMNS)
        for feature in features:
            w.writerow([feature, "", ALLOWED, top_units.get(feature, ""), ""])


def read_sheet(path, sampled: list[int]) -> dict[int, str]:
    """{feature: label} of a filled sheet, checked against the sampled features (module docstring). Rows are
    named by their line number in the file (the header is line 1)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"labelling sheet {path}: no such file (granularity.sheets names it)")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"feature", "label"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"labelling sheet {path}: the header lacks column(s) {', '.join(sorted(missing))}")
        labels: dict[int, str] = {}
        line_of: dict[int, int] = {}
        wanted = set(sampled)
        for row in reader:
            line = reader.line_num
            raw_feature, label = (row["feature"] or "").strip(), (row["label"] or "").strip().lower()
            try:
                feature = int(raw_feature)
            except ValueError:
                raise InputError(f"labelling sheet {path}, line {line}: feature {raw_feature!r} is not a "
                                 "feature id") from None
            if feature not in wanted:
                raise InputError(f"labelling sheet {path}, line {line}: feature {feature} was not sampled for "
                                 "this checkpoint (was the sheet made for another checkpoint or seed?)")
            if feature in labels:
                raise InputError(f"labelling sheet {path}, line {line}: feature {feature} again (first on line "
                                 f"{line_of[feature]}); keep one row per feature")
            if label not in LABELS:
                shown = repr(label) if label else "empty"
                raise InputError(f"labelling sheet {path}, line {line}: label {shown} for feature {feature} is not "
                                 f"one of {ALLOWED}")
            labels[feature], line_of[feature] = label, line
    absent = sorted(wanted - set(labels))
    if absent:
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise InputError(f"labelling sheet {path}: no row for sampled feature(s) "
                         f"{', '.join(map(str, absent[:5]))}{more}")
    return labels


def write_sheet_html(examples, path, checkpoint: str) -> None:
    """The sampled features' top texts, highlighted, in the order of the CSV (examples: feature_cards.collect)."""
    parts = [f"<h1>Granularity labelling sheet: {html.escape(checkpoint)}</h1>",
             f'<p class="meta">Label each feature in the CSV beside this page as one of {ALLOWED}: token — its texts '
             "activate on the same token (猫 and 猫); synonym — on one meaning in different forms (猫, ネコ, cat); "
             "semantic — on related meanings (cat and dog); unrelated — nothing in common. A token's shade is "
             "the feature's activation relative to its maximum.</p>"]
    parts += [card_html(e, anchor=True) for e in examples]
    with atomic_path(path) as tmp:
        tmp.write_text(highlight.page(f"Labelling sheet {checkpoint}", "\n".join(parts)), encoding="utf-8")


def top_units_text(units: list[str], n: int = 5) -> str:
    """The most frequent activating units with their counts, e.g. "猫 ×30 | ネコ ×12 | cat ×5"."""
    return " | ".join(f"{u} ×{c}" for u, c in Counter(units).most_common(n))


def run(*, language, features, contexts, documents, tokens, sheet, page, n_features: int, min_texts: int, seed: int,
        texts_shown: int, tokenizer: dict, ckpt: str) -> None:
    """Rule granularity_sheet: the sampled features of one checkpoint as a CSV to fill in (`sheet`) and an HTML
    page to read while filling it in (`page`)."""
    language_table = pl.read_parquet(language)
    sampled = sample_features(language_table, n_features, min_texts, seed, ckpt)
    if not sampled:
        raise InputError(f"granularity sheet {ckpt}: no live feature has {min_texts} or more texts "
                         "(granularity.min_texts); nothing to label")
    context_table = feature_contexts(contexts, sampled)
    pieces = window_pieces(load_tokenizer(tokenizer), zarr.open_array(str(tokens), mode="r"), context_table["doc_id"])
    texts = feature_texts(context_table, sampled, pieces)
    write_sheet_csv(sampled, {f: top_units_text([u for _, _, u in texts[f]]) for f in sampled}, sheet)
    lang_of_doc = dict(document_languages(documents, context_table["doc_id"]).iter_rows())
    examples = collect("sheet", ckpt, sampled, context_table, pl.read_parquet(features), language_table,
                       lang_of_doc, pieces, texts_shown)
    write_sheet_html(examples, page, ckpt)
