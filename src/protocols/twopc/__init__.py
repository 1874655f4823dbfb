"""Atomic commitment: two-phase and three-phase commit (issue #34), being built.

``table`` holds the protocol as data: every (state, input) pair of the coordinator and
of a participant, in 2PC and 3PC, with presumed abort or presumed commit.
"""
