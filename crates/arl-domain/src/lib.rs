//! arl-domain
