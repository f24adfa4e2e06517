"""Chart and report text in English or Chinese, from one translation table.

Every string a chart or a report shows is written in English in the code and passed through
:func:`tr`; ``sim/locale/zh.toml`` maps each English template to its Chinese one (a test checks
that none is missing). Templates may hold ``{name}`` fields, filled after translation.

Chinese glyphs come from a vendored subset of Noto Sans SC (SIL Open Font License,
``sim/fonts/OFL.txt``; the 6,763 characters of GB 2312, CJK punctuation and every Chinese
character of the code and the tables, made by ``scripts/subset_cjk_font.py``), so charts
need no system font.
"""

from __future__ import annotations

import base64
import functools
import io
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

LANGUAGES = ("en", "zh")
FONT = Path(__file__).parent / "fonts" / "NotoSansSC-Regular-subset.ttf"
FONT_FAMILY = "Noto Sans SC"
_LOCALE = Path(__file__).parent / "locale"
_lang: ContextVar[str] = ContextVar("gridsim_lang", default="en")
_seen: ContextVar[set[str] | None] = ContextVar("gridsim_tr_seen", default=None)


@functools.cache
def table(lang: str) -> dict[str, str]:
    """The translation table of ``lang`` (English template -> translated template)."""
    if lang == "en":
        return {}
    with open(_LOCALE / f"{lang}.toml", "rb") as f:
        return dict(tomllib.load(f)["strings"])


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Draw charts and reports in ``lang`` inside the block."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (one of {', '.join(LANGUAGES)})")
    token = _lang.set(lang)
    try:
        yield
    finally:
        _lang.reset(token)


@contextmanager
def recording() -> Iterator[set[str]]:
    """Collect every template :func:`tr` is asked for inside the block (for the tests)."""
    seen: set[str] = set()
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def tr(text: str, /, **values: object) -> str:
    """``text`` (an English template) in the current language, its fields filled from
    ``values``. A template missing from the table stays English."""
    seen = _seen.get()
    if seen is not None:
        seen.add(text)
    lang = _lang.get()
    if lang != "en":
        text = table(lang).get(text, text)
    return text.format(**values) if values else text


CJK_RANGE = "U+2E80-9FFF, U+F900-FAFF, U+FE30-FE4F, U+FF00-FFEF"


def font_face_css(text: str) -> str:
    """A CSS ``@font-face`` rule for the family :data:`FONT_FAMILY`, embedding the vendored
    font cut down to the Chinese characters of ``text`` (a few KB), so an HTML page shows them
    on a machine without a Chinese font; "" when ``text`` has none. List the family first in
    ``font-family``: its ``unicode-range`` keeps it to CJK."""
    chars = "".join(sorted({c for c in text if ord(c) >= 0x2E80}))
    if not chars:
        return ""
    from fontTools import subset  # a dependency of Matplotlib's
    options = subset.Options()
    options.hinting = False
    font = subset.load_font(str(FONT), options)
    cut = subset.Subsetter(options)
    cut.populate(text=chars)
    cut.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (f"@font-face {{ font-family: '{FONT_FAMILY}'; src: url(data:font/ttf;base64,{data})"
            f" format('truetype'); unicode-range: {CJK_RANGE}; }}")


def use_cjk_font() -> None:
    """Let Matplotlib fall back on the vendored Chinese font for glyphs DejaVu Sans lacks.

    Called before each figure, not once: Solara gives every browser session its own copy of
    Matplotlib's settings, so a setting made in the first session is not there in the next
    (whose charts drew every Chinese glyph as a box)."""
    from matplotlib import rcParams
    _add_font()
    families = list(rcParams["font.family"])        # e.g. ["sans-serif"]: the user's choice
    if FONT_FAMILY not in families:
        rcParams["font.family"] = [*families, FONT_FAMILY]     # glyph by glyph fallback


@functools.cache
def _add_font() -> None:
    from matplotlib import font_manager
    font_manager.fontManager.addfont(str(FONT))
