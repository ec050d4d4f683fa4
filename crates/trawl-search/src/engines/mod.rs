//! Engines that ask upstream search APIs, and what they share.

mod brave;
mod google;
mod hackernews;
pub mod http;
mod json;
pub mod markup;
mod mediawiki;
mod searxng;
mod stackexchange;

pub use brave::Brave;
pub use google::Google;
pub use hackernews::HackerNews;
pub use http::{ApiKey, DEFAULT_CALLS_PER_MINUTE, HttpSettings, USER_AGENT, Upstream};
pub use json::{JsonEngine, JsonEngineError, Pointers};
pub use mediawiki::MediaWiki;
pub use searxng::Searxng;
pub use stackexchange::StackExchange;

#[cfg(test)]
mod testing;
