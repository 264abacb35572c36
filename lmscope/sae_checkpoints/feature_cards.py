"""Example features at an early, a middle and the final checkpoint (the paper's figs. 3 and 6, METHODS A7).

Each example is one live feature with its top texts (highest activation first), every token shaded by the
feature's activation on it, its language tendency and, once labelled, its granularity. Which features: (ours)
the config's pinned features of that checkpoint first, then a seeded random sample of the live features that
have at least as many texts as are shown (of those with a granularity label, when the checkpoint has them) —
a sample, not a selection of pretty cases, so the page shows what features at that stage are typically like.
Written as a self-contained HTML page, a vector PDF and a CSV.
"""

from __future__ import annotations

import html
import random
import textwrap
from dataclasses import dataclass, field

import polars as pl
import zarr
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.plotting import figure, save
from lmscope.sae_checkpoints.highlight import page, shade, text_html, window_pieces
from lmscope.sae_checkpoints.language import document_languages
from lmscope.sae_checkpoints.stages import STAGES
from lmscope.tokenizer import load_tokenizer


def choose_features(language: pl.DataFrame, n: int, min_texts: int, seed: int, pinned: list[int],
                    checkpoint: str, among: set[int] | None = None) -> list[int]:
    """Pinned features first (each must have `min_texts` texts), then a seeded sample of the other eligible
    features (only those in `among`, when given: the ones with a granularity label), `n` in all (fewer when
    fewer are eligible)."""
    eligible = set(language.filter(pl.col("n_texts") >= min_texts)["feature"].to_list())
    for f in pinned:
        if f not in eligible:
            raise InputError(f"examples.pinned[{checkpoint!r}]: feature {f} has fewer than {min_texts} texts "
                             f"at {checkpoint} (dead, or out of range); pin a live feature")
    rest = sorted((eligible if among is None else eligible & among) - set(pinned))
    random.Random(f"{seed}:{checkpoint}").shuffle(rest)
    return (list(pinned) + rest)[:max(n, len(pinned))]


def feature_contexts(contexts, features: list[int], texts: int | None = None) -> pl.DataFrame:
    """The rows of contexts.parquet for `features` (their top `texts` only, when given): a scan that skips the
    row groups of other features (the file is sorted by feature), not the whole table, which is 1.64M windows
    at the paper's scale."""
    wanted = pl.col("feature").is_in(features)
    if texts is not None:
        wanted &= pl.col("rank") < texts
    return pl.scan_parquet(contexts).filter(wanted).collect(engine="streaming")


@dataclass
class Text:
    doc_id: int
    lang: str
    activation: float
    position: int
    pieces: list[str]
    activations: list[float]


@dataclass
class Example:
    stage: str
    checkpoint: str
    feature: int
    tendency: str
    n_ja: int
    n_en: int
    n_texts: int
    frequency: float
    max_activation: float
    granularity: str | None
    texts: list[Text] = field(default_factory=list)

    @property
    def heading(self) -> str:
        gran = f" · {self.granularity}" if self.granularity else ""
        return (f"{self.checkpoint} feature #{self.feature:05d}: {self.tendency} (ja {self.n_ja} / en {self.n_en} "
                f"of {self.n_texts} texts){gran} · frequency {self.frequency:.2%} · max {self.max_activation:.3g}")


def collect(stage: str, checkpoint: str, features: list[int], contexts: pl.DataFrame, stats: pl.DataFrame,
            language: pl.DataFrame, lang_of_doc: dict[int, str], pieces_of_doc: dict[int, list[str]],
            n_texts: int, granularity: dict[int, str] | None = None) -> list[Example]:
    """The examples of one checkpoint, each with its top `n_texts` texts."""
    out = []
    for f in features:
        s = stats.row(by_predicate=pl.col("feature") == f, named=True)
        lang = language.row(by_predicate=pl.col("feature") == f, named=True)
        ex = Example(stage, checkpoint, f, lang["tendency"], lang["n_ja"], lang["n_en"], lang["n_texts"],
                     s["frequency"], s["max_activation"], (granularity or {}).get(f))
        for row in contexts.filter(pl.col("feature") == f).sort("rank").head(n_texts).iter_rows(named=True):
            ex.texts.append(Text(row["doc_id"], lang_of_doc[row["doc_id"]], row["activation"], row["position"],
                                 pieces_of_doc[row["doc_id"]], list(row["activations"])))
        out.append(ex)
    return out


