"""Tests of the toy protocol (``tests/toy/protocol``), the example of
docs/adding-a-protocol.md, laid out as every protocol's tests are."""
