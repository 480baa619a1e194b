"""A tiny PNG line-chart writer on the standard library only (zlib + struct): axes, log scales, polylines,
markers, a legend and labels in a 5x7 bitmap font. Enough for ``bench/requests_vs_n.png``; no plotting
library is a dependency of b24crm.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import attrs

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GREY: Color = (215, 215, 215)
DARK: Color = (90, 90, 90)
#: Distinct, colour-blind-friendly series colours (Okabe-Ito).
PALETTE: tuple[Color, ...] = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0))

# 5x7 glyphs: seven rows of five columns ('1' = ink). Lower case prints as upper case.
_GLYPHS: dict[str, str] = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 10001 11111 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "<": "00010 00100 01000 10000 01000 00100 00010",
    ">": "01000 00100 00010 00001 00010 00100 01000",
    "*": "00000 00100 10101 01110 10101 00100 00000",
    "[": "01110 01000 01000 01000 01000 01000 01110",
    "]": "01110 00010 00010 00010 00010 00010 01110",
}


def _glyph(ch: str) -> str:
    """The glyph as 35 characters, row by row."""
    return (_GLYPHS.get(ch) or _GLYPHS.get(ch.upper()) or _GLYPHS["*"]).replace(" ", "")


class Canvas:
    """An RGB raster with the few drawing operations a line chart needs."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        for y in range(max(0, y0), min(self.height, y1 + 1)):
            for x in range(max(0, x0), min(self.width, x1 + 1)):
                self.set(x, y, color)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Color, width: int = 1, dash: int = 0) -> None:
        """A straight segment (DDA), ``width`` pixels thick; ``dash`` > 0 draws dashes of that length."""
        steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0))))
        half = width // 2
        for i in range(steps + 1):
            if dash and (i // dash) % 2:
                continue
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            for dx in range(-half, width - half):
                for dy in range(-half, width - half):
                    self.set(x + dx, y + dy, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        """Left-top anchored text in the 5x7 font; each glyph is 6 columns wide including spacing."""
        for n, ch in enumerate(text):
            rows = _glyph(ch)
            for r in range(7):
                for c in range(5):
                    if rows[r * 5 + c] == "1":
                        self.rect(
                            x + (n * 6 + c) * scale,
                            y + r * scale,
                            x + (n * 6 + c + 1) * scale - 1,
                            y + (r + 1) * scale - 1,
                            color,
                        )

    def vtext(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 2) -> None:
        """Text rotated 90 degrees counter-clockwise, reading bottom to top from (x, y)."""
        for n, ch in enumerate(text):
            rows = _glyph(ch)
            for r in range(7):
                for c in range(5):
                    if rows[r * 5 + c] == "1":
                        px, py = x + r * scale, y - (n * 6 + c + 1) * scale
                        self.rect(px, py, px + scale - 1, py + scale - 1, color)

    def png(self) -> bytes:
        """The image as PNG bytes (8-bit RGB, filter 0 on every row)."""
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        image = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
        return b"\x89PNG\r\n\x1a\n" + image


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 6 * scale


@attrs.frozen
class Series:
    """One polyline: a name for the legend, its points, a colour, optionally dashed (for targets)."""

    name: str
    points: Sequence[tuple[float, float]]
    color: Color
    dashed: bool = False


@attrs.frozen
class Panel:
    """One chart: log-log axes by default."""

    title: str
    x_label: str
    y_label: str
    series: Sequence[Series]
    log_x: bool = True
    log_y: bool = True


def _fmt(value: float) -> str:
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000 and value % 1_000 == 0:
        return f"{value / 1_000:g}K"
    return f"{value:g}"


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    step = 10 ** math.floor(math.log10(max(hi - lo, 1e-9)))
    if (hi - lo) / step < 4:
        step /= 2
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 2)]


