//! Loom models live in `tests/`; see `tests/loom_*.rs`.
