"""Immutable on-disk index segments, manifests and snapshots."""
