//! arl-log
