"""Draw the example image that the README upscales: a small test chart made by our own code.

The benchmark images (Set5, Set14) may not be redistributed, so the repository ships this instead.
Run ``python examples/make_chart.py`` to redraw ``examples/chart.png`` (deterministic).
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 160, 120


def draw_chart() -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), (235, 235, 230))
    draw = ImageDraw.Draw(image)
    # Colour patches.
    colours = [(200, 40, 40), (40, 160, 60), (40, 70, 190), (230, 200, 40), (150, 60, 170), (40, 170, 180)]
    for i, colour in enumerate(colours):
        draw.rectangle((4 + 16 * i, 4, 17 + 16 * i, 17), fill=colour)
    # A grey ramp.
    for x in range(100):
        level = round(255 * x / 99)
        draw.line((4 + x, 22, 4 + x, 30), fill=(level, level, level))
    # A radial resolution star: fine detail that SR should keep sharp.
    cx, cy, radius = 128, 36, 28
    for k in range(24):
        a0, a1 = 2 * math.pi * k / 24, 2 * math.pi * (k + 0.5) / 24
        points = [(cx, cy), (cx + radius * math.cos(a0), cy + radius * math.sin(a0)),
                  (cx + radius * math.cos(a1), cy + radius * math.sin(a1))]
        draw.polygon(points, fill=(20, 20, 20))
    # Line pairs of decreasing pitch.
    x = 4
    for pitch in (6, 5, 4, 3, 2):
        for i in range(4):
            draw.line((x + i * pitch, 36, x + i * pitch, 60), fill=(20, 20, 20))
        x += 4 * pitch + 6
    # Text and a circle.
    draw.text((4, 66), "eern x4", fill=(10, 10, 10))
    draw.text((4, 80), "EERN 0123456789", fill=(120, 20, 20))
    draw.ellipse((100, 70, 150, 112), outline=(30, 60, 150), width=2)
    draw.line((4, 100, 90, 114), fill=(30, 120, 40), width=1)
    return image


if __name__ == "__main__":
    target = Path(__file__).with_name("chart.png")
    draw_chart().save(target, optimize=True)
    print(target)
