"""A static feature browser: one HTML page per checkpoint, its texts in shards beside it, and an index page.

A checkpoint's page embeds an index of its live features — id, tendency, text counts, frequency, maximum
activation, granularity label: what the list, the filter and a search by id need, about 1 MB at 32,768
features — and browser.js renders 20 feature cards at a time, loading their texts from the shards
(browser_shards.py) in the folder named after the page. A search by token loads the token index from the same
folder first. The page therefore opens after reading itself and one shard, whatever the number of features.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.fonts import CSS_FAMILY
from lmscope.sae_checkpoints import highlight
from lmscope.sae_checkpoints.browser_shards import BLOCK_FEATURES, corpus_documents, feature_blocks, write_shards
from lmscope.tokenizer import load_tokenizer

TENDENCIES = ("ja", "en", "mixed")  # of live features; the index holds each as its position here


def neighbour_links(features: list[int], previous: pl.DataFrame | None, following: pl.DataFrame | None) -> dict:
    """Each live feature's matches in the neighbouring checkpoints (feature_matching.py), aligned with
    `features`: "previous" the earlier checkpoint's feature matched to it, "next" its own match in the later
    one, each {"feature": [id or None], "r": [correlation or None]} (None: no active match); a side without a
    neighbour is absent."""
    links = {}
    for side, table in (("previous", previous), ("next", following)):
        if table is None:
            continue
        active = table.filter(pl.col("active") & pl.col("match").is_not_null())
        pairs = (active.select(pl.col("match").alias("id"), pl.col("feature").alias("other"), "correlation")
                 if side == "previous" else active.select(pl.col("feature").alias("id"), pl.col("match").alias("other"),
                                                          "correlation"))
        found = pl.DataFrame({"id": features}, schema={"id": pl.Int32}).join(
            pairs.with_columns(pl.col("id").cast(pl.Int32)), on="id", how="left", maintain_order="left")
        links[side] = {"feature": found["other"].to_list(),
                       "r": found["correlation"].cast(pl.Float64).round(3).to_list()}
    return links


def page_index(checkpoint: str, model: str, stats: pl.DataFrame, language: pl.DataFrame, labels: dict[int, str],
               shards: str, block_features: int = BLOCK_FEATURES, previous: pl.DataFrame | None = None,
               following: pl.DataFrame | None = None, neighbours: dict | None = None) -> dict:
    """What the page embeds: the checkpoint, where its shards are (a folder relative to the page) and, column
    by column, its live features' statistics in id order; granularity labels by feature id; the matches in the
    neighbouring checkpoints (`previous`: the earlier checkpoint's matches table, `following`: this one's, with
    `neighbours` {"previous", "next"}: their names)."""
    table = (stats.join(language.select("feature", "tendency", "n_ja", "n_en"), on="feature").sort("feature")
             .filter(~pl.col("dead")))
    return {"model": model, "checkpoint": checkpoint, "d_sae": stats.height, "block": block_features,
            "shards": shards, "font_family": CSS_FAMILY, "tendencies": list(TENDENCIES),
            "id": table["feature"].to_list(),
            "tendency": table["tendency"].replace_strict(list(TENDENCIES), list(range(3))).to_list(),
            "n_ja": table["n_ja"].to_list(), "n_en": table["n_en"].to_list(), "n_texts": table["n_texts"].to_list(),
            "frequency": table["frequency"].cast(pl.Float64).round_sig_figs(4).to_list(),
            "max": table["max_activation"].cast(pl.Float64).round_sig_figs(4).to_list(),
            "granularity": {str(f): labels[f] for f in table["feature"] if f in labels},
            "neighbours": neighbours or {},
            "links": neighbour_links(table["feature"].to_list(), previous, following)}


def checkpoint_html(index: dict) -> str:
    """The page: its text, the index and browser.js; its font holds its own text only (the texts' is font.js)."""
    counts = {t: index["tendency"].count(i) for i, t in enumerate(TENDENCIES)}
    live = len(index["id"])
    title = f"{index['model']} {index['checkpoint']}: SAE features"
    body = f"""<h1>{html.escape(title)}</h1>
<p class="meta"><a href="index.html">all checkpoints</a> · {index['d_sae']} features: {live} live
(ja {counts['ja']}, en {counts['en']}, mixed {counts['mixed']}), {index['d_sae'] - live} dead. Texts are the test
split's top activating documents; a token's shade is the feature's activation relative to its maximum (hover for
the value), the outlined token is the text's highest. The texts load from the folder
{html.escape(index['shards'])}/ beside this page.</p>
<form id="form"><select id="mode"><option value="feature">feature id</option>
<option value="token" selected>activating token</option></select>
<input id="query" size="24" placeholder="e.g. 42, or a token such as 猫 or cat">
<button type="submit">search</button>
tendency <select id="tendency"><option>any</option><option>ja</option><option>en</option><option>mixed</option></select>
</form>
<p><span id="count" class="meta"></span> <button id="prev">previous</button> <button id="next">next</button>
<span id="note" class="meta"></span></p>
<div id="results"></div>"""
    payload = json.dumps(index, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    script = f"const INDEX = {payload};\n" + resources.files(__package__).joinpath("browser.js").read_text("utf-8")
    return highlight.page(title, body, script)


def index_html(model: str, rows: list[dict]) -> str:
    """rows: checkpoint, page (relative link), live, dead, ja, en, mixed — in training order."""
    cells = "\n".join(
        f"<tr><td><a href=\"{html.escape(r['page'])}\">{html.escape(r['checkpoint'])}</a></td>"
        f"<td>{r['live']}</td><td>{r['dead']}</td>"
        + "".join(f"<td>{r[t]} ({100 * r[t] / r['live'] if r['live'] else 0:.0f}%)</td>" for t in ("ja", "en", "mixed"))
        + "</tr>" for r in rows)
    body = f"""<h1>{html.escape(model)}: SAE features across training checkpoints</h1>
<p class="meta">One page per checkpoint, in training order. Shares are of live features (dead: no activation on
the test split); tendency by the 90% rule.</p>
<table><tr><th>checkpoint</th><th>live</th><th>dead</th><th>ja</th><th>en</th><th>mixed</th></tr>
{cells}</table>"""
    return highlight.page(f"{model}: feature browser", body)


def run_page(*, contexts, features, language, granularity, documents, tokens, page, shards,
             texts_per_feature: int, tokenizer: dict, model: str, ckpt: str, previous_matches: list = (),
             next_matches: list = (), neighbours: dict | None = None) -> None:
    """Rule browser_page: one checkpoint's page and the folder of its shards (named as the page, without .html);
    `previous_matches`, `next_matches`: the matches tables of the pairs (earlier, this) and (this, later), where
    those checkpoints exist, named in `neighbours`."""
    stats = pl.read_parquet(features)
    maxima = np.zeros(stats.height, dtype=np.float64)
    maxima[stats["feature"].to_numpy()] = stats["max_activation"].to_numpy()
    docs = corpus_documents(contexts, documents, zarr.open_array(str(tokens), mode="r"), texts_per_feature,
                            load_tokenizer(tokenizer))
    with atomic_path(shards) as tmp:
        tmp.mkdir()
        write_shards(tmp, feature_blocks(contexts, texts_per_feature), stats.height, maxima, docs)
    labels = dict(pl.read_parquet(granularity, columns=["feature", "label"]).iter_rows())
    index = page_index(ckpt, model, stats, pl.read_parquet(language), labels, Path(shards).name,
                       previous=pl.read_parquet(previous_matches[0]) if previous_matches else None,
                       following=pl.read_parquet(next_matches[0]) if next_matches else None, neighbours=neighbours)
    with atomic_path(page) as tmp:
        tmp.write_text(checkpoint_html(index), encoding="utf-8")


def run_index(*, language: list, pages: list, index, checkpoints: list[str], model: str) -> None:
    """Rule browser_index: links to the pages (relative to the index) with each checkpoint's counts."""
    rows = []
    for ckpt, lang_path, page_path in zip(checkpoints, language, pages):
        tendency = pl.read_parquet(lang_path)["tendency"]
        counts = {t: int((tendency == t).sum()) for t in ("ja", "en", "mixed", "dead")}
        rows.append({"checkpoint": ckpt, "page": Path(page_path).name,
                     "live": counts["ja"] + counts["en"] + counts["mixed"], **counts})
    with atomic_path(index) as tmp:
        tmp.write_text(index_html(model, rows), encoding="utf-8")
