"""The font of the reports: Chinese on any viewer, with no font installed and no network.

The report's text and its charts' labels stay text (selectable, searchable, read by screen readers)
and the page carries its own font: a subset of Noto Sans CJK SC holding exactly the characters the
page uses, embedded as a WOFF ``@font-face`` (``embedded_font_css``). matplotlib measures the chart
labels with the same font (``configure_matplotlib``), so what it lays out is what the browser draws.

Where the font comes from, first found wins:

1. ``HM_FONT``: a font file (``.otf``, ``.ttf``; ``.ttc`` as ``path#face-index``) with CJK glyphs;
2. the PyPI package ``noto-cjk-sans-otc`` (Noto Sans CJK, SIL Open Font License 1.1), pinned in
   ``requirements.lock``: a fresh machine gets it with the other dependencies;
3. Debian's ``fonts-noto-cjk`` (``/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc``).

``FontMissing`` says what to install when none is there. A character the font lacks raises
``GlyphMissing`` naming it: a report is never written with boxes in it.
"""

from __future__ import annotations

import base64
import io
import os
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Face of Simplified Chinese in the Noto Sans CJK collection (JP, KR, SC, TC, HK, then Mono faces).
NOTO_CJK_SC_FACE = 2
#: Tables of the font the embedded subset leaves out (layout and vertical metrics).
_UNUSED_TABLES = ("GSUB", "GPOS", "BASE", "VORG", "vhea", "vmtx")
DEBIAN_NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


class FontMissing(RuntimeError):
    """No CJK font is available to write a report (says what to install)."""


class GlyphMissing(RuntimeError):
    """The report's font has no glyph for some characters of the page (they would show as boxes)."""


@dataclass(frozen=True)
class ReportFont:
    """A font file, the face in it (collections hold several) and its family name."""

    path: Path
    face_index: int
    family: str


def _family(path: Path, face_index: int) -> str:
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=face_index, lazy=True)
    return font["name"].getBestFamilyName()


@cache
def report_font() -> ReportFont:
    """The CJK font the reports use (see the module's docstring for the order searched).

    Raises ``FontMissing`` naming the package to install when there is none, or ``HM_FONT`` is not a
    readable font file.
    """
    configured = os.environ.get("HM_FONT")
    if configured:
        path_text, _, face = configured.partition("#")
        path = Path(path_text)
        if not path.is_file():
            raise FontMissing(f"HM_FONT={configured}: no such font file")
        index = int(face or 0)
        try:
            return ReportFont(path, index, _family(path, index))
        except Exception as exc:
            raise FontMissing(f"HM_FONT={configured}: not a readable font ({exc})") from exc
    try:
        import noto_cjk_sans_otc

        path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    except ImportError:
        path = DEBIAN_NOTO_CJK
    if not path.is_file():
        raise FontMissing(
            "no CJK font for the report: install the pinned dependencies (pip install -r requirements.lock, "
            "which brings noto-cjk-sans-otc), or `apt-get install fonts-noto-cjk`, or set HM_FONT to a font "
            "file with Chinese glyphs"
        )
    return ReportFont(path, NOTO_CJK_SC_FACE, _family(path, NOTO_CJK_SC_FACE))


@cache
def _cmap(font: ReportFont) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(font.path, fontNumber=font.face_index, lazy=True).getBestCmap())


def _drawn(text: str) -> set[str]:
    """The characters of ``text`` that need a glyph (not white space or control characters)."""
    return {c for c in set(text) if not c.isspace() and unicodedata.category(c)[0] != "C"}


def missing_glyphs(text: str, font: ReportFont | None = None) -> list[str]:
    """The characters of ``text`` the font has no glyph for, sorted (white space and controls ignored)."""
    font = font or report_font()
    cmap = _cmap(font)
    return sorted(c for c in _drawn(text) if ord(c) not in cmap)


def check_glyphs(text: str, where: str) -> None:
    """Raise ``GlyphMissing`` naming the characters of ``text`` (found in ``where``) the font lacks."""
    font = report_font()
    missing = missing_glyphs(text, font)
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
        raise GlyphMissing(f"{where}: the font {font.family} ({font.path}) has no glyph for {shown}")


def configure_matplotlib() -> ReportFont:
    """Make matplotlib lay out every label with the report font; returns it.

    Charts are written as SVG with text kept as text (``svg.fonttype: none``), drawn by the browser
    in the embedded font. Raises ``FontMissing`` when there is no font.
    """
    import matplotlib
    from matplotlib import font_manager

    font = report_font()
    if not any(entry.fname == str(font.path) for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(str(font.path))
    matplotlib.rcParams.update(
        {"font.family": [font.family], "svg.fonttype": "none", "svg.hashsalt": "household-monitoring"}
    )
    return font


def embedded_font_css(text: str, where: str) -> str:
    """An ``@font-face`` rule carrying the report font's glyphs for the characters of ``text``.

    The subset is a WOFF (zlib) in a ``data:`` URL, 30-100 kB for a report: the page shows
    the same letters on every viewer, offline. Raises ``GlyphMissing`` (naming ``where``) when the
    font lacks a character.
    """
    check_glyphs(text, where)
    font = report_font()
    wanted = frozenset(_drawn(text))
    cached = _last_subset.get(font)
    if cached is not None and wanted <= cached[0]:
        data = cached[1]  # e.g. the reports' index after the day's report: same letters, no second subset
    else:
        data = _subset(font, text)
        _last_subset[font] = (wanted, data)
    return f"@font-face{{font-family:'{font.family}';src:url(data:font/woff;base64,{data}) format('woff')}}"


#: The last subset made per font (its characters, its base64 WOFF): a subset costs 1-8 s (Noto CJK's
#: 65,000 glyphs are parsed), so a page whose characters it already covers reuses it.
_last_subset: dict[ReportFont, tuple[frozenset[str], str]] = {}


def _subset(font: ReportFont, text: str) -> str:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor = "woff"
    options.name_IDs = ["*"]  # keep the family name (the browser reports it)
    options.notdef_outline = True
    face = TTFont(font.path, fontNumber=font.face_index)
    # Horizontal text of a report needs no OpenType layout (vertical forms, locl variants, kerning);
    # removing these tables before they are read halves the time (Noto CJK's GSUB/GPOS are large).
    for tag in _UNUSED_TABLES:
        if tag in face:
            del face[tag]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(c) for c in _drawn(text)} | {0x20}))
    subsetter.subset(face)
    buffer = io.BytesIO()
    face.flavor = "woff"
    face.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
