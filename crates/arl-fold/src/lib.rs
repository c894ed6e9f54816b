//! arl-fold
