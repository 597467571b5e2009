//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod daemons;
pub mod fixtures;
pub mod http;
pub mod inprocess;
pub mod lab;
pub mod process;
pub mod webdriver;
