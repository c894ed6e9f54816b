//! arl-gen
