//! Cross-crate and command-line tests of arl live in `tests/`.
