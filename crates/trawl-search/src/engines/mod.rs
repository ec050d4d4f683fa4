//! Engines that ask upstream search APIs, and what they share.

mod brave;
mod google;
pub mod http;
pub mod markup;
mod mediawiki;

pub use brave::Brave;
pub use google::Google;
pub use http::{HttpSettings, USER_AGENT, Upstream};
pub use mediawiki::MediaWiki;
