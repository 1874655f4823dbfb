"""The replicated log (Raft §5.3): entries indexed from 1, each with its term.

Index 0 is a sentinel with term 0, so ``term_at(prev_log_index)`` works for the first
entry. Log compaction (§7) will move that base forward; everything here already speaks
in absolute indexes.
"""

from __future__ import annotations

from collections.abc import Iterable

from protocols.raft.messages import Entry

__all__ = ["RaftLog"]


class RaftLog:
    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self._entries: list[Entry] = []
        for e in entries:
            self.append(e)

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else 0

    def term_at(self, index: int) -> int:
        """The term of the entry at ``index`` (0 for index 0); IndexError past the end."""
        if index == 0:
            return 0
        if not 0 < index <= len(self._entries):
            raise IndexError(f"no log entry at index {index} (last is {self.last_index})")
        return self._entries[index - 1].term

    def entry(self, index: int) -> Entry:
        return self._entries[index - 1]

    def slice(self, first: int, max_count: int) -> tuple[Entry, ...]:
        """Up to ``max_count`` entries starting at ``first``."""
        return tuple(self._entries[first - 1: first - 1 + max_count])

    def append(self, entry: Entry) -> None:
        if entry.index != self.last_index + 1:
            raise AssertionError(f"append of index {entry.index} after {self.last_index}")
        self._entries.append(entry)

    def truncate_from(self, index: int) -> None:
        """Delete the entry at ``index`` and all that follow it (§5.3, receiver rule 3)."""
        del self._entries[index - 1:]

    def first_index_of_term(self, term: int, at_or_before: int) -> int:
        """The first index of the run of ``term`` that contains ``at_or_before``."""
        index = at_or_before
        while index > 1 and self.term_at(index - 1) == term:
            index -= 1
        return index

    def last_index_of_term(self, term: int) -> int:
        """The last index holding ``term``, or 0 if the log has no entry of that term."""
        for e in reversed(self._entries):
            if e.term == term:
                return e.index
            if e.term < term:
                return 0
        return 0

    def is_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """§5.4.1: a candidate's log is at least as up-to-date as ours if its last term is
        later, or the same with a last index at least as long."""
        if last_log_term != self.last_term:
            return last_log_term > self.last_term
        return last_log_index >= self.last_index

    def entries(self) -> list[Entry]:
        return list(self._entries)
