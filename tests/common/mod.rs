//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fixtures;
pub mod inprocess;
pub mod lab;
pub mod process;
