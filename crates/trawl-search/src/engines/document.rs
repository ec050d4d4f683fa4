//! What the search-server engines (Elasticsearch, Meilisearch, Typesense,
//! Solr) share: which of a document's fields are its title, URL and
//! snippet, and how a document and its highlighted fragments become a hit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::text;
use super::markup::text_with_marks;
use crate::engine::{EngineHit, positional_score};

/// Which fields of a document are its title, URL and snippet (`a.b` for a
/// nested field). The snippet field is also the one highlighted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    /// The field holding the title.
    pub title: String,
    /// The field holding the URL.
    pub url: String,
    /// The field holding the snippet (and highlighted).
    pub snippet: String,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            title: "title".to_owned(),
            url: "url".to_owned(),
            snippet: "content".to_owned(),
        }
    }
}

impl Fields {
    /// The fields searched by default: the title, weighted twice, and the
    /// snippet's.
    pub(crate) fn searched(&self) -> Vec<String> {
        vec![format!("{}^2", self.title), self.snippet.clone()]
    }

    /// A document's hit: `None` without a URL. `highlighted` is the
    /// server's marked-up fragment of the snippet field, when it gave one.
    pub(crate) fn hit(
        &self,
        document: &Value,
        highlighted: Option<String>,
        position: usize,
        count: usize,
    ) -> Option<EngineHit> {
        let url = text(field(document, &self.url))?;
        // A stored field: plain text, whatever it looks like.
        let title = text(field(document, &self.title)).unwrap_or_else(|| url.clone());
        let (snippet, highlights) = match highlighted {
            Some(html) => text_with_marks(&html, |tag| matches!(tag, "em" | "mark" | "b")),
            None => {
                let plain = text(field(document, &self.snippet)).unwrap_or_default();
                (plain.chars().take(400).collect(), Vec::new())
            }
        };
        Some(EngineHit {
            title,
            url,
            snippet,
            highlights,
            score: positional_score(position, count),
            published: None,
        })
    }
}

/// A field by name, `a.b` reaching into objects.
pub(crate) fn field<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    name.split('.')
        .try_fold(document, |value, part| value.get(part))
}
