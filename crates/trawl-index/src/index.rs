//! The tantivy index: its schema, opening it (for writing, or read-only on
//! a search replica), searching it with snippets, and what it holds.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, QueryParser, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    DateOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};

use tantivy::time::OffsetDateTime;
use tantivy::tokenizer::TokenStream;
use tantivy::{DateTime, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::analysis::MemoStemmer;
use crate::document::Document;
use crate::error::IndexError;
use crate::snippets::Snippeter;

/// Most bytes of a body looked at for its snippet: a hit costs a search at
/// most this much scanning, however long the document (a match further on
/// still ranks the document; its snippet is then the body's start).
pub const MAX_SNIPPET_SCAN_BYTES: usize = 256 * 1024;

/// `text`'s first `limit` bytes at most, cut at a character's boundary.
fn within(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 220;
/// Memory the writer may use before flushing a segment, across its threads.
const WRITER_MEMORY: usize = 128 * 1024 * 1024;
/// Lucene's English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`).
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Longest token the analyzer keeps, in bytes.
const MAX_TERM_BYTES: usize = 40;
/// Most dictionary terms read per segment and start for one suggestion.
const MAX_SUGGEST_TERMS: usize = 4096;
/// Titles read per stem to find how it is written.
const SURFACE_SAMPLES: usize = 4;

/// The first byte string after every string starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xFF: no upper bound short of the longest key.
    vec![u8::MAX; MAX_TERM_BYTES + 1]
}

/// How text is analysed and matches are weighed. [`Ranking::default`] is
/// what trawl ships; `trawl-bench tune` measures the alternatives on
/// SciFact's training queries (see docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranking {
    /// Weight of the title field beside the combined title-and-body field. A
    /// title term counts in both; kept modest, because a short title that
    /// repeats one query term must not outweigh a body that matches them all.
    pub title_boost: f32,
    /// Drop [`ENGLISH_STOP_WORDS`] when indexing and searching.
    pub stop_words: bool,
}

impl Default for Ranking {
    fn default() -> Self {
        Self {
            title_boost: 0.2,
            stop_words: false,
        }
    }
}

impl Ranking {
    /// Name of the analyzer in the schema: words, lower-cased, tokens over
    /// 40 bytes dropped, optionally stop words removed, English (Porter)
    /// stemming.
    fn analyzer_name(self) -> &'static str {
        if self.stop_words {
            "trawl_en_stop"
        } else {
            "trawl_en"
        }
    }

    pub(crate) fn analyzer(self) -> tantivy::tokenizer::TextAnalyzer {
        use tantivy::tokenizer::{
            LowerCaser, RemoveLongFilter, SimpleTokenizer, StopWordFilter, TextAnalyzer,
        };
        let builder = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TERM_BYTES))
            .filter(LowerCaser);
        if self.stop_words {
            let words = ENGLISH_STOP_WORDS
                .iter()
                .map(std::string::ToString::to_string);
            builder
                .filter(StopWordFilter::remove(words))
                .filter(MemoStemmer)
                .build()
        } else {
            builder.filter(MemoStemmer).build()
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    url: Field,
    /// Indexed and stored.
    title: Field,
    /// Stored only: searched through `text`.
    body: Field,
    /// Title and body together, indexed only (Lucene's "flat" layout).
    text: Field,
    published: Field,
}

fn schema(ranking: Ranking) -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let indexed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ranking.analyzer_name())
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        url: builder.add_text_field("url", STORED),
        title: builder.add_text_field("title", indexed.clone().set_stored()),
        body: builder.add_text_field("body", STORED),
        text: builder.add_text_field("text", indexed),
        published: builder.add_date_field("published", DateOptions::from(INDEXED) | STORED),
    };
    (builder.build(), fields)
}

/// The local index: one directory on disk, opened for reading by any number
/// of processes; see [`LocalIndex::writer`] for writing.
pub struct LocalIndex {
    pub(crate) path: PathBuf,
    pub(crate) index: Index,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
    ranking: Ranking,
}

/// Restricts which documents a search may return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only documents published at or after this instant; documents without
    /// a publication date are left out too.
    pub published_since: Option<OffsetDateTime>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    /// Documents matching the query in all.
    pub total: u64,
    /// This page's hits, best first.
    pub hits: Vec<Hit>,
}

/// One document that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its URL.
    pub url: String,
    /// Plain text excerpt of the body around the best match.
    pub snippet: String,
    /// The matched terms in `snippet`, as `[start, end)` character offsets.
    pub highlights: Vec<[usize; 2]>,
    /// tantivy's BM25 score.
    pub score: f32,
    /// When it was published, RFC 3339 in UTC, when the document says.
    pub published: Option<String>,
}

/// What the index holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexStats {
    /// Its directory.
    pub path: PathBuf,
    /// Documents searched.
    pub documents: u64,
    /// Segments on disk.
    pub segments: usize,
    /// Bytes on disk.
    pub size_bytes: u64,
}

impl LocalIndex {
    /// Opens the index in `dir`, creating the directory and an empty index
    /// when there is none.
    pub fn open_or_create(dir: &Path) -> Result<Self, IndexError> {
        Self::open_with(dir, Ranking::default())
    }

