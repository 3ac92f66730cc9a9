"""Fixed-size report pages: every figure goes through `save_page`, which checks that everything drawn lies on the
page before it is saved.  Reports keep one page size (A4) instead of `bbox_inches="tight"`, so a label that runs
off the paper would be cut silently; the check turns that into a `PageOverflowWarning` naming the page."""
from __future__ import annotations

import functools
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

A4_PORTRAIT = (8.27, 11.69)    # inches (ISO 216 A4, 210 x 297 mm)
A4_LANDSCAPE = (11.69, 8.27)
TOLERANCE_IN = 0.01            # antialiasing and glyph rounding can reach past an edge by a hair
MONO_ADVANCE_EM = 0.602        # advance width of a DejaVu Sans Mono glyph (matplotlib's monospace font), in em
TEXT_LEFT, TEXT_RIGHT = 0.05, 0.03   # page margins of text pages, as fractions of the page width
TEXT_BOTTOM, TITLE_DROP = 0.03, 0.035  # bottom margin and the room a page title takes, as fractions of the height
LINE_SPACING = 1.2                   # matplotlib's default line spacing, in multiples of the font size


class PageOverflowWarning(UserWarning):
    """Something drawn on a report page lies (partly) outside the page."""


def page_violations(fig) -> list:
    """Lines describing where the figure's drawn content (tight bounding box, in inches) leaves the page, and
    which plots (axes with their labels, colour bars included) run into each other; empty when the page is clean."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    tight = fig.get_tightbbox(renderer)
    w, h = fig.get_size_inches()
    page = Bbox.from_bounds(0, 0, w, h)
    out = []
    for side, over in (("left", page.x0 - tight.x0), ("bottom", page.y0 - tight.y0),
                       ("right", tight.x1 - page.x1), ("top", tight.y1 - page.y1)):
        if over > TOLERANCE_IN:
            out.append(f"content runs {over:.2f} in past the {side} edge of the {w:.2f} x {h:.2f} in page")
    return out + _axes_overlaps(fig, renderer) + _tick_label_clashes(fig, renderer)


def _axes_overlaps(fig, renderer) -> list:
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    boxes = [ax.get_tightbbox(renderer) for ax in axes]   # display pixels
    out = []
    for i in range(len(axes)):
        for j in range(i + 1, len(axes)):
            both = Bbox.intersection(boxes[i], boxes[j])
            if both is not None and min(both.width, both.height) / fig.dpi > TOLERANCE_IN:
                out.append(f"plots '{_axes_name(axes[i])}' and '{_axes_name(axes[j])}' overlap by "
                           f"{both.width / fig.dpi:.2f} x {both.height / fig.dpi:.2f} in")
    return out


def _tick_label_clashes(fig, renderer) -> list:
    """Axes whose neighbouring tick labels overlap (too many categories for the room, unreadable)."""
    out = []
    for ax in fig.axes:
        for which, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
            shown = [t for t in labels if t.get_visible() and t.get_text()]
            clashes = sum(_labels_clash(a, b, which, renderer) for a, b in zip(shown, shown[1:]))
            if clashes:
                out.append(f"plot '{_axes_name(ax)}': {clashes} of its {len(shown)} {which} tick labels overlap "
                           "the next one")
    return out


def _labels_clash(a, b, which, renderer) -> bool:
    """Labels level with their axis or at right angles to it clash when their boxes meet; slanted labels are
    parallel strips, which clash when their anchors lie closer across the text direction than one line height."""
    angle = np.deg2rad(a.get_rotation())
    if np.isclose(np.sin(2 * angle), 0):
        both = Bbox.intersection(a.get_window_extent(renderer), b.get_window_extent(renderer))
        return both is not None and min(both.width, both.height) > 1
    pa, pb = (t.get_transform().transform(t.get_position()) for t in (a, b))
    step = abs(pa[0] - pb[0]) if which == "x" else abs(pa[1] - pb[1])
    across = step * abs(np.sin(angle) if which == "x" else np.cos(angle))
    return across < max(a.get_fontsize(), b.get_fontsize()) * a.figure.dpi / 72


def _axes_name(ax) -> str:
    return ax.get_title() or ax.get_label() or ax.get_ylabel() or "untitled"


def save_page(pdf, fig, name: str) -> list:
    """Check `fig` against its page, warn (PageOverflowWarning) per violation, save it to `pdf` and close it.
    Returns the violations so callers may collect them."""
    found = page_violations(fig)
    for v in found:
        warnings.warn(f"report page '{name}': {v}", PageOverflowWarning, stacklevel=2)
    pdf.savefig(fig)
    plt.close(fig)
    return found


@functools.lru_cache(maxsize=None)
def mono_advance_pt(size_pt: float) -> float:
    """Width of one monospace character in points as the page check measures it: Agg rounds glyph advances to
    whole pixels, so at small sizes a character is wider there than the font's nominal advance."""
    fig = plt.figure()
    probe = fig.text(0, 0, "x" * 100, family="monospace", fontsize=size_pt)
    fig.canvas.draw()
    width_pt = probe.get_window_extent(fig.canvas.get_renderer()).width * 72 / fig.dpi / 100
    plt.close(fig)
    return max(width_pt, MONO_ADVANCE_EM * size_pt)


def mono_chars_per_line(page_width_in: float, size_pt: float) -> int:
    """How many monospace characters of `size_pt` fit between the text-page margins."""
    usable_in = page_width_in * (1 - TEXT_LEFT - TEXT_RIGHT)
    return int(usable_in * 72 / mono_advance_pt(size_pt))