def write_csv(examples: list[Example], path) -> None:
    rows = [{"stage": e.stage, "checkpoint": e.checkpoint, "feature": e.feature, "tendency": e.tendency,
             "granularity": e.granularity, "rank": rank, "doc_id": t.doc_id, "lang": t.lang,
             "activation": t.activation, "top_token": t.pieces[t.position], "text": "".join(t.pieces)}
            for e in examples for rank, t in enumerate(e.texts)]
    frame = pl.DataFrame(rows, schema_overrides={"granularity": pl.String})
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def card_html(e: Example, anchor: bool = False) -> str:
    """One feature as an HTML card: its tags and statistics, then each text highlighted (`anchor`: with
    id="f{feature}", for links into a page that shows each feature once)."""
    gran = f' <span class="tag granularity">{html.escape(e.granularity)}</span>' if e.granularity else ""
    ident = f' id="f{e.feature}"' if anchor else ""
    parts = [f'<div class="card"{ident}><div><span class="tag {e.tendency}">{e.tendency}</span>{gran} '
             f'<b>#{e.feature:05d}</b> <span class="meta">{html.escape(e.heading)}</span></div>']
    for t in e.texts:
        parts.append(f'<div class="text">{text_html(t.pieces, t.activations, e.max_activation, t.position)}'
                     f'</div><div class="meta">doc {t.doc_id} ({t.lang}), activation {t.activation:.3g}</div>')
    return "\n".join(parts + ["</div>"])


def write_html(examples: list[Example], path, title: str, caption: str) -> None:
    parts = [f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(caption)}</p>']
    for stage in STAGES:
        stage_examples = [e for e in examples if e.stage == stage]
        if not stage_examples:
            continue
        parts.append(f"<h2>{stage} ({html.escape(stage_examples[0].checkpoint)})</h2>")
        parts += [card_html(e) for e in stage_examples]
    with atomic_path(path) as tmp:
        tmp.write_text(page(title, "\n".join(parts)), encoding="utf-8")


