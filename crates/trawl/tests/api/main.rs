//! End-to-end tests: the real services on port 0, a real index, real HTTP.
//! One test binary, so the suite links once.

mod bad_input;
mod browser;
mod catalogue;
mod cli;
mod contract;
mod crawling;
mod degradation;
mod demo;
mod deploy;
mod diskfull;
mod durability;
mod engines;
mod escaping;
mod faults;
mod helpers;
mod indexing;
mod limits;
mod modes;
mod observability;
mod options;
mod pages;
mod processes;
mod resilience;
mod results;
mod searxng;
mod secrets;
mod security;
mod snapshots;
mod v2;