    /// [`open_or_create`](Self::open_or_create) with other ranking settings.
    /// The analysis is part of the index: reopening an index with different
    /// stop-word settings fails with [`IndexError::IncompatibleSchema`].
    pub fn open_with(dir: &Path, ranking: Ranking) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        Self::open_inner(dir, ranking, true)
    }

    /// Opens an index that exists, for searching only: nothing is created,
    /// and no writer is taken. Fails with [`IndexError::Missing`] when
    /// there is no index in `dir` yet. Commits made by the index's writer
    /// in another process become visible within about half a second
    /// (tantivy watches `meta.json`).
    pub fn open_read_only(dir: &Path) -> Result<Self, IndexError> {
        if !dir.join("meta.json").is_file() {
            return Err(IndexError::Missing {
                path: dir.to_owned(),
            });
        }
        Self::open_inner(dir, Ranking::default(), false)
    }

    fn open_inner(dir: &Path, ranking: Ranking, create: bool) -> Result<Self, IndexError> {
        let tantivy_err = |source| IndexError::Tantivy {
            path: dir.to_owned(),
            source,
        };
        let (schema, fields) = schema(ranking);
        let directory =
            MmapDirectory::open(dir).map_err(|e| tantivy_err(tantivy::TantivyError::from(e)))?;
        let opened = if create {
            Index::open_or_create(directory, schema)
        } else {
            Index::open(directory).and_then(|index| {
                if index.schema() == schema {
                    Ok(index)
                } else {
                    Err(tantivy::TantivyError::SchemaError(
                        "the index was made with other fields".to_owned(),
                    ))
                }
            })
        };
        let index = match opened {
            Ok(index) => index,
            Err(tantivy::TantivyError::SchemaError(_)) => {
                return Err(IndexError::IncompatibleSchema {
                    path: dir.to_owned(),
                });
            }
            Err(e) => return Err(tantivy_err(e)),
        };
        index
            .tokenizers()
            .register(ranking.analyzer_name(), ranking.analyzer());
        // Picks up commits made by other processes (the indexer, or
        // `trawl index add`, while `trawl serve --role search` runs); our own
        // commits reload explicitly.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(tantivy_err)?;
        let mut parser = QueryParser::for_index(&index, vec![fields.text, fields.title]);
        parser.set_field_boost(fields.title, ranking.title_boost);
        Ok(Self {
            path: dir.to_owned(),
            index,
            reader,
            fields,
            parser,
            ranking,
        })
    }

    /// The index's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: tantivy::TantivyError) -> IndexError {
        IndexError::Tantivy {
            path: self.path.clone(),
            source,
        }
    }

    /// Documents visible to searches now.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Searches title and body. Query syntax (phrases in quotes, `+` and `-`)
    /// is honoured where it parses and read as plain words where it does not:
    /// user input never makes a search fail.
    pub fn search(
        &self,
        query: &str,
        offset: usize,
        limit: usize,
    ) -> Result<SearchPage, IndexError> {
        self.search_filtered(query, &Filter::default(), offset, limit)
    }

    /// [`search`](Self::search) among the documents `filter` admits, with
    /// the same scores.
    pub fn search_filtered(
        &self,
        query: &str,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> Result<SearchPage, IndexError> {
        let searcher = self.reader.searcher();
        let text_query = self.parse(query);
        let filtered: Option<BooleanQuery> = filter.published_since.map(|since| {
            let range = RangeQuery::new(
                Bound::Included(Term::from_field_date_for_search(
                    self.fields.published,
                    DateTime::from_utc(since),
                )),
                Bound::Unbounded,
            );
            // The range only filters: its clause adds nothing to the score.
            BooleanQuery::new(vec![
                (Occur::Must, text_query.box_clone()),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(range), 0.0)),
                ),
            ])
        });
        let query: &dyn Query = match &filtered {
            Some(filtered) => filtered,
            None => &*text_query,
        };
        if limit == 0 {
            let total = searcher.search(query, &Count).map_err(|e| self.err(e))?;
            return Ok(SearchPage {
                total: total as u64,
                hits: vec![],
            });
        }
        let collector = (
            TopDocs::with_limit(limit)
                .and_offset(offset)
                .order_by_score(),
            Count,
        );
        let (top, total) = searcher
            .search(query, &collector)
            .map_err(|e| self.err(e))?;
        // Terms are looked up in `text`; the excerpt is cut from the stored body.
        let mut snippets = Snippeter::new(
            &searcher,
            &*text_query,
            self.fields.text,
            self.ranking,
            SNIPPET_CHARS,
        )
        .map_err(|e| self.err(e))?;
        let hits = top
            .into_iter()
            .map(|(score, address)| {
                let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
                let body = text(&doc, self.fields.body);
                // The passage is looked for in the body's start only: what
                // one hit costs a search is bounded, whatever its length.
                let scanned = within(body, MAX_SNIPPET_SCAN_BYTES);
                let (snippet, highlights) = snippets
                    .snippet(scanned)
                    .unwrap_or_else(|| (lead(body, SNIPPET_CHARS), vec![]));
                let url = text(&doc, self.fields.url).to_owned();
                let title = match text(&doc, self.fields.title).trim() {
                    "" => url.clone(),
                    title => title.to_owned(),
                };
                Ok(Hit {
                    id: text(&doc, self.fields.id).to_owned(),
                    title,
                    url,
                    snippet,
                    highlights,
                    score,
                    published: self.published(&doc),
                })
            })
            .collect::<Result<_, IndexError>>()?;
        Ok(SearchPage {
            total: total as u64,
            hits,
        })
    }

    /// The ids and scores of the best `limit` documents, ranked exactly as
    /// [`search`](Self::search) ranks them, without building snippets: what
    /// retrieval evaluation needs.
    pub fn rank_ids(&self, query: &str, limit: usize) -> Result<Vec<(String, f32)>, IndexError> {
        let searcher = self.reader.searcher();
        let query = self.parse(query);
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(|e| self.err(e))?;
        top.into_iter()
            .map(|(score, address)| {
                let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
                Ok((text(&doc, self.fields.id).to_owned(), score))
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn snippet_parts(&self) -> (tantivy::Searcher, Field, Field) {
        (self.reader.searcher(), self.fields.text, self.fields.body)
    }

    #[cfg(test)]
    pub(crate) fn parse_for_tests(&self, query: &str) -> Box<dyn tantivy::query::Query> {
        self.parse(query)
    }

    fn parse(&self, query: &str) -> Box<dyn Query> {
        let (query, _lenient_errors) = self.parser.parse_query_lenient(query);
        flatten(query)
    }

    /// What the index holds now.
    pub fn stats(&self) -> Result<IndexStats, IndexError> {
        let mut stats = self.stats_without_size()?;
        stats.size_bytes = walk_size(&self.path);
        Ok(stats)
    }

    /// What the index holds now, without walking its directory for its
    /// size (`size_bytes` is 0): cheap enough for every metrics scrape.
    pub fn stats_without_size(&self) -> Result<IndexStats, IndexError> {
        let searcher = self.reader.searcher();
        Ok(IndexStats {
            path: self.path.clone(),
            documents: searcher.num_docs(),
            segments: searcher.segment_readers().len(),
            size_bytes: 0,
        })
    }

    /// How long ago the last commit was written (its `meta.json`'s
    /// modification time); `None` where the filesystem does not say.
    pub fn last_commit_age(&self) -> Option<std::time::Duration> {
        let modified = std::fs::metadata(self.path.join("meta.json"))
            .and_then(|m| m.modified())
            .ok()?;
        Some(modified.elapsed().unwrap_or_default())
    }

    /// Words of titles that start with `prefix` (compared lower-cased), the
    /// words found in the most titles first, at most `limit` of them.
    ///
    /// Read from the title field's term dictionary: terms are stems, so the
    /// dictionary is read from the prefix and from the prefix's own stem
    /// ("happy" is stored as "happi"), the most frequent stems kept, and
    /// each stem's word as written taken from one title holding it. A
    /// prefix longer than the analyzer keeps (40 bytes) or empty finds
    /// nothing.
    pub fn suggest_words(&self, prefix: &str, limit: usize) -> Result<Vec<String>, IndexError> {
        let prefix = prefix.trim().to_lowercase();
        if prefix.is_empty() || prefix.len() > MAX_TERM_BYTES || limit == 0 {
            return Ok(Vec::new());
        }
        let mut analyzer = self.ranking.analyzer();
        let stem = {
            let mut tokens = analyzer.token_stream(&prefix);
            tokens.advance().then(|| tokens.token().text.clone())
        };
        let mut starts = vec![prefix.clone()];
        starts.extend(stem.filter(|s| !s.is_empty() && *s != prefix));
        let searcher = self.reader.searcher();
        // Stems by the number of titles holding them, over every segment.
        let mut counts: std::collections::HashMap<Vec<u8>, u64> = std::collections::HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment
                .inverted_index(self.fields.title)
                .map_err(|e| self.err(e))?;
            for start in &starts {
                let mut stream = inverted
                    .terms()
                    .range()
                    .ge(start.as_bytes())
                    .lt(prefix_end(start.as_bytes()))
                    .into_stream()
                    .map_err(|e| self.err(e.into()))?;
                let mut scanned = 0;
                while scanned < MAX_SUGGEST_TERMS && stream.advance() {
                    scanned += 1;
                    *counts.entry(stream.key().to_vec()).or_default() +=
                        u64::from(stream.value().doc_freq);
                }
            }
            // Stems shorter than what was typed ("concurrentl" is a word
            // stored as "concurr"): the prefix's own prefixes, looked up.
            for (end, _) in prefix.char_indices().skip(2) {
                let shorter = &prefix.as_bytes()[..end];
                if let Some(info) = inverted
                    .terms()
                    .get(shorter)
                    .map_err(|e| self.err(e.into()))?
                {
                    *counts.entry(shorter.to_vec()).or_default() += u64::from(info.doc_freq);
                }
            }
        }
        let mut stems: Vec<(Vec<u8>, u64)> = counts.into_iter().collect();
        stems.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut words: Vec<String> = Vec::with_capacity(limit);
        for (stem, _) in stems.into_iter().take(limit * 2) {
            let Ok(stem) = String::from_utf8(stem) else {
                continue;
            };
            for word in self.written_as(&searcher, &mut analyzer, &stem, &prefix)? {
                if words.len() == limit {
                    return Ok(words);
                }
                if !words.contains(&word) {
                    words.push(word);
                }
            }
        }
        Ok(words)
    }

    /// How `stem` is written (lower-cased) in the first few titles holding
    /// it, the words that start with `prefix`, the most common first.
    fn written_as(
        &self,
        searcher: &tantivy::Searcher,
        analyzer: &mut tantivy::tokenizer::TextAnalyzer,
        stem: &str,
        prefix: &str,
    ) -> Result<Vec<String>, IndexError> {
        let term = Term::from_field_text(self.fields.title, stem);
        let mut seen: Vec<(String, u32)> = Vec::new();
        let mut read = 0;
        for (ordinal, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment
                .inverted_index(self.fields.title)
                .map_err(|e| self.err(e))?;
            let Some(mut postings) = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|e| self.err(e.into()))?
            else {
                continue;
            };
            let alive = segment.alive_bitset();
            let mut doc = tantivy::DocSet::doc(&postings);
            while doc != tantivy::TERMINATED && read < SURFACE_SAMPLES {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    read += 1;
                    let stored: TantivyDocument = searcher
                        .doc(tantivy::DocAddress::new(ordinal as u32, doc))
                        .map_err(|e| self.err(e))?;
                    let title = stored
                        .get_first(self.fields.title)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    let mut tokens = analyzer.token_stream(title);
                    while tokens.advance() {
                        let token = tokens.token();
                        if token.text != stem {
                            continue;
                        }
                        let word = title[token.offset_from..token.offset_to].to_lowercase();
                        if word.starts_with(prefix) {
                            match seen.iter_mut().find(|(w, _)| *w == word) {
                                Some((_, n)) => *n += 1,
                                None => seen.push((word, 1)),
                            }
                        }
                        break;
                    }
                }
                doc = tantivy::DocSet::advance(&mut postings);
            }
        }
        seen.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(seen.into_iter().map(|(word, _)| word).collect())
    }

    /// Whether a document with this id is visible now.
    pub fn contains(&self, id: &str) -> Result<bool, IndexError> {
        let query = TermQuery::new(
            Term::from_field_text(self.fields.id, id),
            IndexRecordOption::Basic,
        );
        let count = self
            .reader
            .searcher()
            .search(&query, &Count)
            .map_err(|e| self.err(e))?;
        Ok(count > 0)
    }

    /// Every document, in id order.
    pub fn documents(&self) -> Result<Vec<Document>, IndexError> {
        let searcher = self.reader.searcher();
        let addresses = searcher
            .search(&AllQuery, &DocSetCollector)
            .map_err(|e| self.err(e))?;
        let mut docs = addresses
            .into_iter()
            .map(|address| {
                let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
                Ok(self.to_document(&doc))
            })
            .collect::<Result<Vec<_>, IndexError>>()?;
        docs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(docs)
    }

    fn to_document(&self, doc: &TantivyDocument) -> Document {
        Document {
            id: text(doc, self.fields.id).to_owned(),
            title: text(doc, self.fields.title).to_owned(),
            url: text(doc, self.fields.url).to_owned(),
            body: text(doc, self.fields.body).to_owned(),
            published: self.published(doc),
        }
    }

    /// A stored document's publication date, RFC 3339 in UTC.
    fn published(&self, doc: &TantivyDocument) -> Option<String> {
        doc.get_first(self.fields.published)
            .and_then(|v| v.as_datetime())
            .and_then(|d| {
                d.into_utc()
                    .format(&tantivy::time::format_description::well_known::Rfc3339)
                    .ok()
            })
    }

    /// Takes the index's single writer. Fails with [`IndexError::Locked`] when
    /// another writer, in this process or another, holds it.
    pub fn writer(&self) -> Result<IndexWriter<'_>, IndexError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZero::get)
            .min(4);
        let inner = self
            .index
            .writer_with_num_threads(threads, WRITER_MEMORY)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => IndexError::Locked {
                    path: self.path.clone(),
                },
                e => self.err(e),
            })?;
        Ok(IndexWriter {
            index: self,
            inner,
            committed: self.reader.searcher(),
            pending_ids: HashSet::new(),
            removed_ids: HashSet::new(),
        })
    }
}

