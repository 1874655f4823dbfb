"""The experiments' one kind of picture besides the space-time diagram: a bar per case
(matplotlib's Agg backend; none if matplotlib is not installed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["bars"]


def bars(path: Path, labels: Sequence[str], values: Sequence[float], *, ylabel: str,
         title: str, line: tuple[float, str] | None = None) -> list[Path]:
    """A bar per label, optionally a dashed line (``(y, its legend)``); [path] or []."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.bar(list(labels), list(values), color="#4878a8")
    if line is not None:
        ax.axhline(line[0], color="#c44", linestyle="--", label=line[1])
        ax.legend()
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path]
