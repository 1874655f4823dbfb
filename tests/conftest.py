"""Suite-wide options.

* ``--run-slow`` enables the soaks and sweeps marked ``slow``.
* Hypothesis runs *derandomized*: every run of the suite tries the same examples, so
  nothing is random in CI that was not random the run before. To look for new failing
  examples, run ``scripts/test --hypothesis-profile=explore`` (10x the examples, fresh
  randomness, the failure database on); a failure it finds becomes an ``@example``.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None,
                          print_blob=True)
settings.register_profile("explore", max_examples=2000, derandomize=False, print_blob=True)
settings.load_profile("deterministic")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (long soaks, seed sweeps)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with scripts/test --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
