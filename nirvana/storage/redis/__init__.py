"""Redis: what several instances share (docs/deployment.md). Never the store of record."""