/// A batch of changes. Nothing is visible to searches until [`commit`]
/// succeeds; dropping the writer without committing discards the batch.
/// The writer holds the index's lock until it is dropped, across commits.
///
/// [`commit`]: IndexWriter::commit
pub struct IndexWriter<'a> {
    index: &'a LocalIndex,
    inner: tantivy::IndexWriter,
    /// The index as of the last commit: whether an id is there already.
    committed: tantivy::Searcher,
    pending_ids: HashSet<String>,
    /// Ids removed in this batch (the last commit may still hold them).
    removed_ids: HashSet<String>,
}

/// What a committed batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitSummary {
    /// Distinct document ids added or replaced.
    pub upserted: u64,
}

/// What [`IndexWriter::upsert`] did with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// Its id was new.
    Added,
    /// It replaces a document with the same id (committed, or earlier in
    /// this batch).
    Replaced,
}

impl IndexWriter<'_> {
    /// Adds a document, replacing any with the same id (including one added
    /// earlier in this batch).
    pub fn upsert(&mut self, doc: Document) -> Result<Upserted, IndexError> {
        let fields = self.index.fields;
        let existed = self.pending_ids.contains(&doc.id)
            || (!self.removed_ids.remove(&doc.id) && self.committed_has(&doc.id)?);
        self.inner
            .delete_term(Term::from_field_text(fields.id, &doc.id));
        let mut tdoc = TantivyDocument::default();
        tdoc.add_text(fields.id, &doc.id);
        tdoc.add_text(fields.url, &doc.url);
        tdoc.add_text(fields.title, &doc.title);
        tdoc.add_text(fields.body, &doc.body);
        tdoc.add_text(fields.text, &doc.title);
        tdoc.add_text(fields.text, &doc.body);
        if let Some(published) = doc.published_datetime() {
            tdoc.add_date(fields.published, DateTime::from_utc(published));
        }
        self.inner
            .add_document(tdoc)
            .map_err(|e| self.index.err(e))?;
        self.pending_ids.insert(doc.id);
        Ok(if existed {
            Upserted::Replaced
        } else {
            Upserted::Added
        })
    }

    /// Removes the document with this id; whether there was one (committed,
    /// or added earlier in this batch).
    pub fn remove(&mut self, id: &str) -> Result<bool, IndexError> {
        let existed = self.pending_ids.remove(id)
            || (!self.removed_ids.contains(id) && self.committed_has(id)?);
        self.removed_ids.insert(id.to_owned());
        self.inner
            .delete_term(Term::from_field_text(self.index.fields.id, id));
        Ok(existed)
    }

    /// Whether the last commit holds a document with this id.
    fn committed_has(&self, id: &str) -> Result<bool, IndexError> {
        let term = Term::from_field_text(self.index.fields.id, id);
        for segment in self.committed.segment_readers() {
            let postings = segment
                .inverted_index(self.index.fields.id)
                .map_err(|e| self.index.err(e))?
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|e| self.index.err(e.into()))?;
            if let Some(mut postings) = postings {
                use tantivy::DocSet;
                let mut doc = postings.doc();
                while doc != tantivy::TERMINATED {
                    if !segment.is_deleted(doc) {
                        return Ok(true);
                    }
                    doc = postings.advance();
                }
            }
        }
        Ok(false)
    }

    /// Distinct ids added so far in this batch.
    pub fn pending(&self) -> u64 {
        self.pending_ids.len() as u64
    }

    /// Makes the whole batch visible at once, and to this process's searches
    /// immediately. The writer stays usable for the next batch.
    pub fn commit(&mut self) -> Result<CommitSummary, IndexError> {
        let index = self.index;
        self.inner.commit().map_err(|e| index.err(e))?;
        index.reader.reload().map_err(|e| index.err(e))?;
        self.committed = index.reader.searcher();
        let upserted = self.pending_ids.len() as u64;
        self.pending_ids.clear();
        self.removed_ids.clear();
        Ok(CommitSummary { upserted })
    }

    /// Waits for the segment merges that commits started, then lets the
    /// lock go: what a one-off writer (`trawl index add`) does last, so the
    /// index it leaves has few segments. Uncommitted changes are discarded.
    pub fn finish(self) -> Result<(), IndexError> {
        let index = self.index;
        self.inner.wait_merging_threads().map_err(|e| index.err(e))
    }

    /// Discards everything since the last commit.
    pub fn rollback(&mut self) -> Result<(), IndexError> {
        self.inner.rollback().map_err(|e| self.index.err(e))?;
        self.pending_ids.clear();
        self.removed_ids.clear();
        Ok(())
    }
}

