"""Running batch lines and ingestion on a Ray cluster (the `ray` extra); the embedded default never imports it."""
