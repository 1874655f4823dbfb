"""pytest plugin for local clusters (fixtures arrive with the runner)."""
