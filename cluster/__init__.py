"""The local cluster runner: one OS process per node, a Toxiproxy-compatible proxy per
directed link, a nemesis to break it, a CLI (``python -m cluster``) and a pytest plugin."""

from __future__ import annotations

__all__: list[str] = []
