//! The engines, one module each, and the specification that builds them.
//!
//! Every engine module holds everything about its engine: its `type`, its
//! default categories, its settings (the `[[engines]]` keys it takes, read
//! by serde, so that reading them is checking them) and how it asks its API
//! ([`http::Api`]). What every API engine shares — the outbound stack, the
//! call cap, suspension and readiness — is [`http::ApiEngine`]'s. Adding an
//! engine is one module, one line in the `engines!` list below, its section in
//! `docs/engines.md` and its loopback double (a `case()` in its module, which `trawl_search::doubles`
//! tests).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;

mod document;
pub mod http;
pub mod markup;
mod settings;

pub use document::Fields;

pub use http::{Api, ApiEngine, ApiKey, Call, DEFAULT_CALLS_PER_MINUTE, HttpSettings, USER_AGENT};
pub use settings::{Build, BuildError, EngineSettings};

/// Declares the engine modules and [`EngineSpec`], whose variants are
/// their settings, tagged by `type`.
macro_rules! engines {
    ($( $(#[$doc:meta])* $variant:ident => $module:ident ),* $(,)?) => {
        $( pub mod $module; )*

        /// One engine's `type` and the keys that type takes. Unknown keys
        /// are an error naming the key.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        pub enum EngineSpec {
            /// The local full-text index.
            Local(crate::local::Settings),
            $( $(#[$doc])* $variant($module::Settings), )*
        }

        impl EngineSpec {
            /// Its `type`, e.g. `arxiv`.
            pub fn kind(&self) -> &'static str {
                match self {
                    Self::Local(_) => <crate::local::Settings as EngineSettings>::KIND,
                    $( Self::$variant(_) => <$module::Settings as EngineSettings>::KIND, )*
                }
            }

            /// The categories it is in unless its configuration says
            /// otherwise.
            pub fn categories(&self) -> &'static [&'static str] {
                match self {
                    Self::Local(_) => <crate::local::Settings as EngineSettings>::CATEGORIES,
                    $( Self::$variant(_) => <$module::Settings as EngineSettings>::CATEGORIES, )*
                }
            }

            /// The most calls a minute its API asks for, when it says.
            pub fn polite_calls_per_minute(&self) -> Option<u32> {
                match self {
                    Self::Local(_) => None,
                    $( Self::$variant(_) => <$module::Settings as EngineSettings>::POLITE_CALLS_PER_MINUTE, )*
                }
            }

            /// Builds the engine.
            pub fn build(self, build: &mut Build) -> Result<Arc<dyn Engine>, BuildError> {
                match self {
                    Self::Local(settings) => settings.build(build),
                    $( Self::$variant(settings) => settings.build(build), )*
                }
            }
        }

        /// Every upstream engine's double, in the list's order.
        #[cfg(any(test, feature = "doubles"))]
        pub(crate) fn cases() -> Vec<crate::doubles::Case> {
            vec![$( $module::case(), )*]
        }
    };
}

engines! {
    /// Any MediaWiki's search API.
    Mediawiki => mediawiki,
    /// Google's Custom Search JSON API.
    Google => google,
    /// The Brave Search API.
    Brave => brave,
    /// Hacker News stories, through Algolia.
    Hackernews => hackernews,
    /// A SearXNG instance.
    Searxng => searxng,
    /// A Stack Exchange site.
    Stackexchange => stackexchange,
    /// Any JSON search API, by URL template and JSON pointers.
    Json => json,
    /// arXiv's API (Atom).
    Arxiv => arxiv,
    /// OpenAlex's works.
    Openalex => openalex,
    /// Crossref's works.
    Crossref => crossref,
    /// PubMed, through NCBI's E-utilities.
    Pubmed => pubmed,
    /// GitHub's repository or issue search.
    Github => github,
    /// crates.io, the Rust package registry.
    Crates => crates,
    /// The npm registry.
    Npm => npm,
    /// Open Library's book search.
    Openlibrary => openlibrary,
    /// The Internet Archive's advanced search.
    Archive => archive,
    /// Marginalia Search.
    Marginalia => marginalia,
    /// Mojeek.
    Mojeek => mojeek,
    /// Elasticsearch or OpenSearch.
    Elasticsearch => elasticsearch,
    /// Meilisearch.
    Meilisearch => meilisearch,
    /// Typesense.
    Typesense => typesense,
    /// Apache Solr (edismax).
    Solr => solr,
}
