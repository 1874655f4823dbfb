"""``docs/chapters.md`` is checked: every file, function and test it names exists (a
renamed function fails here), every experiment is one ``scripts/experiment`` knows,
every ``scripts/cluster`` command parses, and all 100 chapters are listed once."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

from cluster.__main__ import parser as cluster_parser
from cluster.experiments import EXPERIMENTS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "chapters.md"
ROOTS = ("src/", "cluster/", "tests/", "scripts/", "protos/", "docs/")


def _defined(tree: ast.Module, qualname: str) -> bool:
    """Is ``Class.method`` (or ``function``, ``Class``) defined in the module?"""
    scope: list[ast.stmt] = tree.body
    for part in qualname.split("."):
        found = next((n for n in scope if isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part), None)
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def _cluster_command_problem(words: list[str]) -> str | None:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            cluster_parser().parse_args(words)
    except SystemExit:
        return f"scripts/cluster {' '.join(words)}: not a command scripts/cluster takes"
    return None


def problems(text: str) -> list[str]:
    """Every reference of the page that does not resolve, in one line each."""
    out = []
    for span in re.findall(r"`([^`]+)`", text):
        if not span.startswith(ROOTS):
            continue
        words = shlex.split(span)
        path, _, qualname = words[0].partition("::")
        if not (ROOT / path).exists():
            out.append(f"{span}: no file {path}")
            continue
        if qualname and not _defined(ast.parse((ROOT / path).read_text()), qualname):
            out.append(f"{span}: {path} defines no {qualname}")
        named = [w for w in words[1:2] if w.islower() and not w.startswith("-")]
        if path == "scripts/experiment" and named and named[0] not in EXPERIMENTS:
            out.append(f"{span}: no experiment {words[1]!r}")
        if path == "scripts/cluster" and (bad := _cluster_command_problem(words[1:])):
            out.append(bad)
    numbers = [int(n) for n in re.findall(r"^(?:### |\| )(\d+)\. ", text, re.MULTILINE)]
    if sorted(numbers) != list(range(1, 101)):
        twice = sorted({n for n in numbers if numbers.count(n) > 1})
        missing = sorted(set(range(1, 101)) - set(numbers))
        out.append(f"chapters listed twice: {twice}; missing: {missing}")
    return out


def test_every_reference_on_the_chapter_page_resolves() -> None:
    assert problems(PAGE.read_text()) == []


def test_a_renamed_function_or_a_missing_test_is_caught() -> None:
    text = PAGE.read_text()
    assert "RaftCore.campaign`" in text
    renamed = text.replace("RaftCore.campaign`", "RaftCore.start_election`")
    assert any("defines no RaftCore.start_election" in p for p in problems(renamed))
    gone = text.replace("test_5_2_one_vote_per_term", "test_5_2_two_votes_per_term")
    assert any("test_5_2_two_votes_per_term" in p for p in problems(gone))
    assert any("no experiment" in p for p in problems(text.replace(
        "scripts/experiment split-brain", "scripts/experiment split-brian")))


def test_every_chapter_is_listed_once_and_every_experiment_is_on_the_page() -> None:
    text = PAGE.read_text()
    assert any("missing: [22]" in p for p in problems(text.replace("### 22.", "### 22x")))
    for name in EXPERIMENTS:
        assert f"scripts/experiment {name}`" in text, f"{name} is on no chapter"
