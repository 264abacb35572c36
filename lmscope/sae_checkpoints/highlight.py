"""Texts with their activating tokens highlighted: each token's piece of text, and its shade.

A byte-level BPE can split one Japanese character over several tokens, so decoding tokens one at a time
would print replacement characters. Pieces are instead cut from the decoded prefix: token i's piece is what
decoding tokens 0..i adds to decoding tokens 0..i-1 (an incomplete character at the end waits for the token
that completes it). The pieces therefore join to exactly the decoded window.
"""

from __future__ import annotations

import html

import numpy as np

from lmscope.fonts import font_face_css

REPLACEMENT = "\ufffd"


def token_pieces(tokenizer, ids: list[int]) -> list[str]:
    """The text each token of `ids` contributes; the pieces concatenate to tokenizer.decode(ids)."""
    pieces, previous = [], ""
    for i in range(len(ids)):
        text = tokenizer.decode(ids[:i + 1])
        stable = text.rstrip(REPLACEMENT) if i + 1 < len(ids) else text
        if not stable.startswith(previous):  # a decoder that rewrites earlier text: fall back to the token alone
            pieces.append(tokenizer.decode([ids[i]]))
            previous = stable
            continue
        pieces.append(stable[len(previous):])
        previous = stable
    return pieces


def window_pieces(tokenizer, tokens, doc_ids) -> dict[int, list[str]]:
    """{doc_id: the pieces of its window} for documents of tokens.zarr (rows are doc_id; column 0 is BOS). One
    read by integer indexing: each chunk holding one of the documents is decoded once and only their rows are
    kept, however far apart they lie in the corpus."""
    doc_ids = np.unique(np.fromiter((int(d) for d in doc_ids), dtype=np.int64))
    if not len(doc_ids):
        return {}
    rows = tokens.get_orthogonal_selection((doc_ids, slice(1, None)))
    return {d: token_pieces(tokenizer, row) for d, row in zip(doc_ids.tolist(), rows.tolist())}


def shade(activation: float, max_activation: float) -> float:
    """Highlight strength in [0, 1]: the activation relative to the feature's maximum."""
    if max_activation <= 0 or activation <= 0:
        return 0.0
    return min(1.0, activation / max_activation)


def text_html(pieces: list[str], activations: list[float], max_activation: float, top_position: int) -> str:
    """One highlighted text as HTML spans: orange background by strength, the activation as a tooltip, the
    document's highest-activating token outlined."""
    out = []
    for i, (piece, act) in enumerate(zip(pieces, activations)):
        strength = shade(act, max_activation)
        if strength == 0 and i != top_position:
            out.append(html.escape(piece))
            continue
        cls = ' class="top"' if i == top_position else ""
        out.append(f'<span{cls} style="background:rgba(255,140,0,{strength:.2f})" '
                   f'title="{act:.4g}">{html.escape(piece)}</span>')
    return "".join(out)


PAGE_CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Arial, 'lmscope-cjk', sans-serif; margin: 1.5em; color: #222;
       max-width: 70em; }
input, select, button { font: inherit; }
.text { white-space: pre-wrap; line-height: 1.7; border-left: 3px solid #ddd; padding: 0.1em 0.6em;
        margin: 0.4em 0; font-size: 0.95em; }
.text .top { outline: 1.5px solid #b35900; }
.meta { color: #666; font-size: 0.85em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 0.9em; margin: 0.8em 0; }
.tag { display: inline-block; padding: 0 0.5em; border-radius: 3px; color: white; font-size: 0.85em; }
.tag.ja { background: #d62728; } .tag.en { background: #1f77b4; } .tag.mixed { background: #757575; }
.tag.dead { background: #bbb; } .tag.granularity { background: #2ca02c; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
"""


def page(title: str, body: str, script: str = "", font_text: str | None = None) -> str:
    """A self-contained HTML page: inline CSS and script, and an embedded subset of the CJK font holding the
    characters of `font_text` (default: the body), so Japanese renders without any installed font."""
    font = font_face_css(html.unescape(font_text if font_text is not None else body) + title)
    return (f'<!DOCTYPE html>\n<html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>\n'
            f"<style>{font}\n{PAGE_CSS}</style></head>\n<body>\n{body}\n"
            + (f"<script>\n{script}\n</script>\n" if script else "") + "</body></html>\n")
