"""Bundled model files (installed as ``smartframe.models``); see PROVENANCE.md and SHA256SUMS."""
