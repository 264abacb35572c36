"""Fonts that render Japanese: in figures (matplotlib) and in self-contained HTML pages.

The CJK font comes from a PyPI package (matplotlib-fontja ships IPAexGothic), so `pip install` alone provides
it on any machine — no system font package is needed. Figures use DejaVu Sans for Latin text and fall back to
IPAexGothic glyph by glyph (matplotlib ≥ 3.6). HTML pages embed a subset of IPAexGothic holding only the
characters the page shows, so they render Japanese in any browser and stay small.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
from pathlib import Path

import matplotlib
from fontTools import subset
from fontTools.ttLib import TTFont
from matplotlib import font_manager
from matplotlib_fontja import get_font_ttf_path

LATIN_FONT = "DejaVu Sans"
CJK_FONT = "IPAexGothic"
CSS_FAMILY = "lmscope-cjk"


@functools.cache
def cjk_font_path() -> Path:
    return Path(get_font_ttf_path())


@functools.cache
def use_cjk_in_matplotlib() -> None:
    """Register the CJK font and make it the fallback after the Latin font for every later figure."""
    # IPAexGothic has no bold face: bold Japanese is drawn regular, which font_manager would log on every use
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    # embedding subsets the font through fontTools, which logs every table it touches at INFO
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    font_manager.fontManager.addfont(str(cjk_font_path()))
    matplotlib.rcParams["font.family"] = [LATIN_FONT, CJK_FONT]
    matplotlib.rcParams["pdf.fonttype"] = 42  # embed TrueType: text in the PDF stays searchable and selectable


@functools.cache
def _cmap(path: Path) -> frozenset[int]:
    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


def missing_glyphs(text: str, font_paths: list[Path] | None = None) -> set[str]:
    """The printable characters of `text` that none of the fonts has a glyph for (what would render as tofu).
    Default fonts: the figures' chain, DejaVu Sans then IPAexGothic."""
    if font_paths is None:
        font_paths = [Path(font_manager.findfont(LATIN_FONT, fallback_to_default=False)), cjk_font_path()]
    covered = set().union(*(_cmap(p) for p in font_paths))
    return {c for c in set(text) if c.isprintable() and not c.isspace() and ord(c) not in covered}


def font_face_css(text: str) -> str:
    """An @font-face rule whose font (WOFF, base64) is IPAexGothic cut down to the characters of `text`."""
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    font = TTFont(str(cjk_font_path()))
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text))) or " ")
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.flavor = "woff"
    font.save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f"@font-face {{ font-family: '{CSS_FAMILY}'; "
            f"src: url(data:font/woff;base64,{data}) format('woff'); }}")