def text_page(pdf, lines, name: str, size=7.5, size_in=A4_PORTRAIT, title=None) -> list:
    """Pages of monospace lines: lines longer than the page allows are wrapped, and a page that would run past the
    bottom margin continues on the next page.  Returns the layout violations found."""
    width = mono_chars_per_line(size_in[0], size)
    wrapped = []
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        wrapped += textwrap.wrap(line, width, subsequent_indent=" " * (indent + 4)) or [""]
    # a long title (e.g. a sweep named by its file path) wraps too; bold 12 pt text runs about a third wider than
    # 12 pt monospace on long paths, hence the margin
    title_lines = (textwrap.wrap(title, int(mono_chars_per_line(size_in[0], 12) * 0.75), break_long_words=True)
                   if title else [])
    title = "\n".join(title_lines)
    top = 0.97 - TITLE_DROP * len(title_lines)
    per_page = int((top - TEXT_BOTTOM) * size_in[1] * 72 / (LINE_SPACING * size))
    found = []
    for first in range(0, max(len(wrapped), 1), per_page):
        fig = plt.figure(figsize=size_in)
        if title:
            fig.text(TEXT_LEFT, 0.97, title + (" (continued)" if first else ""), va="top", fontsize=12,
                     weight="bold")
        fig.text(TEXT_LEFT, top, "\n".join(wrapped[first:first + per_page]), va="top", family="monospace",
                 fontsize=size, linespacing=LINE_SPACING)
        found += save_page(pdf, fig, name)
    return found


def plot_page(nrows=1, ncols=1, size_in=A4_LANDSCAPE, **kw):
    """(figure, 2-D array of axes) on a full page; constrained layout keeps titles, tick labels, colour bars and
    figure legends inside the page and apart from each other."""
    return plt.subplots(nrows, ncols, figsize=size_in, layout="constrained", squeeze=False, **kw)


# Where a point label may go, tried in order: (x, y offset in points, horizontal, vertical alignment).  Near
# spots first; the far ring (with a leader line back to the point) only when every near spot is taken.
LABEL_SPOTS = tuple((dx * r, dy * r, ha, va) for r in (1, 3) for dx, dy, ha, va in (
    (6, 0, "left", "center"), (-6, 0, "right", "center"), (0, 6, "center", "bottom"), (0, -6, "center", "top"),
    (5, 5, "left", "bottom"), (-5, 5, "right", "bottom"), (5, -5, "left", "top"), (-5, -5, "right", "top")))
MARKER_HALF_PX = 5    # room kept clear around every labelled point
LEADER_LINE = dict(arrowstyle="-", lw=0.5, color="0.4", shrinkA=1, shrinkB=MARKER_HALF_PX)


def place_labels(ax, xs, ys, labels, fontsize=8, max_rounds=60) -> list:
    """Label data points so that no label overlaps another label, another point or the axes frame: each label
    takes the first free spot around its point (LABEL_SPOTS); where none is free, overlapping labels are pushed
    apart vertically and a thin leader line keeps them tied to their points.  Freezes the figure's layout first,
    since placing labels must not move the axes."""
    fig = ax.figure
    fig.canvas.draw()
    fig.set_layout_engine("none")
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    marks = [Bbox.from_bounds(px - MARKER_HALF_PX, py - MARKER_HALF_PX, 2 * MARKER_HALF_PX, 2 * MARKER_HALF_PX)
             for px, py in points]
    texts, taken = [], []
    for i, (x, y, lbl) in enumerate(zip(xs, ys, labels)):
        t = ax.annotate(str(lbl), (x, y), xytext=LABEL_SPOTS[0][:2], textcoords="offset points",
                        fontsize=fontsize, arrowprops=LEADER_LINE)
        for dx, dy, ha, va in LABEL_SPOTS:
            t.set(position=(dx, dy), ha=ha, va=va)
            box = t.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(b) for b in taken + marks[:i] + marks[i + 1:]):
                break
        else:
            t.set(position=LABEL_SPOTS[0][:2], ha="left", va="center")
        taken.append(t.get_window_extent(renderer))
        texts.append(t)
    _push_apart(texts, renderer, 72 / fig.dpi, max_rounds)
    return texts


def _push_apart(texts, renderer, pt_per_px, max_rounds):
    for _ in range(max_rounds):
        boxes = [t.get_window_extent(renderer) for t in texts]
        clash = [(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts)) if boxes[i].overlaps(boxes[j])]
        if not clash:
            return
        for i, j in clash:
            lower, upper = (i, j) if boxes[i].y0 + boxes[i].y1 <= boxes[j].y0 + boxes[j].y1 else (j, i)
            push = (boxes[lower].y1 - boxes[upper].y0) / 2 + 1
            for k, sign in ((lower, -1), (upper, 1)):
                x, y = texts[k].get_position()
                texts[k].set_position((x, y + sign * push * pt_per_px))


def overlapping_texts(texts) -> list:
    """Pairs of label strings whose drawn boxes overlap (for checks; empty when all labels stand apart)."""
    if not texts:
        return []
    renderer = texts[0].figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    return [(texts[i].get_text(), texts[j].get_text()) for i in range(len(texts)) for j in range(i + 1, len(texts))
            if boxes[i].overlaps(boxes[j])]
