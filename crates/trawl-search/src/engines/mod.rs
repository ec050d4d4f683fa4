//! Engines that ask upstream search APIs, and what they share.

pub mod http;
pub mod markup;
mod mediawiki;

pub use http::{HttpSettings, USER_AGENT, Upstream};
pub use mediawiki::MediaWiki;