/// Rewrites a tree of `Should`-only boolean queries over single terms — what
/// the parser builds for plain words searched in two fields — as one flat
/// boolean query. A nested sum equals the flat sum, so every score is
/// unchanged; but a flat union of term queries lets tantivy skip whole blocks
/// of documents that cannot reach the top (block-max WAND), which on 100,000
/// reviews made common-word queries several times cheaper. Anything else
/// (phrases, `+`/`-`, …) is left as parsed.
fn flatten(query: Box<dyn Query>) -> Box<dyn Query> {
    fn collect(query: &dyn Query, leaves: &mut Vec<Box<dyn Query>>) -> bool {
        if let Some(boolean) = query.downcast_ref::<BooleanQuery>() {
            return boolean.clauses().iter().all(|(occur, clause)| {
                *occur == Occur::Should && collect(clause.as_ref(), leaves)
            });
        }
        let single_term = query.is::<TermQuery>()
            || (query.is::<BoostQuery>() && {
                let (mut terms, mut positional) = (0, false);
                query.query_terms(&mut |_, needs_positions| {
                    terms += 1;
                    positional |= needs_positions;
                });
                terms == 1 && !positional
            });
        if single_term {
            leaves.push(query.box_clone());
        }
        single_term
    }
    let mut leaves = Vec::new();
    if query.is::<BooleanQuery>() && collect(query.as_ref(), &mut leaves) && !leaves.is_empty() {
        Box::new(BooleanQuery::new(
            leaves
                .into_iter()
                .map(|leaf| (Occur::Should, leaf))
                .collect(),
        ))
    } else {
        query
    }
}

