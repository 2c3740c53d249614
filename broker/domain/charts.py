"""Charts as inline SVG, drawn on the server (pure functions returning markup).

Pages embed the markup as it is: no script, no font or stylesheet from elsewhere, so a
chart costs no request to any host. Every text that goes into the markup is XML-escaped,
because region and kind names come from configuration. Each chart is one ``role="img"``
element named by its ``<title>``; the page puts the same numbers in a table beside it for
screen readers. Only the data series are drawn as ``<path>`` (one per series), which lets
a reader of the markup count them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import date
from xml.sax.saxutils import escape

# Okabe-Ito colours, told apart by colour-blind readers; after them the dash changes.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
INK, MUTED, GRID = "#1f2433", "#5b6275", "#dfe3ea"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
# Width of one character of the 12 px font, to lay legends out without measuring text.
CHAR_WIDTH = 6.6
LEGEND_ROW = 18
# The words a chart draws besides those it is given; a page passes them in its reader's
# language. SUPPRESSED has the bar's label and min_count filled in.
NO_FIGURES = "No figures for these days"
SUPPRESSED = "{label}: fewer than {min_count}, not shown"


def _text(value: object) -> str:
    return escape(str(value))


def _attr(value: object) -> str:
    return escape(str(value), {'"': "&quot;"})


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(title: str, width: int, height: int, css_class: str) -> list[str]:
    return [
        f'<svg class="{_attr(css_class)}" role="img" aria-label="{_attr(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>',
        f"<title>{_text(title)}</title>",
    ]


def _date_label(day: date, span_days: int) -> str:
    return f"{day:%b %Y}" if span_days > 200 else f"{day.day} {day:%b}"


def _legend(names: Sequence[str], *, left: int, top: int, width: int) -> tuple[list[str], int]:
    """Legend items in rows under the plot; returns the markup and its height."""
    parts: list[str] = []
    x, y = float(left), top
    for index, name in enumerate(names):
        item_width = 30 + len(name) * CHAR_WIDTH + 14
        if x > left and x + item_width > width:
            x, y = left, y + LEGEND_ROW
        colour, dash = _style(index)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{_num(x)}" y1="{y - 4}" x2="{_num(x + 24)}" y2="{y - 4}" '
            f'stroke="{colour}" stroke-width="3"{dash_attr}/>'
            f'<text x="{_num(x + 30)}" y="{y}" fill="{INK}">{_text(name)}</text>'
        )
        x += item_width
    return parts, (y - top + LEGEND_ROW) if names else 0


def _style(index: int) -> tuple[str, str]:
    return PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)]


def line_chart(
    series: dict[str, list[tuple[date, float | None]]],
    *,
    title: str,
    y_label: str,
    width: int = 720,
    height: int = 300,
    legend: bool = True,
    heading: str | None = None,
    no_figures: str = NO_FIGURES,
    date_label: Callable[[date, int], str] | None = None,
) -> str:
    """Shares (0 to 1) over time, one line per series, drawn as percent; a None breaks the
    line (no figure that day), and a point alone between gaps is drawn as a dot. ``title``
    names the chart for assistive technology; ``heading``, when given, is the shorter text
    drawn on it. ``date_label`` words a day on the axis, given the days the axis spans."""
    date_label = date_label or _date_label
    left, right, top, bottom = 56, 16, 30, 30
    plot_right, plot_bottom = width - right, height - bottom
    days = sorted({day for points in series.values() for day, _ in points})
    # The legend goes under the plot, which keeps ``height`` whatever the legend needs.
    legend_parts, legend_height = (
        _legend(list(series), left=left, top=height + 4, width=width) if legend else ([], 0)
    )
    parts = _open(title, width, height + legend_height, "chart line-chart")
    parts.append(
        f'<text x="{left}" y="18" fill="{INK}" font-weight="600">{_text(heading or title)}</text>'
    )
    middle = (top + plot_bottom) / 2
    parts.append(
        f'<text transform="translate(14 {_num(middle)}) rotate(-90)" text-anchor="middle" '
        f'fill="{MUTED}">{_text(y_label)}</text>'
    )
    shares = (0.0, 0.5, 1.0) if plot_bottom - top < 120 else (0.0, 0.25, 0.5, 0.75, 1.0)

    def y_of(value: float) -> float:
        return plot_bottom - min(max(value, 0.0), 1.0) * (plot_bottom - top)

    for share in shares:
        y = y_of(share)
        parts.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{plot_right}" y2="{_num(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED}">'
            f"{round(share * 100)}%</text>"
        )
    if not any(value is not None for points in series.values() for _, value in points):
        parts.append(
            f'<text x="{_num((left + plot_right) / 2)}" y="{_num(middle)}" text-anchor="middle" '
            f'fill="{MUTED}">{_text(no_figures)}</text>'
        )
    first = days[0] if days else date.min
    span = (days[-1] - first).days if days else 0

    def x_of(day: date) -> float:
        if span == 0:
            return (left + plot_right) / 2
        return left + (day - first).days / span * (plot_right - left)

    if days:
        ticks = max(2, min(7, (plot_right - left) // 80))
        chosen = sorted({round(i * span / (ticks - 1)) for i in range(ticks)}) if span else [0]
        for offset in chosen:
            day = date.fromordinal(first.toordinal() + offset)
            x = x_of(day)
            # the last label ends at its tick, so it stays inside the picture
            anchor = "end" if offset == span and span else "middle"
            parts.append(
                f'<line x1="{_num(x)}" y1="{plot_bottom}" x2="{_num(x)}" y2="{plot_bottom + 4}" '
                f'stroke="{MUTED}"/><text x="{_num(x)}" y="{plot_bottom + 17}" '
                f'text-anchor="{anchor}" fill="{MUTED}">{_text(date_label(day, span))}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" '
        f'stroke="{MUTED}"/>'
    )
    for index, (name, points) in enumerate(series.items()):
        colour, dash = _style(index)
        segments: list[list[tuple[float, float]]] = [[]]
        for day, value in sorted(points):
            if value is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x_of(day), y_of(value)))
        drawn = [segment for segment in segments if segment]
        path = " ".join(
            "M" + " L".join(f"{_num(x)} {_num(y)}" for x, y in segment) for segment in drawn
        )
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<path class="series" data-series="{_attr(name)}" d="{path}" fill="none" '
            f'stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash_attr}>'
            f"<title>{_text(name)}</title></path>"
        )
        for segment in drawn:
            if len(segment) == 1:
                x, y = segment[0]
                parts.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2.5" fill="{colour}"/>')
    parts.extend(legend_parts)
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_ceiling(value: float) -> tuple[float, float]:
    """A round top for an axis reaching ``value`` and its tick step (1, 2 or 5 times 10^n)."""
    if value <= 0:
        return 1.0, 1.0
    raw_step = value / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(step, 1.0)
    return math.ceil(value / step) * step, step


def bar_chart(
    bars: list[tuple[str, int | None]],
    *,
    title: str,
    y_label: str,
    width: int = 720,
    height: int = 260,
    min_count: int = 5,
    no_figures: str = NO_FIGURES,
    suppressed: str = SUPPRESSED,
) -> str:
    """Counts as bars. A None is a suppressed count (1 to ``min_count - 1``): drawn as a
    hatched grey block up to that level, labelled "<min_count", never as a number."""
    left, right, top, bottom = 56, 16, 30, 36
    plot_right, plot_bottom = width - right, height - bottom
    hatch = "hatch-" + hashlib.sha256(title.encode()).hexdigest()[:10]
    parts = _open(title, width, height, "chart bar-chart")
    parts.append(
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eceef3"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="#9aa0ad" stroke-width="2"/></pattern></defs>'
    )
    parts.append(f'<text x="{left}" y="18" fill="{INK}" font-weight="600">{_text(title)}</text>')
    middle = (top + plot_bottom) / 2
    parts.append(
        f'<text transform="translate(14 {_num(middle)}) rotate(-90)" text-anchor="middle" '
        f'fill="{MUTED}">{_text(y_label)}</text>'
    )
    known = [value for _, value in bars if value is not None]
    axis_top, step = _nice_ceiling(max([*known, min_count]))

    def y_of(value: float) -> float:
        return plot_bottom - value / axis_top * (plot_bottom - top)

    tick = 0.0
    while tick <= axis_top + 1e-9:
        y = y_of(tick)
        parts.append(
            f'<line x1="{left}" y1="{_num(y)}" x2="{plot_right}" y2="{_num(y)}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED}">'
            f"{_num(tick)}</text>"
        )
        tick += step
    if not bars:
        parts.append(
            f'<text x="{_num((left + plot_right) / 2)}" y="{_num(middle)}" text-anchor="middle" '
            f'fill="{MUTED}">{_text(no_figures)}</text>'
        )
    slot = (plot_right - left) / max(len(bars), 1)
    # Label every bar while the labels fit, else every second, third...
    label_every = max(1, math.ceil(48 / slot))
    for index, (label, value) in enumerate(bars):
        x = left + index * slot + slot * 0.15
        bar_width = slot * 0.7
        centre = x + bar_width / 2
        if value is None:
            y = y_of(min_count - 1)
            shown = f"<{min_count}"
            parts.append(
                f'<rect class="suppressed" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_width)}" '
                f'height="{_num(plot_bottom - y)}" fill="url(#{hatch})" stroke="#9aa0ad" '
                f'stroke-dasharray="3 2">'
                f"<title>{_text(suppressed.format(label=label, min_count=min_count))}</title></rect>"
            )
        else:
            y = y_of(value)
            shown = str(value)
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(bar_width)}" '
                f'height="{_num(plot_bottom - y)}" fill="{PALETTE[0]}">'
                f"<title>{_text(label)}: {value}</title></rect>"
            )
        if slot >= 18:
            parts.append(
                f'<text x="{_num(centre)}" y="{_num(y - 4)}" text-anchor="middle" '
                f'fill="{INK}">{_text(shown)}</text>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{_num(centre)}" y="{plot_bottom + 16}" text-anchor="middle" '
                f'fill="{MUTED}">{_text(label)}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{plot_bottom}" x2="{plot_right}" y2="{plot_bottom}" '
        f'stroke="{MUTED}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _axis_range(lowest: float, highest: float) -> tuple[float, float, float]:
    """A round axis from ``lowest`` to ``highest`` (either may be negative) and its tick
    step (1, 2, 2.5 or 5 times 10^n, so shares get steps of 0.1 or 0.25)."""
    span = highest - lowest
    if span <= 0:
        span = abs(highest) or 1.0
    raw_step = span / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw_step)
    low = math.floor(lowest / step + 1e-9) * step
    high = math.ceil(highest / step - 1e-9) * step
    return low, max(high, low + step), step


def interval_chart(
    bars: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    title: str,
    x_label: str,
    value_text: Callable[[float], str] = _num,
    tick_text: Callable[[float], str] | None = None,
    heading: str | None = None,
    width: int = 720,
    no_figures: str = NO_FIGURES,
) -> str:
    """Means as horizontal bars, each ``(label, mean, low, high)`` with its interval drawn
    as a whisker from ``low`` to ``high`` (None for either: the bar alone; a None mean: no
    bar). Labels sit left of the bars, so long names stay whole. ``value_text`` words the
    figure beside each bar and ``tick_text`` the axis (by default the same), in the reader's
    language. Values may be negative: the axis always holds zero. ``title`` names the chart
    for assistive technology; ``heading``, when given, is the shorter text drawn on it."""
    tick_text = tick_text or value_text
    row, top, bottom, right = 30, 30, 44, 90
    longest = max((len(bar[0]) for bar in bars), default=0)
    left = 12 + min(longest * CHAR_WIDTH + 12, width * 0.4)
    plot_right = width - right
    plot_bottom = top + row * max(len(bars), 1)
    height = plot_bottom + bottom
    values = [value for bar in bars for value in bar[1:] if value is not None]
    axis_low, axis_high, step = _axis_range(min([0.0, *values]), max([0.0, *values]))

    def x_of(value: float) -> float:
        return left + (value - axis_low) / (axis_high - axis_low) * (plot_right - left)

    parts = _open(title, width, height, "chart interval-chart")
    parts.append(
        f'<text x="12" y="18" fill="{INK}" font-weight="600">{_text(heading or title)}</text>'
    )
    ticks = round((axis_high - axis_low) / step)
    for index in range(ticks + 1):
        tick = axis_low + index * step
        x = x_of(tick)
        parts.append(
            f'<line x1="{_num(x)}" y1="{top}" x2="{_num(x)}" y2="{plot_bottom}" stroke="{GRID}"/>'
            f'<text x="{_num(x)}" y="{plot_bottom + 16}" text-anchor="middle" fill="{MUTED}">'
            f"{_text(tick_text(tick))}</text>"
        )
    parts.append(
        f'<text x="{_num((left + plot_right) / 2)}" y="{plot_bottom + 36}" text-anchor="middle" '
        f'fill="{MUTED}">{_text(x_label)}</text>'
    )
    if not values:
        parts.append(
            f'<text x="{_num((left + plot_right) / 2)}" y="{_num((top + plot_bottom) / 2)}" '
            f'text-anchor="middle" fill="{MUTED}">{_text(no_figures)}</text>'
        )
    zero = x_of(0.0)
    for index, (label, mean, low, high) in enumerate(bars):
        middle = top + index * row + row / 2
        parts.append(
            f'<text x="{_num(left - 8)}" y="{_num(middle + 4)}" text-anchor="end" '
            f'fill="{INK}">{_text(label)}</text>'
        )
        if mean is None:
            continue
        end = x_of(mean)
        interval = (
            "" if low is None or high is None else f" ({value_text(low)} \u2013 {value_text(high)})"
        )
        parts.append(
            f'<rect class="bar" x="{_num(min(zero, end))}" y="{_num(middle - row * 0.3)}" '
            f'width="{_num(abs(end - zero))}" height="{_num(row * 0.6)}" fill="{PALETTE[5]}">'
            f"<title>{_text(f'{label}: {value_text(mean)}{interval}')}</title></rect>"
        )
        reach = end
        if low is not None and high is not None:
            x1, x2 = x_of(low), x_of(high)
            reach = max(end, x2)
            # lines, not a path: paths are the data series of the line charts
            ends = "".join(
                f'<line x1="{_num(x)}" y1="{_num(middle - 7)}" x2="{_num(x)}" '
                f'y2="{_num(middle + 7)}"/>'
                for x in (x1, x2)
            )
            parts.append(
                f'<g class="whisker" stroke="{INK}" stroke-width="1.5">'
                f'<line x1="{_num(x1)}" y1="{_num(middle)}" x2="{_num(x2)}" y2="{_num(middle)}"/>'
                f"{ends}</g>"
            )
        parts.append(
            f'<text x="{_num(max(reach, zero) + 6)}" y="{_num(middle + 4)}" fill="{INK}">'
            f"{_text(value_text(mean))}</text>"
        )
    parts.append(
        f'<line x1="{_num(zero)}" y1="{top}" x2="{_num(zero)}" y2="{plot_bottom}" '
        f'stroke="{MUTED}"/>'
    )
    parts.append("</svg>")
    return "\n".join(parts)
