"""``scripts/explore``: ``protocols.modelcheck``, plus ``--plant MUTATION``: explore the
code with one rule of ``scripts/mutations`` removed (in memory, this process only), to
see the counterexample the rule prevents."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    plant = None
    if "--plant" in argv:
        i = argv.index("--plant")
        if i + 1 >= len(argv):
            print("scripts/explore: --plant needs a mutation's name (scripts/mutate --list)",
                  file=sys.stderr)
            return 2
        plant = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    from tests.support.planted import mutation, planted

    if plant is not None:
        try:
            mutation(plant)
        except KeyError as e:
            print(f"scripts/explore: {e.args[0]} (scripts/mutate --list)", file=sys.stderr)
            return 2
        print(f"planted: {plant}: {mutation(plant).rule} removed")
    with planted(plant) if plant is not None else nullcontext():
        from protocols.modelcheck import main as cli

        return cli(argv, plant=plant)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
