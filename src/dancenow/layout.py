"""Grids of captioned tiles: how many columns, the cell every tile is fitted into, captions sized to the tile."""

import math

import cv2
import numpy as np

from .io.video import even_size

SCREEN_ASPECT = 16 / 9
BACKGROUND = 16  # grey level of empty cells and of the bars beside a tile narrower than its cell
CAPTION_BACKGROUND = 24
CAPTION_COLOR = (235, 235, 235)
FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_TEXT_HEIGHT = 10  # pixels of a capital letter: below this a caption is hard to read
TEXT_FRACTION = 0.06  # a capital letter's height relative to the tile's


def columns(n_tiles, tile_aspect, aspect=SCREEN_ASPECT):
    """The number of columns whose grid comes nearest `aspect` (width / height) in log ratio, each empty cell
    costing 1 / n_tiles more; ties go to the wider grid. Four square or landscape tiles make the blog's 2x2 (not
    3 + 1 in a frame nearer 16:9); four portrait tiles one row."""
    def cost(c):
        rows = math.ceil(n_tiles / c)
        return abs(math.log(c * tile_aspect / rows / aspect)) + (rows * c - n_tiles) / n_tiles, -c
    return min(range(1, n_tiles + 1), key=cost)


def caption_style(tile_height, width, text):
    """(text, font scale, thickness, bar height) of a caption over a tile `tile_height` tall and `width` wide: its
    capitals TEXT_FRACTION of the tile's height, shrunk to fit the width but never below MIN_TEXT_HEIGHT px; a text
    that still does not fit is cut, ending in '..'."""
    text_h = max(MIN_TEXT_HEIGHT, TEXT_FRACTION * tile_height)
    bar = even_size(math.ceil(text_h * 1.9))
    h1 = cv2.getTextSize("H", FONT, 1.0, 1)[0][1]
    room = 0.92 * width
    shown = text
    while True:
        w1 = cv2.getTextSize(shown or " ", FONT, 1.0, 1)[0][0]
        scale = min(text_h / h1, room / w1)
        if scale * h1 >= MIN_TEXT_HEIGHT - 0.5 or len(shown) <= 3:
            break
        shown = text[:len(shown.rstrip(".")) - 1] + ".."
    return shown, scale, max(1, round(scale * 1.4)), bar


def caption_bar(text, width, tile_height):
    shown, scale, thickness, height = caption_style(tile_height, width, text)
    bar = np.full((height, width, 3), CAPTION_BACKGROUND, np.uint8)
    (w, h), _ = cv2.getTextSize(shown, FONT, scale, thickness)
    x = max(0, (width - w) // 2) if w > 0.6 * width else max(2, round(0.03 * width))
    cv2.putText(bar, shown, (x, (height + h) // 2), FONT, scale, CAPTION_COLOR, thickness, cv2.LINE_AA)
    return bar


def fit(image, width, height):
    """`image` scaled to fit a width x height cell, centred on the background."""
    h, w = image.shape[:2]
    s = min(width / w, height / h)
    tw, th = max(1, round(w * s)), max(1, round(h * s))
    cell = np.full((height, width, 3), BACKGROUND, np.uint8)
    x, y = (width - tw) // 2, (height - th) // 2
    cell[y:y + th, x:x + tw] = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return cell


class Grid:
    """A fixed layout for tiles of known sizes: `Grid(sizes, captions, tile_height, n_columns)` then
    `grid.compose(images)` for every frame. n_columns 0 chooses by `columns`."""

    def __init__(self, sizes, captions, tile_height, n_columns=0):
        self.cell_h = tile_height
        self.cell_w = even_size(max(round(w * tile_height / h) for h, w in sizes))
        n = len(sizes)
        self.cols = min(n, n_columns) if n_columns else columns(n, self.cell_w / self.cell_h)
        self.rows = math.ceil(n / self.cols)
        self.bars = [caption_bar(c, self.cell_w, tile_height) for c in captions]
        self.bar_h = max(b.shape[0] for b in self.bars)
        self.height, self.width = self.rows * (self.bar_h + self.cell_h), self.cols * self.cell_w

    def position(self, i):
        """(x, y) of tile i's caption bar's top left corner; its picture starts bar_h below."""
        row, col = divmod(i, self.cols)
        return col * self.cell_w, row * (self.bar_h + self.cell_h)

    def compose(self, images):
        out = np.full((self.height, self.width, 3), BACKGROUND, np.uint8)
        for i, (image, bar) in enumerate(zip(images, self.bars)):
            x, y = self.position(i)
            out[y:y + bar.shape[0], x:x + self.cell_w] = bar
            out[y + self.bar_h:y + self.bar_h + self.cell_h, x:x + self.cell_w] = fit(image, self.cell_w, self.cell_h)
        return out
