//! trawl's local full-text index and the ingestion of documents into it.
//!
//! [`LocalIndex`] wraps a tantivy index on disk: BM25 over title and body
//! (title boosted), English stemming, snippets with the query terms located.
//! Writes go through one [`IndexWriter`] at a time (tantivy's lock enforces it
//! across processes) and become visible only when a whole batch commits, so a
//! search never sees half a batch. [`ingest`] turns JSONL files and folders of
//! HTML, Markdown and text into [`Document`]s.
//!
//! This crate knows nothing of HTTP or of the other services.

mod analysis;
mod document;
mod error;
mod extract;
mod glob;
mod index;
pub mod ingest;
pub mod snapshot;
mod snippets;

pub use document::{Document, DocumentLimits, InvalidDocument, MAX_ID_BYTES};
pub use error::IndexError;
pub use extract::{Extracted, extract_html, extract_html_document, extract_markdown, extract_text};
pub use glob::Glob;
pub use index::{
    CommitSummary, ENGLISH_STOP_WORDS, Filter, Hit, IndexStats, IndexWriter, LocalIndex,
    MAX_SNIPPET_SCAN_BYTES, Ranking, SearchPage, Upserted,
};
pub use ingest::{IngestError, IngestOptions, IngestReport, Progress, Sink};
pub use tantivy::time;

/// Real pages for tests: the first `n` documents of the bundled demo corpus.
#[cfg(test)]
pub(crate) fn demo_pages(n: usize) -> Vec<Document> {
    use std::io::BufRead;
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../demo/trawl-demo.jsonl.gz"
    );
    let file = std::fs::File::open(corpus).expect("the bundled demo corpus");
    std::io::BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .take(n)
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_owned();
            Document::new(s("id"), s("title"), s("url"), s("body"), None).unwrap()
        })
        .collect()
}