def write_pdf(examples: list[Example], path, title: str, caption: str, width_in: float = 7.5,
              fontsize: float = 8.0) -> None:
    """The same page as a vector PDF: tokens laid out in lines, each on a box shaded by its activation.
    Text widths are measured with the figure's own fonts (Latin, then the CJK fallback)."""
    fig = figure()  # the fonts first: text widths below are measured with them
    prop = FontProperties(size=fontsize)
    renderer = RendererAgg(100, 100, 72)  # at 72 dpi a pixel is a point

    def width(s: str) -> float:
        return renderer.get_text_width_height_descent(s, prop, ismath=False)[0] if s else 0.0

    margin, line = 36.0, fontsize * 1.6
    usable = width_in * 72 - 2 * margin
    caption_lines = textwrap.wrap(caption, int(usable / (0.55 * 6.5)))
    items: list[tuple] = [("title", title, 14.0)]  # (kind, payload, height in pt)
    items += [("caption", text, 8.0) for text in caption_lines]
    for stage in STAGES:
        stage_examples = [e for e in examples if e.stage == stage]
        if stage_examples:
            items.append(("stage", f"{stage} ({stage_examples[0].checkpoint})", 16.0))
        for e in stage_examples:
            items.append(("heading", e, 13.0))
            for t in e.texts:
                lines, x, current = [], 0.0, []
                for i, piece in enumerate(t.pieces):
                    piece = piece.replace("\n", " ")
                    w = width(piece)
                    if x + w > usable and current:
                        lines.append(current)
                        x, current = 0.0, []
                    if not current:  # a new line does not start with the space before its first word
                        piece = piece.lstrip(" ")
                        w = width(piece)
                    current.append((x, w, piece, shade(t.activations[i], e.max_activation), i == t.position))
                    x += w
                lines.append(current)
                items.append(("text", lines, line * len(lines) + 4.0))
    height = sum(h for _, _, h in items) + 2 * margin
    fig.set_size_inches(width_in, height / 72)
    to_fig = fig.dpi_scale_trans  # inches from the bottom left
    y = height - margin
    for kind, payload, h in items:
        y -= h
        if kind in ("title", "caption", "stage"):
            size = {"title": 11, "caption": 6.5, "stage": 10}[kind]
            fig.text(margin / 72, (y + 3) / 72, payload, transform=to_fig, fontsize=size,
                     weight="bold" if kind != "caption" else "normal", color="#222" if kind != "caption" else "#666")
        elif kind == "heading":
            fig.text(margin / 72, (y + 3) / 72, payload.heading, transform=to_fig, fontsize=fontsize,
                     weight="bold")
        else:
            for j, row in enumerate(payload):
                base = y + h - 2.0 - (j + 1) * line
                for x, w, piece, strength, is_top in row:
                    if strength > 0 or is_top:
                        fig.add_artist(Rectangle(((margin + x) / 72, (base - 0.25 * fontsize) / 72), w / 72,
                                                 1.3 * fontsize / 72, transform=to_fig, linewidth=0.6 if is_top else 0,
                                                 edgecolor="#b35900", facecolor=(1.0, 0.55, 0.0, strength)))
                    fig.text((margin + x) / 72, base / 72, piece, transform=to_fig, fontsize=fontsize)
    save(fig, path)


TITLES = {"fig3": "Example SAE features", "fig6": "More example SAE features"}


def run(*, contexts: list, features: list, language: list, granularity: list, documents, tokens, html_page, pdf,
        csv, stages: dict[str, str], n_features: int, texts: int, seed: int, pinned: dict[str, list[int]],
        tokenizer: dict, fig: str) -> None:
    """Rules fig3 / fig6 (`fig`): per stage ({stage: checkpoint}, in order) its checkpoint's contexts, features,
    language and granularity tables, the lists in the order of `stages`."""
    chosen = {}
    for (stage, ckpt), contexts_path, features_path, language_path, granularity_path in zip(
            stages.items(), contexts, features, language, granularity):
        language_table = pl.read_parquet(language_path)
        labels = dict(pl.read_parquet(granularity_path).select("feature", "label").iter_rows())
        feats = choose_features(language_table, n_features, texts, seed, pinned.get(ckpt, []), ckpt,
                                set(labels) if labels else None)
        context_table = feature_contexts(contexts_path, feats, texts)
        chosen[stage] = (ckpt, context_table, pl.read_parquet(features_path), language_table, feats, labels)
    docs = pl.concat([context_table["doc_id"] for _, context_table, *_ in chosen.values()])
    lang_of_doc = dict(document_languages(documents, docs).iter_rows())
    pieces = window_pieces(load_tokenizer(tokenizer), zarr.open_array(str(tokens), mode="r"), docs)
    examples = [ex for stage, (ckpt, context_table, stats, language_table, feats, labels) in chosen.items()
                for ex in collect(stage, ckpt, feats, context_table, stats, language_table, lang_of_doc, pieces,
                                  texts, labels)]
    caption = (f"Per checkpoint, {n_features} live features (pinned ones first, the rest sampled with seed {seed}) "
               f"and each one's top {texts} test texts. A token's shade is the feature's activation on it relative "
               "to the feature's maximum; the outlined token is the text's highest. Tendency by the 90% rule.")
    write_csv(examples, csv)
    write_html(examples, html_page, TITLES[fig], caption)
    write_pdf(examples, pdf, TITLES[fig], caption)
