//! The `trawl` binary's library half: configuration and the wiring of the
//! services into one process or one role per process. `main.rs` parses the
//! command line and calls in here; the tests build the same
//! [`Application`] on port 0.

pub mod app;
pub mod config;
pub mod demo;
pub mod probe;
pub mod remote;

pub use app::{Application, Role, StartError, open_store, openapi};
pub use config::{Config, ConfigError, Overrides};
