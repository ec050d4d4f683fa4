//! Bangs: `!name` in a query asks only the engines it names.
//!
//! A bang is a word of the query starting with `!`. It names an engine by
//! its configured name, a category, or one of the short aliases below,
//! which stand for every configured engine of a kind (`!w` for the
//! MediaWiki engines, `!so` for Stack Exchange …). What names nothing is
//! reported, not silently dropped; the query is searched without it.

use trawl_api::EngineInfo;

/// Short aliases: the bang, and the kind of engine it asks.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("l", "local"),
    ("local", "local"),
    ("w", "mediawiki"),
    ("wiki", "mediawiki"),
    ("so", "stackexchange"),
    ("hn", "hackernews"),
    ("gh", "github"),
    ("arxiv", "arxiv"),
    ("crates", "crates"),
    ("npm", "npm"),
    ("ol", "openlibrary"),
    ("mj", "mojeek"),
    ("br", "brave"),
    ("g", "google"),
    ("m", "marginalia"),
    ("pm", "pubmed"),
    ("cr", "crossref"),
    ("oa", "openalex"),
    ("ia", "archive"),
    ("sx", "searxng"),
    ("es", "elasticsearch"),
    ("solr", "solr"),
    ("ms", "meilisearch"),
    ("ts", "typesense"),
];

/// A query with its bangs taken out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Banged {
    /// The query without its bangs.
    pub query: String,
    /// The engines the bangs name, in the order given, each once.
    pub engines: Vec<String>,
    /// Bangs that name no engine, as typed.
    pub unknown: Vec<String>,
}

/// Takes the bangs out of `query`. A lone `!` or a word such as `!!` is
/// text, not a bang.
pub(crate) fn take(query: &str, engines: &[EngineInfo]) -> Banged {
    let mut banged = Banged::default();
    let mut words: Vec<&str> = Vec::new();
    for word in query.split_whitespace() {
        let Some(name) = word
            .strip_prefix('!')
            .filter(|n| n.chars().next().is_some_and(char::is_alphanumeric))
        else {
            words.push(word);
            continue;
        };
        let named = resolve(&name.to_lowercase(), engines);
        if named.is_empty() && !banged.unknown.iter().any(|u| u == word) {
            banged.unknown.push(word.to_owned());
        }
        for engine in named {
            if !banged.engines.contains(&engine) {
                banged.engines.push(engine);
            }
        }
    }
    banged.query = words.join(" ");
    banged
}

/// The engines a bang's name asks: one by name, else every engine of an
/// alias's kind, else every enabled engine of a category.
fn resolve(name: &str, engines: &[EngineInfo]) -> Vec<String> {
    if let Some(engine) = engines.iter().find(|e| e.name == name) {
        return vec![engine.name.clone()];
    }
    if let Some((_, kind)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
        let of_kind: Vec<String> = engines
            .iter()
            .filter(|e| e.kind == *kind)
            .map(|e| e.name.clone())
            .collect();
        if !of_kind.is_empty() {
            return of_kind;
        }
    }
    engines
        .iter()
        .filter(|e| e.enabled && e.categories.iter().any(|c| c == name))
        .map(|e| e.name.clone())
        .collect()
}

/// Every bang that asks something here, and what it asks: engine names,
/// then aliases of the kinds configured, then categories.
pub(crate) fn table(engines: &[EngineInfo]) -> Vec<(String, String)> {
    let mut table: Vec<(String, String)> = engines
        .iter()
        .map(|e| (e.name.clone(), format!("{} ({})", e.name, e.kind)))
        .collect();
    for (alias, _) in ALIASES {
        if engines.iter().any(|e| e.name == *alias) {
            continue;
        }
        let asks = resolve(alias, engines);
        if !asks.is_empty() {
            table.push(((*alias).to_owned(), asks.join(", ")));
        }
    }
    let mut categories: Vec<&String> = engines.iter().flat_map(|e| &e.categories).collect();
    categories.sort_unstable();
    categories.dedup();
    for category in categories {
        if table.iter().any(|(bang, _)| bang == category) {
            continue;
        }
        let asks = resolve(category, engines);
        if !asks.is_empty() {
            table.push((category.clone(), format!("{} (category)", asks.join(", "))));
        }
    }
    table
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A configured engine, enabled, for tests.
    pub(crate) fn engine(name: &str, kind: &str, categories: &[&str]) -> EngineInfo {
        EngineInfo {
            name: name.into(),
            kind: kind.into(),
            enabled: true,
            suspended: false,
            weight: 1.0,
            timeout_ms: 1000,
            documents: None,
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn bangs_pick_engines_by_name_alias_and_category() {
        let engines = [
            engine("docs", "local", &["general"]),
            engine("wikipedia", "mediawiki", &["general"]),
            engine("se", "stackexchange", &["it"]),
        ];
        let banged = take("vacuum !wikipedia  full", &engines);
        assert_eq!(banged.query, "vacuum full");
        assert_eq!(banged.engines, ["wikipedia"]);
        assert_eq!(take("!W vacuum", &engines).engines, ["wikipedia"]);
        assert_eq!(take("vacuum !local !so", &engines).engines, ["docs", "se"]);
        assert_eq!(take("x !general", &engines).engines, ["docs", "wikipedia"]);
        let unknown = take("x !nope !nope", &engines);
        assert_eq!((unknown.query.as_str(), unknown.unknown.len()), ("x", 1));
        assert!(unknown.engines.is_empty());
        // Not bangs: punctuation.
        let text = take("wow ! !! !?", &engines);
        assert_eq!(text.query, "wow ! !! !?");
        let table = table(&engines);
        assert!(table.iter().any(|(b, a)| b == "w" && a == "wikipedia"));
        assert!(table.iter().any(|(b, a)| b == "it" && a == "se (category)"));
        assert!(!table.iter().any(|(b, _)| b == "hn"));
    }
}
