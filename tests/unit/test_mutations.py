"""``scripts/mutate`` stays honest: every mutation still applies to the tree, names
tests that exist, and is listed in its group's table (``docs/<group>-rules.md``); the
slow test runs them all and requires each to be caught by the default suite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from mutate import BEGIN, END, applies  # noqa: E402
from mutations import GROUPS  # noqa: E402

CASES = [(g, m) for g, ms in GROUPS.items() for m in ms]


@pytest.mark.parametrize(("group", "mutation"), CASES, ids=[m.name for _, m in CASES])
def test_the_mutation_applies_once_and_names_real_tests(group: str, mutation: object) -> None:
    from mutations import Mutation

    assert isinstance(mutation, Mutation)
    assert applies(mutation) is None, f"{group}/{mutation.name}: {applies(mutation)}"
    assert mutation.tests, f"{mutation.name} names no test"
    for t in mutation.tests:
        assert (ROOT / t.split("::")[0]).exists(), f"{mutation.name}: no such test path {t}"


def _table(group: str) -> list[str]:
    text = (ROOT / "docs" / f"{group}-rules.md").read_text()
    assert BEGIN in text and END in text, f"docs/{group}-rules.md lacks the table markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return re.findall(r"^\|[^|]*\| `([a-z0-9-]+)` \|", table, flags=re.M)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_group_has_rules_and_its_table_lists_exactly_them(group: str) -> None:
    names = [m.name for m in GROUPS[group]]
    assert names, f"group {group} has no mutations: every rule needs one"
    assert len(set(names)) == len(names), f"duplicate mutation names in {group}"
    assert _table(group) == names, f"docs/{group}-rules.md's table is out of date: run " \
                                   f"scripts/mutate --group {group} --update-docs"


def test_mutation_names_are_unique_across_groups() -> None:
    names = [m.name for _, m in CASES]
    assert len(set(names)) == len(names)


@pytest.mark.slow
def test_every_rule_is_caught_when_removed() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "mutate.py")], cwd=ROOT,
                         capture_output=True, text=True, timeout=7200)
    print(out.stdout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