def _draw_panel(canvas: Canvas, panel: Panel, x0: int, y0: int, width: int, height: int) -> None:
    left, right, top, bottom = x0 + 90, x0 + width - 20, y0 + 50, y0 + height - 150
    points = [p for s in panel.series for p in s.points if p[0] > 0 and p[1] > 0]
    if not points:
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks = _ticks(min(xs), max(xs), panel.log_x)
    y_ticks = _ticks(min(ys), max(ys), panel.log_y)
    x_lo, x_hi = (min(x_ticks), max(x_ticks)) if panel.log_x else (min(xs), max(xs))
    y_lo, y_hi = (min(y_ticks), max(y_ticks)) if panel.log_y else (0.0, max(y_ticks))

    def tx(v: float) -> float:
        a, b, u = (math.log10(x_lo), math.log10(x_hi), math.log10(v)) if panel.log_x else (x_lo, x_hi, v)
        return left + (u - a) / ((b - a) or 1) * (right - left)

    def ty(v: float) -> float:
        a, b, u = (math.log10(y_lo), math.log10(y_hi), math.log10(v)) if panel.log_y else (y_lo, y_hi, v)
        return bottom - (u - a) / ((b - a) or 1) * (bottom - top)

    canvas.text(left, y0 + 12, panel.title, BLACK, 2)
    for t in x_ticks:
        if x_lo <= t <= x_hi:
            x = tx(t)
            canvas.line(x, top, x, bottom, GREY)
            label = _fmt(t)
            canvas.text(int(x) - text_width(label) // 2, bottom + 8, label, DARK)
    for t in y_ticks:
        if y_lo <= t <= y_hi and (not panel.log_y or t > 0):
            y = ty(t)
            canvas.line(left, y, right, y, GREY)
            label = _fmt(t)
            canvas.text(left - 8 - text_width(label), int(y) - 7, label, DARK)
    canvas.line(left, top, left, bottom, BLACK, 2)
    canvas.line(left, bottom, right, bottom, BLACK, 2)
    canvas.text((left + right) // 2 - text_width(panel.x_label) // 2, bottom + 34, panel.x_label, BLACK)
    canvas.vtext(x0 + 14, (top + bottom) // 2 + text_width(panel.y_label) // 2, panel.y_label, BLACK)
    for s in panel.series:
        pts = [(tx(x), ty(y)) for x, y in s.points if x > 0 and y > 0]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            canvas.line(ax, ay, bx, by, s.color, 3, dash=8 if s.dashed else 0)
        if not s.dashed:
            for px, py in pts:
                canvas.rect(int(px) - 4, int(py) - 4, int(px) + 4, int(py) + 4, s.color)
    # The legend goes under the axis label, in rows of as many entries as fit: it never hides a line.
    lx, ly = left, bottom + 62
    for s in panel.series:
        width = 42 + text_width(s.name) + 18
        if lx + width > right and lx > left:
            lx, ly = left, ly + 22
        canvas.line(lx, ly + 6, lx + 28, ly + 6, s.color, 3, dash=6 if s.dashed else 0)
        canvas.text(lx + 36, ly, s.name, BLACK)
        lx += width


def write_chart(path: Path, panels: Sequence[Panel], panel_width: int = 620, height: int = 480) -> None:
    """Panels side by side in one PNG."""
    canvas = Canvas(panel_width * len(panels), height)
    for i, panel in enumerate(panels):
        _draw_panel(canvas, panel, i * panel_width, 0, panel_width, height)
    path.write_bytes(canvas.png())


if __name__ == "__main__":  # pragma: no cover - a quick visual check
    demo = Panel(
        "REQUESTS VS N",
        "RECORDS (N)",
        "HTTP REQUESTS",
        [
            Series("b24crm", [(1e4, 5), (1e5, 41), (1e6, 401)], PALETTE[0]),
            Series("target", [(1e4, 5), (1e5, 41), (1e6, 401)], DARK, dashed=True),
        ],
    )
    write_chart(Path("demo.png"), [demo, demo])
