"""SWIM with and without Lifeguard (Das, Gupta & Motivala, "SWIM", DSN 2002; Dadgar,
Phillips & Currey, "Lifeguard: Local Health Awareness for More Accurate Failure
Detection", 2018). Nobody fails; every few seconds a different few members turn slow
(each message they send or receive takes 1-3 s longer: CPU starvation). A slow member
is a bad judge: its probes time out on healthy peers, so it suspects them. Lifeguard
makes it doubt itself (local health), makes suspicion timeouts shrink only as others
confirm, and lets a suspect hear of its suspicion at once (buddy system). Every death
declared is a false positive."""

from __future__ import annotations

from pathlib import Path

from cluster.experiments.base import Experiment, Outcome, Report
from cluster.experiments.charts import bars
from protocols.swim.sim import LIFEGUARD_OFF, false_positives

__all__ = ["LIFEGUARD"]


def run(out: Path, full: bool, say: Report) -> Outcome:
    nodes, seconds, seeds = (32, 90, range(2)) if full else (16, 30, range(1))
    say(f"{nodes} SWIM members for {seconds} s, {len(seeds)} seed(s); nobody fails, but "
        "6 at a time turn slow (1-3 s per message)")
    counts = {}
    for name, options in (("SWIM (Lifeguard off)", LIFEGUARD_OFF), ("SWIM + Lifeguard", {})):
        runs = [false_positives(s, options, nodes=nodes, seconds=seconds) for s in seeds]
        counts[name] = (sum(r.deaths for r in runs), sum(r.suspicions for r in runs))
        say(f"  {name:22} false deaths {counts[name][0]:4}, suspicions "
            f"{counts[name][1]:5}")
    off, on = counts["SWIM (Lifeguard off)"][0], counts["SWIM + Lifeguard"][0]
    files = bars(out / "false-deaths.png", list(counts), [d for d, _ in counts.values()],
                 ylabel="members declared dead", title=f"{nodes} members, nobody failed, "
                 f"{seconds} s with slow members")
    say(f"look at: {files[0] if files else 'the counts above'}; `scripts/sim --protocol swim "
        "--spacetime DIR` draws a run")
    ratio = off / max(on, 1)
    return Outcome(
        f"nobody failed, yet without Lifeguard {off} members were declared dead (slow ones "
        f"and healthy ones their slow judges wrongly accused); with it, {on} ({ratio:.0f}x "
        "fewer; the paper reports about 50x at scale).",
        off >= 3 * max(on, 1) and off > 0, {"false_deaths_off": off, "false_deaths_on": on},
        files)


LIFEGUARD = Experiment(
    "lifeguard", "SWIM with and without Lifeguard under slow members", (35, 36),
    "slow members make bad judges and get suspected themselves; Lifeguard's local health "
    "and suspicion rules cut the false deaths", run)
