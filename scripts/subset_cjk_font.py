"""Make the vendored Chinese font for charts: a subset of Noto Sans SC (SIL OFL 1.1).

    npm pack @expo-google-fonts/noto-sans-sc@0.4.3      # the upstream TTF, OFL
    tar xzf expo-google-fonts-noto-sans-sc-0.4.3.tgz package/400Regular/NotoSansSC_400Regular.ttf
    python scripts/subset_cjk_font.py package/400Regular/NotoSansSC_400Regular.ttf

Keeps the 6,763 characters of GB 2312 (levels 1 and 2), CJK punctuation, full-width forms
and every Chinese character of the translation tables (``sim/locale/*.toml``) and of the
code (``sim/**/*.py``: the domain's terms in labels), and writes
``sim/fonts/NotoSansSC-Regular-subset.ttf`` (~2 MB). Needs fontTools (a dev dependency).
Run it again when a translation uses a character outside that set (``tests/test_i18n.py``
says which).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from fontTools import subset

ROOT = Path(__file__).resolve().parents[1]


def characters() -> str:
    chars = set()
    for hi in range(0xB0, 0xF8):                  # GB 2312 levels 1 and 2: rows 16-87
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):     # the unused code points
                chars.add(bytes([hi, lo]).decode("gb2312"))
    chars |= {chr(c) for c in range(0x3000, 0x3040)}     # CJK symbols and punctuation
    chars |= {chr(c) for c in range(0xFF00, 0xFF70)}     # full-width forms
    for path in [*(ROOT / "sim" / "locale").glob("*.toml"), *(ROOT / "sim").rglob("*.py")]:
        chars |= {c for c in path.read_text(encoding="utf-8") if ord(c) >= 0x2E80}
    return "".join(sorted(chars))


def main(source: str) -> None:
    out = ROOT / "sim" / "fonts" / "NotoSansSC-Regular-subset.ttf"
    options = subset.Options()
    options.layout_features = ["*"]
    options.hinting = False
    font = subset.load_font(source, options)
    sub = subset.Subsetter(options)
    sub.populate(text=characters())
    sub.subset(font)
    subset.save_font(font, str(out), options)
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/subset_cjk_font.py NotoSansSC_400Regular.ttf")
    main(sys.argv[1])
