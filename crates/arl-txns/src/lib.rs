//! arl-txns
