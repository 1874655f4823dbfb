"""``docs/chapters.md`` is checked: every file, function and test it names exists (a
renamed function fails here), every experiment is one ``scripts/experiment`` knows,
every ``scripts/cluster`` command parses, and all 100 chapters are listed once."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

from cluster.__main__ import parser as cluster_parser
from cluster.experiments import EXPERIMENTS
from protocols.registry import PROTOCOLS, load_sim

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "chapters.md"
ROOTS = ("src/", "cluster/", "tests/", "scripts/", "protos/", "docs/")


@functools.cache
def _tree(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text())


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


def _command_problems(script: str, args: list[str]) -> list[str]:
    """What is wrong with the arguments of a command the page says to run."""
    first = args[0] if args and args[0].islower() and not args[0].startswith("-") else None
    # (an upper-case word is a placeholder: `scripts/experiment NAME`)
    flags = {a.split("=")[0] for a in args if a.startswith("--")}
    match script:
        case "scripts/experiment":
            wrong = [f"no experiment {first!r}"] if first and first != "all" and (
                first not in EXPERIMENTS) else []
            return wrong + [f"no option {f}" for f in sorted(flags - {"--list", "--full",
                                                                       "--out"})]
        case "scripts/cluster":
            bad = _cluster_command_problem(args)
            return [bad] if bad else []
        case "scripts/demo" | "scripts/check-models" if first and first not in PROTOCOLS:
            return [f"no protocol {first!r}"]
        case "scripts/bench" if first and not (ROOT / f"scripts/bench_{first}.py").exists():
            return [f"no benchmark {first!r}"]
        case "scripts/sim":
            return _sim_problems(args)
    return []


def _sim_problems(args: list[str]) -> list[str]:
    given = dict(zip(args[::2], args[1::2], strict=False))
    protocol = given.get("--protocol", "")
    if protocol not in PROTOCOLS:
        return [f"no protocol {protocol!r}"]
    workload = given.get("--workload")
    if workload is not None and workload not in load_sim(protocol).workloads():
        return [f"{protocol} has no workload {workload!r}"]
    return []


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
        if qualname and not _defined(_tree(path), qualname):
            out.append(f"{span}: {path} defines no {qualname}")
        out += [f"{span}: {why}" for why in _command_problems(path, words[1:])]
    for section in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        title = section.splitlines()[0]
        out += [f"{title}: no '- {kind}:' line" for kind in ("Read", "Tests", "Run")
                if f"\n- {kind}: " not in section]
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
    assert "RaftCore._campaign`" in text
    renamed = text.replace("RaftCore._campaign`", "RaftCore.start_election`")
    assert any("defines no RaftCore.start_election" in p for p in problems(renamed))
    gone = text.replace("test_5_2_one_vote_per_term", "test_5_2_two_votes_per_term")
    assert any("test_5_2_two_votes_per_term" in p for p in problems(gone))
    assert any("no experiment" in p for p in problems(text.replace(
        "scripts/experiment split-brain", "scripts/experiment split-brian")))
    for right, wrong, why in (("scripts/demo raft`", "scripts/demo rafft`", "no protocol"),
                              ("scripts/bench kv`", "scripts/bench kvv`", "no benchmark"),
                              ("--protocol raft --seed 7", "--protocol raftt --seed 7",
                               "no protocol"),
                              ("--workload list-append", "--workload list-apend",
                               "no workload"),
                              ("scripts/check-models raft`", "scripts/check-models rafft`",
                               "no protocol"),
                              ("scripts/experiment --list", "scripts/experiment --lisst",
                               "no option"),
                              ("- Run: `scripts/experiment key-movement`", "- Runs:",
                               "no '- Run:' line")):
        assert right in text, right
        assert any(why in p for p in problems(text.replace(right, wrong, 1))), wrong


def test_every_chapter_is_listed_once_and_every_experiment_is_on_the_page() -> None:
    text = PAGE.read_text()
    assert any("missing: [22]" in p for p in problems(text.replace("### 22.", "### 22x")))
    for name in EXPERIMENTS:
        assert f"scripts/experiment {name}`" in text, f"{name} is on no chapter"
