//! arl-teams
