"""The benchmarks' figures: one matplotlib setup (the Agg backend: no display needed), one
``--plot``/``--no-plot`` pair, one way to draw grouped bars and a CDF, one save, so that
each bench's ``plot`` function holds only what it draws.

matplotlib is imported on first use (it is in the ``bench`` extras and takes ~0.5 s), so a
bench run with ``--no-plot`` never loads it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parent.parent
DPI = 100
BLUE, RED, GREEN, ORANGE, PURPLE, GREY = ("#4c72b0", "#c44e52", "#55a868", "#dd8452",
                                          "#8172b3", "#7f7f7f")
LIGHT_BLUE, LIGHT_RED = "#a6b8d8", "#e2a7a9"  # a p99 beside its p50
CYCLE = (BLUE, RED, GREEN, ORANGE, PURPLE, GREY)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only: no display, no GUI loop)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure(cols: int, width: float, height: float, rows: int = 1,
           **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of ``rows`` x ``cols`` panels, ``width`` x ``height`` inches; the axes as
    ``plt.subplots`` gives them (one Axes, a row of them, or a grid)."""
    fig, axes = pyplot().subplots(rows, cols, figsize=(width, height), dpi=DPI, **kwargs)
    return fig, axes


def save(fig: Figure, path: Path, dpi: int = DPI) -> int:
    """Lay ``fig`` out, write it to ``path`` as an optimized PNG, close it; its bytes.
    The PNG's text chunks carry the suptitle (Title) and every panel's title and axis
    labels (Description), so the figure says in words what it shows."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    suptitle = fig.get_suptitle()
    fig.savefig(path, dpi=dpi, metadata={"Title": suptitle, "Description": labels(fig)},
                pil_kwargs={"optimize": True})
    pyplot().close(fig)
    return path.stat().st_size


def labels(fig: Figure) -> str:
    """Every panel's title, x label and y label, ' | ' between panels."""
    return " | ".join("; ".join(t for t in (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
                                if t) for ax in fig.axes)


def add_arguments(parser: argparse.ArgumentParser, name: str, what: str) -> None:
    """``--plot PATH`` (default ``docs/img/<name>.png``) and ``--no-plot``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--plot", default=str(ROOT / "docs" / "img" / f"{name}.png"),
                       metavar="PATH",
                       help=f"where the PNG of {what} goes (default docs/img/{name}.png)")
    group.add_argument("--no-plot", action="store_true", help="write no PNG")


def target(args: argparse.Namespace) -> Path | None:
    """The PNG to write, or None (``--no-plot``, or ``--plot ''``)."""
    return None if args.no_plot or not args.plot else Path(args.plot)


def shown(path: Path) -> str:
    """``path`` as the docs name it: relative to the repository when inside it."""
    full = path.resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(path)


def wrote(path: Path, size: int) -> str:
    """The line a bench prints after writing its PNG."""
    return f"plot: {shown(path)} ({size / 1024:.0f} KiB)"


def grouped_bars(ax: Axes, groups: Sequence[str], series: dict[str, Sequence[float]],
                 colors: Sequence[str] = CYCLE, digits: int = 1, fontsize: int = 8) -> None:
    """One bar per series in each group, side by side, each labelled with its value
    (``digits`` after the point); a missing value (NaN) draws no bar."""
    width = 0.8 / len(series)
    xs = range(len(groups))
    for k, (label, values) in enumerate(series.items()):
        offset = (k - (len(series) - 1) / 2) * width
        ax.bar([x + offset for x in xs], values, width=width, label=label,
               color=colors[k % len(colors)])
        for x, v in zip(xs, values, strict=True):
            if v == v:  # not NaN
                ax.text(x + offset, v, f"{v:,.{digits}f}", ha="center", va="bottom",
                        fontsize=fontsize)
    ax.set_xticks(list(xs), list(groups), fontsize=9)
    ax.tick_params(labelsize=8)
    ax.margins(y=0.1)  # room above the tallest bar for its label (bars stick to 0)


def log_ms(ax: Axes) -> None:
    """A log x axis of milliseconds ticked at 1, 2, 5 of each decade, as plain numbers
    (matplotlib's default labels the minor ticks of a short span in 10^x notation, which
    collide)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def cdf(ax: Axes, samples_ms: Sequence[float], label: str, color: str,
        points: int = 2000, **kwargs: Any) -> None:
    """The empirical CDF of ``samples_ms`` as a step line (at most ``points`` steps, taken
    evenly from the sorted samples: the shape without a point per operation)."""
    xs = sorted(samples_ms)
    n = len(xs)
    if n == 0:
        return
    picks = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)}) \
        if n > points else range(n)
    ax.step([xs[i] for i in picks], [(i + 1) / n for i in picks], where="post",
            label=label, color=color, linewidth=1.2, **kwargs)
