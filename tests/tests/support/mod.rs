//! What the reliability tests share: the binary-driving test kit of the workspace.

#![allow(unused_imports)] // each test file uses a different part

pub use arl_testkit::*;
