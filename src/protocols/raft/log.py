"""The replicated log (Raft §5.3): entries indexed from 1, each with its term.

Log compaction (§7): after a snapshot, the entries up to ``snapshot_index`` are gone and
the log remembers only the index and term of the last one (Figure 12's "last included
index/term"), so ``term_at(snapshot_index)`` still answers the consistency check for the
next entry. Before any snapshot the base is index 0 with term 0, a sentinel. Everything
here speaks in absolute indexes.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.raft.messages import Entry

__all__ = ["CompactedError", "RaftLog", "entry_bytes"]


def entry_bytes(entries: Iterable[Entry]) -> int:
    """What ``entries`` weigh on the wire and on disk (their commands and a header each)."""
    return sum(24 + len(e.command) for e in entries)


class CompactedError(IndexError):
    """The entry was compacted into a snapshot (§7)."""


class RaftLog:
    def __init__(self, entries: Iterable[Entry] = (), snapshot_index: int = 0,
                 snapshot_term: int = 0) -> None:
        self.snapshot_index = snapshot_index
        self.snapshot_term = snapshot_term
        self._entries: list[Entry] = []
        self.truncations = 0  # bumped whenever entries are removed or replaced (observers)
        for e in entries:
            self.append(e)

    @property
    def last_index(self) -> int:
        return self.snapshot_index + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.snapshot_term

    def __len__(self) -> int:
        """Entries held in memory (those after the snapshot)."""
        return len(self._entries)

    def term_at(self, index: int) -> int:
        """The term of the entry at ``index`` (the snapshot's term at its last included
        index; 0 for index 0); IndexError past the end, CompactedError before the base."""
        if index == self.snapshot_index:
            return self.snapshot_term
        if index < self.snapshot_index:
            raise CompactedError(f"log entry {index} is compacted into the snapshot at "
                                 f"{self.snapshot_index}")
        if index > self.last_index:
            raise IndexError(f"no log entry at index {index} (last is {self.last_index})")
        return self._entries[index - self.snapshot_index - 1].term

    def entry(self, index: int) -> Entry:
        if not self.snapshot_index < index <= self.last_index:
            raise IndexError(f"no log entry at index {index} in memory (snapshot at "
                             f"{self.snapshot_index}, last {self.last_index})")
        return self._entries[index - self.snapshot_index - 1]

    def slice(self, first: int, max_count: int, max_bytes: int = 1 << 62) -> tuple[Entry, ...]:
        """Entries from ``first`` (> snapshot_index): at most ``max_count`` of them and, but
        for the first one, at most ``max_bytes`` of them (``entry_bytes``)."""
        start = first - self.snapshot_index - 1
        if start < 0:
            raise CompactedError(f"entries from {first} are compacted (snapshot at "
                                 f"{self.snapshot_index})")
        out: list[Entry] = []
        size = 0
        for e in self._entries[start: start + max_count]:
            size += 24 + len(e.command)
            if out and size > max_bytes:
                break
            out.append(e)
        return tuple(out)

    def append(self, entry: Entry) -> None:
        if entry.index != self.last_index + 1:
            raise AssertionError(f"append of index {entry.index} after {self.last_index}")
        self._entries.append(entry)

    def truncate_from(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it (§5.3, receiver rule 3)."""
        if index <= self.snapshot_index:
            raise AssertionError(f"truncating at {index} would cut into the snapshot at "
                                 f"{self.snapshot_index}")
        del self._entries[index - self.snapshot_index - 1:]
        self.truncations += 1

    def compact(self, index: int, term: int) -> None:
        """§7: discard entries up through ``index``, now covered by a snapshot."""
        if index <= self.snapshot_index:
            return
        if index <= self.last_index:
            del self._entries[: index - self.snapshot_index]
        else:
            self._entries.clear()
        self.snapshot_index, self.snapshot_term = index, term

    def reset(self, index: int, term: int) -> None:
        """Figure 13 step 7: discard the entire log; it now starts after a snapshot."""
        self._entries.clear()
        self.snapshot_index, self.snapshot_term = index, term
        self.truncations += 1

    def first_index_of_term(self, term: int, at_or_before: int) -> int:
        """The first index of the run of ``term`` that contains ``at_or_before`` (not
        looking into the snapshot: the run may start earlier, which only costs a probe)."""
        index = at_or_before
        while index > self.snapshot_index + 1 and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has no entry of that term."""
        for e in reversed(self._entries):
            if e.term == term:
                return e.index
            if e.term < term:
                return 0
        return self.snapshot_index if self.snapshot_term == term and self.snapshot_index else 0

    def is_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """§5.4.1: a candidate's log is at least as up-to-date as ours if its last term is
        later, or the same with a last index at least as long."""
        if last_log_term != self.last_term:
            return last_log_term > self.last_term
        return last_log_index >= self.last_index

    def entries(self) -> list[Entry]:
        """The entries held (after the snapshot)."""
        return list(self._entries)
