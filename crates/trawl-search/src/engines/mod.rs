//! Engines that ask upstream search APIs, and what they share.

mod brave;
mod google;
mod hackernews;
pub mod http;
pub mod markup;
mod mediawiki;
mod searxng;

pub use brave::Brave;
pub use google::Google;
pub use hackernews::HackerNews;
pub use http::{HttpSettings, USER_AGENT, Upstream};
pub use mediawiki::MediaWiki;
pub use searxng::Searxng;
