"""``scripts/explore``: ``protocols.modelcheck``, plus ``--plant MUTATION``: explore the
code with one rule of ``scripts/mutations`` removed (in memory, this process only), to
see the counterexample the rule prevents; and ``replay FILE --processes``: the path
forced on gRPC node processes in step mode (``cluster.replay``), which run the planted
code too (a copy of ``src`` with the mutation applied)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

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

        return cli(argv, plant=plant, on_processes=lambda *a: _on_processes(plant, *a))


def _on_processes(plant: str | None, header: dict[str, Any], adapter: Any,
                  moves: list[Any]) -> int:
    from cluster.replay import ReplayDiverged, replay_on_processes
    from tests.support.planted import planted_tree

    tree = Path(tempfile.mkdtemp(prefix="planted-")) if plant else None
    what = f"{header['protocol']}/{header['model']} ({header['size']})"
    print(f"replaying {what} on processes in step mode: {len(moves)} moves"
          + (f", the nodes running the planted code ({plant})" if plant else ""))
    try:
        source = planted_tree(plant, tree) if plant and tree else None
        report = replay_on_processes(header["protocol"], header["model"], header["size"],
                                     adapter, moves, source=source)
    except ReplayDiverged as e:
        print(f"\nthe processes left the model's path: {e}", file=sys.stderr)
        return 3
    finally:
        if tree is not None:
            shutil.rmtree(tree, ignore_errors=True)
    print(f"\n{len(moves)} steps in {report.seconds:.1f} s; the processes were in the "
          "model's state after every step")
    if report.broken is None:
        print("no always-property broke on this path")
        return 0
    print(f"broken on the processes at step {report.broken_at}: {report.broken}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
