"""A static feature browser: one self-contained HTML page per checkpoint and an index page across them.

Every live feature's top texts, statistics, language tendency (and granularity when labelled) go into the
page as one JSON object; browser.js renders a page of feature cards at a time, so a checkpoint with tens of
thousands of features stays responsive. A text is stored once per document (its token pieces) and each
feature's shading as the positions where it is active with a level 1–255 relative to the feature's maximum —
far smaller than a highlighted copy of every text.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

import polars as pl
import zarr

from lmscope.atomic import atomic_path
from lmscope.sae_checkpoints import highlight
from lmscope.sae_checkpoints.highlight import window_pieces
from lmscope.tokenizer import load_tokenizer


def levels(activations: list[float], max_activation: float) -> tuple[list[int], list[int]]:
    """Sparse shading of one text: (positions, levels 1..255) where the activation is positive."""
    positions, out = [], []
    for i, a in enumerate(activations):
        if a > 0 and max_activation > 0:
            positions.append(i)
            out.append(max(1, min(255, round(255 * a / max_activation))))
    return positions, out


def page_data(checkpoint: str, model: str, contexts: pl.DataFrame, stats: pl.DataFrame, language: pl.DataFrame,
              lang_of_doc: dict[int, str], pieces_of_doc: dict[int, list[str]], texts_per_feature: int,
              granularity: dict[int, str] | None = None) -> dict:
    """The JSON the page embeds: documents (doc_id, lang, pieces) and live features with their texts."""
    contexts = contexts.filter(pl.col("rank") < texts_per_feature).sort("feature", "rank")
    doc_ids = sorted(set(contexts["doc_id"].to_list()))
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    table = stats.join(language.select("feature", "tendency", "n_ja", "n_en"), on="feature").sort("feature")
    texts: dict[int, list] = {}
    maxima = dict(table.select("feature", "max_activation").iter_rows())
    for row in contexts.iter_rows(named=True):
        f = row["feature"]
        positions, lv = levels(row["activations"], maxima[f])
        texts.setdefault(f, []).append([doc_index[row["doc_id"]], row["position"], round(row["activation"], 5),
                                        positions, lv])
    features = [[r["feature"], r["tendency"], r["n_ja"], r["n_en"], r["n_texts"], round(r["frequency"], 7),
                 round(r["max_activation"], 5), (granularity or {}).get(r["feature"]), texts[r["feature"]]]
                for r in table.filter(~pl.col("dead")).iter_rows(named=True)]
    return {"model": model, "checkpoint": checkpoint, "d_sae": stats.height,
            "docs": [[d, lang_of_doc[d], pieces_of_doc[d]] for d in doc_ids], "features": features}


def checkpoint_html(data: dict) -> str:
    counts = {t: sum(1 for f in data["features"] if f[1] == t) for t in ("ja", "en", "mixed")}
    dead = data["d_sae"] - len(data["features"])
    title = f"{data['model']} {data['checkpoint']}: SAE features"
    body = f"""<h1>{html.escape(title)}</h1>
<p class="meta"><a href="index.html">all checkpoints</a> · {data['d_sae']} features: {len(data['features'])} live
(ja {counts['ja']}, en {counts['en']}, mixed {counts['mixed']}), {dead} dead. Texts are the test split's top
activating documents; a token's shade is the feature's activation relative to its maximum (hover for the value),
the outlined token is the text's highest.</p>
<form id="form"><select id="mode"><option value="feature">feature id</option>
<option value="token" selected>activating token</option></select>
<input id="query" size="24" placeholder="e.g. 42, or a token such as 猫 or cat">
<button type="submit">search</button>
tendency <select id="tendency"><option>any</option><option>ja</option><option>en</option><option>mixed</option></select>
</form>
<p><span id="count" class="meta"></span> <button id="prev">previous</button> <button id="next">next</button>
<span id="note" class="meta"></span></p>
<div id="results"></div>"""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    script = f"const DATA = {payload};\n" + resources.files(__package__).joinpath("browser.js").read_text("utf-8")
    font_text = "".join(piece for doc in data["docs"] for piece in doc[2])
    return highlight.page(title, body, script, font_text=font_text + html.unescape(body))


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


def run_page(*, contexts, features, language, granularity, documents, tokens, page, texts_per_feature: int,
             tokenizer: dict, model: str, ckpt: str) -> None:
    """Rule browser_page: one checkpoint's page."""
    context_table = pl.read_parquet(contexts).filter(pl.col("rank") < texts_per_feature)
    pieces = window_pieces(load_tokenizer(tokenizer), zarr.open_array(str(tokens), mode="r"),
                           context_table["doc_id"].unique().to_list())
    lang_of_doc = dict(pl.read_parquet(documents, columns=["doc_id", "lang"]).iter_rows())
    labels = dict(pl.read_parquet(granularity).select("feature", "label").iter_rows())
    data = page_data(ckpt, model, context_table, pl.read_parquet(features), pl.read_parquet(language), lang_of_doc,
                     pieces, texts_per_feature, labels)
    with atomic_path(page) as tmp:
        tmp.write_text(checkpoint_html(data), encoding="utf-8")


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
