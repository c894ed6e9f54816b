//! arl-views
