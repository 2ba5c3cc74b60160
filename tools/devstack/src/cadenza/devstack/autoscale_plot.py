"""The autoscaling run as an SVG: per scaled Deployment, each trigger's consumer lag (left
axis) and the replicas wanted and ready (right axis) over time. Plain SVG text, so no
plotting library is needed and the file diffs as text."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any, Protocol

WIDTH, PANEL_HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 60, 60, 40, 40
LAG_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")
REPLICAS_COLOUR, READY_COLOUR = "#000000", "#d62728"


class SampleLike(Protocol):
    t_s: float
    lag: dict[str, dict[str, int | None]]
    replicas: dict[str, int]
    ready: dict[str, int]


def _nice_step(span: float, ticks: int) -> float:
    """A round step that divides `span` into at most `ticks` parts."""
    for step in (1, 2, 5, 10, 15, 20, 25, 30, 50, 60, 100, 120, 200, 300, 500, 600, 1200):
        if span / step <= ticks:
            return step
    return span / ticks


def _steps(points: list[tuple[float, float]]) -> str:
    """A step line: each value holds until the next sample."""
    out: list[str] = []
    for i, (x, y) in enumerate(points):
        if i:
            out.append(f"{x:.1f},{points[i - 1][1]:.1f}")
        out.append(f"{x:.1f},{y:.1f}")
    return " ".join(out)


def _panel(
    name: str,
    samples: Sequence[SampleLike],
    rule: dict[str, Any],
    top: float,
    duration: float,
) -> list[str]:
    """One Deployment's panel, `top` pixels down."""
    consumers = [t["consumer"] for t in rule["triggers"]]
    max_lag = max(
        (lag or 0 for s in samples for lag in s.lag[name].values()),
        default=0,
    )
    lag_step = _nice_step(max(max_lag, 1), 5)
    lag_top = lag_step * -(-max(max_lag, 1) // lag_step)
    replica_top = max(int(rule["max_replicas"]), 1)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = PANEL_HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + plot_w * t / duration

    def y_lag(v: float) -> float:
        return top + TOP + plot_h * (1 - v / lag_top)

    def y_rep(v: float) -> float:
        return top + TOP + plot_h * (1 - v / replica_top)

    thresholds = ", ".join(f"{t['consumer']} {t['lag_threshold']}" for t in rule["triggers"])
    svg = [
        f'<text x="{LEFT}" y="{top + 16}" font-size="15" font-weight="bold">{escape(name)}'
        f'</text><text x="{LEFT + 110}" y="{top + 16}" font-size="12">lagThreshold: '
        f"{escape(thresholds)}; replicas {rule['min_replicas']}–{rule['max_replicas']}; "
        f"polling {rule['polling_interval_s']:.0f} s, cooldown "
        f"{rule['cooldown_period_s']:.0f} s</text>",
        f'<rect x="{LEFT}" y="{top + TOP}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#888"/>',
    ]
    for i in range(round(lag_top / lag_step) + 1):
        v = lag_step * i
        svg.append(
            f'<text x="{LEFT - 6}" y="{y_lag(v) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{v:g}</text>'
        )
    svg.extend(
        f'<text x="{WIDTH - RIGHT + 6}" y="{y_rep(v) + 4:.1f}" font-size="11">{v}</text>'
        for v in range(replica_top + 1)
    )
    time_step = _nice_step(duration, 12)
    for i in range(int(duration // time_step) + 1):
        t = time_step * i
        svg.append(
            f'<text x="{x(t):.1f}" y="{top + TOP + plot_h + 15}" font-size="11" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
    svg.append(
        f'<text x="{LEFT - 45}" y="{top + TOP + plot_h / 2}" font-size="11" '
        f'transform="rotate(-90 {LEFT - 45} {top + TOP + plot_h / 2})" '
        'text-anchor="middle">consumer lag (messages)</text>'
        f'<text x="{WIDTH - 20}" y="{top + TOP + plot_h / 2}" font-size="11" '
        f'transform="rotate(90 {WIDTH - 20} {top + TOP + plot_h / 2})" '
        'text-anchor="middle">replicas</text>'
    )
    legend_x = LEFT + 10
    for i, consumer in enumerate(consumers):
        colour = LAG_COLOURS[i % len(LAG_COLOURS)]
        points = " ".join(
            f"{x(s.t_s):.1f},{y_lag(s.lag[name].get(consumer) or 0):.1f}" for s in samples
        )
        svg.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        svg.append(
            f'<text x="{legend_x}" y="{top + TOP - 6}" font-size="11" fill="{colour}">'
            f"lag {escape(consumer)}</text>"
        )
        legend_x += 130
    wanted = _steps([(x(s.t_s), y_rep(s.replicas[name])) for s in samples])
    ready = _steps([(x(s.t_s), y_rep(s.ready[name])) for s in samples])
    svg.append(
        f'<polyline points="{wanted}" fill="none" stroke="{REPLICAS_COLOUR}" stroke-width="2"/>'
        f'<polyline points="{ready}" fill="none" stroke="{READY_COLOUR}" stroke-width="1.5" '
        'stroke-dasharray="5,3"/>'
        f'<text x="{legend_x}" y="{top + TOP - 6}" font-size="11">replicas wanted</text>'
        f'<text x="{legend_x + 110}" y="{top + TOP - 6}" font-size="11" '
        f'fill="{READY_COLOUR}">replicas ready</text>'
    )
    return svg


def write_svg(samples: Sequence[SampleLike], path: Path, *, rules: dict[str, Any]) -> None:
    if not samples:
        raise ValueError("nothing to plot: no samples")
    duration = max(samples[-1].t_s, 1.0)
    names = list(rules)
    height = PANEL_HEIGHT * len(names) + 30
    body: list[str] = []
    for i, name in enumerate(names):
        body += _panel(name, samples, rules[name], i * PANEL_HEIGHT, duration)
    body.append(
        f'<text x="{WIDTH / 2}" y="{height - 8}" font-size="12" text-anchor="middle">'
        "seconds since the burst was submitted</text>"
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">'
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )
