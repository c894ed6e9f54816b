//! arl-accounts