fn text(doc: &TantivyDocument, field: Field) -> &str {
    doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("")
}

/// The start of `body`, cut at a word boundary.
fn lead(body: &str, max_chars: usize) -> String {
    let body = body.trim();
    match body.char_indices().nth(max_chars) {
        None => body.to_owned(),
        Some((cut, _)) => {
            let head = &body[..cut];
            let head = head
                .rfind(char::is_whitespace)
                .map_or(head, |space| &head[..space]);
            format!("{}…", head.trim_end())
        }
    }
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|meta| meta.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, title: &str, body: &str) -> Document {
        Document::new(
            id.into(),
            title.into(),
            format!("https://example.org/{id}"),
            body.into(),
            None,
        )
        .unwrap()
    }

    fn ids(page: &SearchPage) -> Vec<&str> {
        page.hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn suggestions_are_title_words_as_written_most_common_first() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        for (id, title) in [
            ("a", "Creating indexes CONCURRENTLY"),
            ("b", "Concurrency in Rust"),
            ("c", "Fearless concurrency"),
            ("d", "Happy paths"),
            ("e", "Concurrent hash maps"),
            ("f", "Concurrency, gone"),
        ] {
            writer.upsert(doc(id, title, "body text")).unwrap();
        }
        writer.commit().unwrap();
        writer.remove("f").unwrap();
        writer.commit().unwrap();
        writer.finish().unwrap();
        // "concurr" is the stem of all three words: the most common as
        // written first. The body is not read.
        let words = index.suggest_words("Conc", 5).unwrap();
        assert_eq!(words, ["concurrency", "concurrent", "concurrently"]);
        assert_eq!(
            index.suggest_words("concurrentl", 5).unwrap(),
            ["concurrently"]
        );
        // Stored as "happi": found through the prefix's own stem.
        assert_eq!(index.suggest_words("happy", 5).unwrap(), ["happy"]);
        assert_eq!(index.suggest_words("hap", 5).unwrap(), ["happy"]);
        // "indexes" is stored as "index"; the word is as written.
        assert_eq!(index.suggest_words("inde", 5).unwrap(), ["indexes"]);
        assert_eq!(index.suggest_words("r", 5).unwrap(), ["rust"]);
        assert!(index.suggest_words("body", 5).unwrap().is_empty());
        assert!(index.suggest_words("", 5).unwrap().is_empty());
        assert!(index.suggest_words("zzz", 5).unwrap().is_empty());
        assert!(index.suggest_words(&"x".repeat(41), 5).unwrap().is_empty());
        // A word of a removed document only is not suggested.
        assert!(index.suggest_words("gon", 5).unwrap().is_empty());
        let several = index.suggest_words("c", 5).unwrap();
        assert_eq!(several[0], "concurrency", "{several:?}");
        assert!(several.contains(&"creating".to_owned()), "{several:?}");
        assert_eq!(index.suggest_words("c", 1).unwrap().len(), 1);
    }

    #[test]
    fn a_long_body_is_scanned_for_its_snippet_only_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        // The only match lies past the bound: the document is found, and
        // its snippet is its start, not the passage 3 MB in.
        let body = format!("{} wombat at last", "filler words here ".repeat(180_000));
        assert!(body.len() > 3 * 1024 * 1024);
        writer.upsert(doc("long", "Long", &body)).unwrap();
        writer
            .upsert(doc("short", "Short", "a wombat early"))
            .unwrap();
        writer.commit().unwrap();
        let page = index.search("wombat", 0, 10).unwrap();
        assert_eq!(page.hits.len(), 2);
        let long = page.hits.iter().find(|h| h.id == "long").unwrap();
        assert!(long.snippet.starts_with("filler words"), "{}", long.snippet);
        assert!(long.highlights.is_empty());
        let short = page.hits.iter().find(|h| h.id == "short").unwrap();
        assert_eq!(short.highlights.len(), 1);
    }

    #[test]
    fn upsert_replaces_search_stems_and_title_counts_more() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        writer
            .upsert(doc("a", "Indexes", "how tables are stored"))
            .unwrap();
        writer
            .upsert(doc("b", "Tables", "creating indexes concurrently"))
            .unwrap();
        writer
            .upsert(doc("c", "Unrelated", "nothing to see"))
            .unwrap();
        writer
            .upsert(doc("c", "Replaced", "now about an index"))
            .unwrap();
        assert_eq!(index.num_docs(), 0, "nothing visible before commit");
        assert_eq!(writer.commit().unwrap().upserted, 3);
        assert_eq!(index.num_docs(), 3);

        let page = index.search("index", 0, 10).unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(ids(&page)[0], "a", "title match first");
        let b = page.hits.iter().find(|h| h.id == "b").unwrap();
        let [start, end] = b.highlights[0];
        let marked: String = b.snippet.chars().skip(start).take(end - start).collect();
        assert_eq!(
            marked, "indexes",
            "stemmed match located in {:?}",
            b.snippet
        );
        assert_eq!(index.documents().unwrap()[2].title, "Replaced");
    }

    #[test]
    fn paging_offsets_and_hostile_query_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        for i in 0..25 {
            writer
                .upsert(doc(&format!("{i:02}"), "page", &"word ".repeat(i + 1)))
                .unwrap();
        }
        writer.commit().unwrap();
        let first = index.search("word", 0, 10).unwrap();
        let third = index.search("word", 20, 10).unwrap();
        assert_eq!(
            (first.total, first.hits.len(), third.hits.len()),
            (25, 10, 5)
        );
        assert!(ids(&first).iter().all(|id| !ids(&third).contains(id)));
        for hostile in [
            "\"unbalanced",
            "title:",
            "a AND OR",
            "(((",
            "*",
            "id:[a TO",
            "-",
            "\\",
        ] {
            index
                .search(hostile, 0, 10)
                .unwrap_or_else(|e| panic!("{hostile:?}: {e}"));
        }
    }

    #[test]
    fn a_publication_filter_keeps_dated_documents_since_the_instant_with_their_scores() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        let dated = |id: &str, body: &str, published: Option<&str>| {
            Document::new(
                id.into(),
                id.into(),
                format!("https://example.org/{id}"),
                body.into(),
                published,
            )
            .unwrap()
        };
        writer
            .upsert(dated("old", "vacuum vacuum", Some("2020-01-01")))
            .unwrap();
        writer
            .upsert(dated("new", "vacuum", Some("2026-11-20T08:00:00Z")))
            .unwrap();
        writer
            .upsert(dated("edge", "vacuum analyze", Some("2026-11-01")))
            .unwrap();
        writer.upsert(dated("undated", "vacuum", None)).unwrap();
        writer.commit().unwrap();
        let since = |date: &str| Filter {
            published_since: Some(
                OffsetDateTime::parse(
                    date,
                    &tantivy::time::format_description::well_known::Rfc3339,
                )
                .unwrap(),
            ),
        };
        let ids = |filter: &Filter| {
            let page = index.search_filtered("vacuum", filter, 0, 10).unwrap();
            let mut ids: Vec<(String, f32)> =
                page.hits.into_iter().map(|h| (h.id, h.score)).collect();
            ids.sort_by(|a, b| a.0.cmp(&b.0));
            (page.total, ids)
        };
        let (total, all) = ids(&Filter::default());
        assert_eq!(total, 4);
        let (total, recent) = ids(&since("2026-11-01T00:00:00Z"));
        assert_eq!(total, 2, "the instant itself is included: {recent:?}");
        let expected: Vec<_> = all
            .iter()
            .filter(|(id, _)| id == "edge" || id == "new")
            .cloned()
            .collect();
        assert_eq!(recent, expected, "same scores as unfiltered");
        assert_eq!(ids(&since("2026-11-21T00:00:00Z")).0, 0);
        let counted = index
            .search_filtered("vacuum", &since("2019-01-01T00:00:00Z"), 0, 0)
            .unwrap();
        assert_eq!(counted.total, 3, "undated documents never match a range");
    }

    #[test]
    fn remove_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = LocalIndex::open_or_create(dir.path()).unwrap();
            let mut writer = index.writer().unwrap();
            writer.upsert(doc("a", "one", "x")).unwrap();
            writer.upsert(doc("b", "two", "x")).unwrap();
            writer.commit().unwrap();
            assert!(index.contains("a").unwrap());
            drop(writer);
            let mut writer = index.writer().unwrap();
            assert!(writer.remove("a").unwrap());
            assert!(!writer.remove("never-there").unwrap());
            writer.commit().unwrap();
            assert!(!index.contains("a").unwrap());
        }
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        assert_eq!(index.num_docs(), 1);
        assert!(index.stats().unwrap().size_bytes > 0);
    }

    #[test]
    fn a_second_writer_is_refused_and_an_uncommitted_batch_vanishes() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        writer.upsert(doc("a", "one", "x")).unwrap();
        assert!(matches!(index.writer(), Err(IndexError::Locked { .. })));
        drop(writer);
        assert_eq!(index.num_docs(), 0);
        index.writer().unwrap().commit().unwrap();
        assert_eq!(index.num_docs(), 0);
    }

    #[test]
    fn upserts_say_what_they_replaced_and_one_writer_commits_batch_after_batch() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        assert_eq!(
            writer.upsert(doc("a", "one", "x")).unwrap(),
            Upserted::Added
        );
        assert_eq!(
            writer.upsert(doc("a", "one again", "x")).unwrap(),
            Upserted::Replaced
        );
        assert_eq!(
            writer.upsert(doc("b", "two", "x")).unwrap(),
            Upserted::Added
        );
        assert_eq!(writer.commit().unwrap().upserted, 2);
        assert_eq!(index.num_docs(), 2);
        // The same writer, a second batch, against what was committed.
        assert_eq!(
            writer.upsert(doc("b", "two, new", "x")).unwrap(),
            Upserted::Replaced
        );
        assert_eq!(
            writer.upsert(doc("c", "three", "x")).unwrap(),
            Upserted::Added
        );
        assert!(writer.remove("a").unwrap());
        writer.rollback().unwrap();
        assert_eq!(index.num_docs(), 2, "a rolled back batch leaves nothing");
        assert_eq!(
            writer.upsert(doc("c", "three", "x")).unwrap(),
            Upserted::Added
        );
        assert!(writer.remove("a").unwrap());
        assert!(!writer.remove("a").unwrap(), "gone already in this batch");
        writer.commit().unwrap();
        writer.finish().unwrap();
        let ids: Vec<String> = index
            .documents()
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, ["b", "c"]);
    }

    #[test]
    fn a_read_only_index_never_creates_one_and_sees_another_process_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        assert!(matches!(
            LocalIndex::open_read_only(&path),
            Err(IndexError::Missing { .. })
        ));
        assert!(!path.exists(), "nothing was created");
        let writer_side = LocalIndex::open_or_create(&path).unwrap();
        let reader_side = LocalIndex::open_read_only(&path).unwrap();
        assert_eq!(reader_side.num_docs(), 0);
        let mut writer = writer_side.writer().unwrap();
        writer.upsert(doc("a", "one", "x")).unwrap();
        writer.commit().unwrap();
        // tantivy polls meta.json about twice a second.
        let seen = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            reader_side.num_docs() == 1
        });
        assert!(seen, "the reader never saw the commit");
        let other = Ranking {
            stop_words: true,
            ..Ranking::default()
        };
        let stopped = tempfile::tempdir().unwrap();
        drop(LocalIndex::open_with(stopped.path(), other).unwrap());
        assert!(matches!(
            LocalIndex::open_read_only(stopped.path()),
            Err(IndexError::IncompatibleSchema { .. })
        ));
    }

    #[test]
    fn reopening_with_other_analysis_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(LocalIndex::open_or_create(dir.path()).unwrap());
        let other = Ranking {
            stop_words: !Ranking::default().stop_words,
            ..Ranking::default()
        };
        assert!(matches!(
            LocalIndex::open_with(dir.path(), other),
            Err(IndexError::IncompatibleSchema { .. })
        ));
        let boost_only = Ranking {
            title_boost: 3.0,
            ..Ranking::default()
        };
        assert!(
            LocalIndex::open_with(dir.path(), boost_only).is_ok(),
            "the boost is search-time only"
        );
    }

    /// Flattening changes how the query is evaluated, not what it finds:
    /// same documents, same scores (up to float rounding), same order.
    #[test]
    fn flattened_queries_score_exactly_as_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        let words = [
            "index",
            "table",
            "create",
            "concurrently",
            "lock",
            "query",
            "plan",
            "join",
            "scan",
            "vacuum",
        ];
        for i in 0..300usize {
            let body: Vec<&str> = (0..40)
                .map(|j| words[(i * 7 + j * j * 3 + j) % words.len()])
                .collect();
            let title = format!(
                "{} {}",
                words[i % words.len()],
                words[(i / 3) % words.len()]
            );
            writer
                .upsert(doc(
                    &format!("{i:03}"),
                    &title,
                    &body[..(i % 37) + 3].join(" "),
                ))
                .unwrap();
        }
        writer.commit().unwrap();
        let searcher = index.reader.searcher();
        for q in [
            "index",
            "create index concurrently",
            "lock plan scan join",
            "vacuum table",
            "\"create index\" lock",
            "+index -lock",
            "nothing here",
        ] {
            let (parsed, _) = index.parser.parse_query_lenient(q);
            let flat = flatten(parsed.box_clone());
            let top = |query: &dyn Query| {
                searcher
                    .search(query, &TopDocs::with_limit(300).order_by_score())
                    .unwrap()
            };
            let (a, b) = (top(parsed.as_ref()), top(flat.as_ref()));
            assert_eq!(a.len(), b.len(), "{q}");
            for ((sa, da), (sb, db)) in a.iter().zip(&b) {
                assert!((sa - sb).abs() < 1e-4, "{q}: {sa} vs {sb}");
                assert!(da == db || (sa - sb).abs() < 1e-4, "{q}");
            }
        }
        let (plain, _) = index
            .parser
            .parse_query_lenient("create index concurrently");
        let flat = flatten(plain);
        let clauses = flat.downcast_ref::<BooleanQuery>().expect("flat").clauses();
        assert_eq!(clauses.len(), 6, "three words in two fields");
        assert!(
            clauses
                .iter()
                .all(|(_, c)| c.downcast_ref::<BooleanQuery>().is_none())
        );
    }

    #[test]
    fn lead_cuts_at_a_word_boundary() {
        assert_eq!(lead("alpha beta gamma", 12), "alpha beta…");
        assert_eq!(lead("short", 12), "short");
    }
}
