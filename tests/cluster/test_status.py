"""``cluster status`` draws everything whatever the terminal's width: the details column
wraps (a long value folds) and the membership matrix pages its columns (issue #31: at 80
columns a 16-member matrix lost member 16 and details were cut)."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.measure import Measurement

from cluster.__main__ import status_report
from cluster.membership import MembershipMatrix
from protocols._pb import admin_pb2

MEMBERS = [f"n{i}" for i in range(1, 17)]


def swim_statuses(n: int = 16) -> dict[str, admin_pb2.NodeStatus | None]:
    """What 16 SWIM members answer: a member.<id> detail per member, incarnations up to
    three digits so columns differ in width; n7 does not answer."""
    out: dict[str, admin_pb2.NodeStatus | None] = {}
    for i, node in enumerate(MEMBERS[:n], 1):
        details = {f"member.{m}": f"{('alive', 'suspect', 'dead')[(i + j) % 3]}/{j * 37 % 1000}"
                   for j, m in enumerate(MEMBERS[:n], 1)}
        details["protocol_period"] = str(1000 + i)
        out[node] = admin_pb2.NodeStatus(node_id=node, protocol="swim", role="alive",
                                         epoch=i, pid=4000 + i, details=details)
    out["n7"] = None
    return out


def render(parts: list[object], width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    with console.capture() as captured:
        for part in parts:
            console.print(part)
    return captured.get().splitlines()


@pytest.mark.parametrize("width", [40, 80, 120])
def test_every_member_and_every_belief_is_shown_at_any_width(width: int) -> None:
    statuses = swim_statuses()
    lines = render(status_report("swim", statuses, {"n7": 4007}, everything=False), width)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= width, text
    assert "…" not in text, text
    matrix = MembershipMatrix({n: {k[7:]: v for k, v in st.details.items()
                                   if k.startswith("member.")}
                               for n, st in statuses.items() if st is not None})
    pages = matrix.pages(width)
    assert [i for page in pages for i in page] == list(range(16))  # each member once
    assert len(pages) > 1 if width <= 80 else True
    headers = [line.split() for line in lines if line.strip().startswith("node ")]
    assert len(headers) == len(pages)  # one table per page
    shown = [m for h in headers for m in h[1:]]
    assert shown == [str(i) for i in range(1, 17)], shown
    for node, st in statuses.items():  # every row's every cell, page by page
        if st is None:
            continue
        cells = [w for line in lines if line.split()[:1] == [node] and "/" not in line
                 for w in line.split()[1:]]
        cells = [c for c in cells if c[:1] in "ASD"]
        want = [f"{v.split('/')[0][0].upper()}{v.split('/')[1]}"
                for _, v in sorted(((int(k[8:]), v) for k, v in st.details.items()
                                    if k.startswith("member.")))]
        assert cells == want, (node, cells, want)


def test_the_page_widths_are_what_rich_draws() -> None:
    """``MembershipMatrix.pages`` computes each table's width; rich must agree, or a page
    would be cut again."""
    matrix = MembershipMatrix({n: {k[7:]: v for k, v in st.details.items()
                                   if k.startswith("member.")}
                               for n, st in swim_statuses().items() if st is not None})
    console = Console(width=500)
    for width in (30, 57, 80, 101):
        for page in matrix.pages(width):
            drawn = Measurement.get(console, console.options, matrix.table(page, "")).maximum
            assert drawn <= width or len(page) == 1, (width, page, drawn)
        if width >= 80:  # and a page is not needlessly narrow: the next column did not fit
            first = matrix.pages(width)[0]
            wider = matrix.table([*first, first[-1] + 1], "")
            assert Measurement.get(console, console.options, wider).maximum > width


def test_details_wrap_instead_of_being_cut() -> None:
    long_value = ",".join(f"n{i}" for i in range(1, 60))  # one 200-character token
    st = admin_pb2.NodeStatus(node_id="n1", role="leader", epoch=3, leader_id="n1", pid=9,
                              details={"commit_index": "123456789", "voters": long_value,
                                       "peer.n2.next_index": "77", "peer.n3.next_index": "78"})
    for everything in (False, True):
        lines = render(status_report("raft", {"n1": st}, {}, everything), 80)
        assert max(len(line) for line in lines) <= 80
        column = "".join(line.split("│")[6].strip() for line in lines if line.count("│") == 7)
        assert f"commit_index=123456789voters={long_value}" in column.replace(" ", ""), column
        if everything:
            assert "peer.n2.next_index=77" in column and "peer.n3.next_index=78" in column
        else:
            assert "(+2per-peer:--details)" in column.replace(" ", "")
