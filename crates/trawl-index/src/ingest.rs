//! Turning files into documents: JSONL (optionally gzip-compressed) and
//! folders of HTML, Markdown and plain text.
//!
//! A batch is all-or-nothing by default: the first malformed JSONL line stops
//! ingestion with its file and line number, and nothing of the batch is
//! committed. With `skip_bad`, malformed lines are reported one by one,
//! counted, and left out; nothing is ever dropped silently.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use url::Url;

use crate::document::{Document, DocumentLimits};
use crate::error::IndexError;
use crate::extract::{Extracted, extract_html, extract_markdown, extract_text};
use crate::glob::Glob;
use crate::index::IndexWriter;

/// How files become documents.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Maps files of an ingested folder to URLs: `FOLDER/a/b.html` becomes
    /// `BASE/a/b.html`. Without it, documents get `file://` URLs.
    pub base_url: Option<Url>,
    /// Report and count malformed JSONL lines instead of stopping.
    pub skip_bad: bool,
    /// Files of a folder to leave out, matched against their relative path.
    pub exclude: Vec<Glob>,
}

/// Receives progress. The CLI draws a progress bar with it; tests ignore it.
pub trait Progress {
    /// A new source starts: `total` units, where a unit is a byte of a JSONL
    /// file or one file of a folder.
    fn start(&self, label: &str, total: u64, unit: Unit);
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// Something worth telling the operator (a skipped line, say).
    fn warn(&self, message: &str);
    /// All are done.
    fn finish(&self);
}

/// What progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes read.
    Bytes,
    /// Files read.
    Files,
}

/// Progress that goes nowhere.
impl Progress for () {
    fn start(&self, _: &str, _: u64, _: Unit) {}
    fn advance(&self, _: u64) {}
    fn warn(&self, _: &str) {}
    fn finish(&self) {}
}

/// What an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Documents read and handed to the index (a repeated id counts each time).
    pub documents: u64,
    /// Malformed lines skipped under `skip_bad`.
    pub skipped: u64,
    /// Files read.
    pub files: u64,
}

/// Why files could not be indexed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The path does not exist.
    #[error("{path}: no such file or folder")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A file of a kind that cannot be indexed.
    #[error(
        "{path}: don't know how to ingest this file; expected .jsonl, .jsonl.gz, .ndjson, .html, .htm, .md, .markdown, .txt or a folder"
    )]
    Unsupported {
        /// The path.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A line of a JSONL file is not a document.
    #[error("{path}:{line}: {reason}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A file of a folder that cannot become a document.
    #[error("{path}: {reason}")]
    InvalidFile {
        /// The path.
        path: PathBuf,
        /// What is wrong, for people.
        reason: String,
    },
    /// A path that makes no URL under `base_url`.
    #[error("{path}: cannot be mapped onto the base URL")]
    UnmappablePath {
        /// The path.
        path: PathBuf,
    },
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The sink could not take a document.
    #[error("{0}")]
    Sink(String),
}

/// Where ingested documents go: the index's writer (the caller commits), or
/// anything else that takes documents one at a time, such as the batches
/// `trawl index add --remote` sends to an indexer.
pub trait Sink {
    /// Adds or replaces one document.
    fn put(&mut self, doc: Document) -> Result<(), IngestError>;
}

impl Sink for IndexWriter<'_> {
    fn put(&mut self, doc: Document) -> Result<(), IngestError> {
        self.upsert(doc)?;
        Ok(())
    }
}

/// Reads every path into the sink.
pub fn ingest(
    sink: &mut dyn Sink,
    paths: &[PathBuf],
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    let mut report = IngestReport::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => IngestError::NotFound { path: path.clone() },
            _ => IngestError::Io {
                path: path.clone(),
                source,
            },
        })?;
        if meta.is_dir() {
            ingest_folder(sink, path, options, progress, &mut report)?;
        } else {
            match FileKind::of(path) {
                Some(FileKind::Jsonl) => ingest_jsonl(sink, path, options, progress, &mut report)?,
                Some(kind) => {
                    let parent = path.parent().unwrap_or(Path::new(""));
                    progress.start(&path.display().to_string(), 1, Unit::Files);
                    let doc = read_file_document(path, parent, kind, options)?;
                    sink.put(doc)?;
                    report.documents += 1;
                    report.files += 1;
                    progress.advance(1);
                    progress.finish();
                }
                None => return Err(IngestError::Unsupported { path: path.clone() }),
            }
        }
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Jsonl,
    Html,
    Markdown,
    Text,
}

impl FileKind {
    fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            "html" | "htm" | "xhtml" => Some(Self::Html),
            "md" | "markdown" => Some(Self::Markdown),
            "txt" | "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Counts bytes as they are read, for progress over compressed files.
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

fn ingest_jsonl(
    sink: &mut dyn Sink,
    path: &Path,
    options: &IngestOptions,
    progress: &dyn Progress,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let io_err = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let size = file.metadata().map_err(io_err)?.len();
    let gzipped = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    ingest_jsonl_reader(sink, path, file, size, gzipped, options, progress, report)
}

/// Reads JSONL documents from any reader (`label` names it in messages;
/// `size` is its length in bytes, for progress).
#[allow(clippy::too_many_arguments)]
pub fn ingest_jsonl_reader(
    sink: &mut dyn Sink,
    label: &Path,
    reader: impl Read,
    size: u64,
    gzipped: bool,
    options: &IngestOptions,
    progress: &dyn Progress,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let path = label;
    let io_err = |source| IngestError::Io {
        path: path.to_owned(),
        source,
    };
    let read_bytes = std::rc::Rc::new(std::cell::Cell::new(0));
    let counting = Counting {
        inner: reader,
        count: read_bytes.clone(),
    };
    let reader: Box<dyn Read> = if gzipped {
        Box::new(MultiGzDecoder::new(counting))
    } else {
        Box::new(counting)
    };
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    progress.start(&path.display().to_string(), size, Unit::Bytes);
    report.files += 1;

    let mut line = Vec::new();
    let mut line_number = 0u64;
    let mut reported = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io_err)? == 0 {
            break;
        }
        line_number += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        match parse_record(text) {
            Ok(doc) => {
                sink.put(doc)?;
                report.documents += 1;
            }
            Err(reason) if options.skip_bad => {
                progress.warn(&format!(
                    "{}:{line_number}: skipped: {reason}",
                    path.display()
                ));
                report.skipped += 1;
            }
            Err(reason) => {
                return Err(IngestError::BadRecord {
                    path: path.to_owned(),
                    line: line_number,
                    reason,
                });
            }
        }
        let now = read_bytes.get();
        progress.advance(now - reported);
        reported = now;
    }
    progress.finish();
    Ok(())
}

fn parse_record(line: &[u8]) -> Result<Document, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the line is not valid UTF-8".to_owned())?;
    // The write API's limits: a record over them is bad here too.
    Document::from_json_within(text, &DocumentLimits::default())
}

fn ingest_folder(
    sink: &mut dyn Sink,
    root: &Path,
    options: &IngestOptions,
    progress: &dyn Progress,
    report: &mut IngestReport,
) -> Result<(), IngestError> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| IngestError::Io {
            path: e.path().unwrap_or(root).to_owned(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(kind) = FileKind::of(entry.path()).filter(|k| *k != FileKind::Jsonl) else {
            continue;
        };
        let relative = relative_slash_path(entry.path(), root);
        if options.exclude.iter().any(|glob| glob.matches(&relative)) {
            continue;
        }
        files.push((entry.into_path(), kind));
    }
    progress.start(&root.display().to_string(), files.len() as u64, Unit::Files);
    for (path, kind) in files {
        let doc = read_file_document(&path, root, kind, options)?;
        sink.put(doc)?;
        report.documents += 1;
        report.files += 1;
        progress.advance(1);
    }
    progress.finish();
    Ok(())
}

fn relative_slash_path(path: &Path, root: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// One HTML, Markdown or text file as a document; its id is its URL.
fn read_file_document(
    path: &Path,
    root: &Path,
    kind: FileKind,
    options: &IngestOptions,
) -> Result<Document, IngestError> {
    let bytes = std::fs::read(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let Extracted { title, body } = match kind {
        FileKind::Html => extract_html(&text),
        FileKind::Markdown => extract_markdown(&text),
        FileKind::Text | FileKind::Jsonl => extract_text(&text),
    };
    let url = file_url(path, root, options.base_url.as_ref())?;
    let title = title.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let invalid = |reason: String| IngestError::InvalidFile {
        path: path.to_owned(),
        reason,
    };
    let limits = DocumentLimits::default();
    // A file too long to index whole is indexed by its start, as a crawled
    // page is.
    Document::new(url.to_string(), title, url.to_string(), body, None)
        .map_err(|e| invalid(e.to_string()))?
        .fit(&limits)
        .ok_or_else(|| invalid(format!("its URL is over {} bytes", limits.max_url_bytes)))
}

fn file_url(path: &Path, root: &Path, base: Option<&Url>) -> Result<Url, IngestError> {
    let unmappable = || IngestError::UnmappablePath {
        path: path.to_owned(),
    };
    match base {
        Some(base) => {
            let mut url = base.clone();
            {
                let mut segments = url.path_segments_mut().map_err(|_| unmappable())?;
                segments.pop_if_empty();
                for segment in relative_slash_path(path, root).split('/') {
                    segments.push(segment);
                }
            }
            Ok(url)
        }
        None => {
            let absolute = std::path::absolute(path).map_err(|source| IngestError::Io {
                path: path.to_owned(),
                source,
            })?;
            Url::from_file_path(&absolute).map_err(|_| unmappable())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::LocalIndex;

    fn write(path: &Path, content: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn run(
        paths: &[PathBuf],
        options: &IngestOptions,
    ) -> (tempfile::TempDir, Result<IngestReport, IngestError>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(&dir.path().join("index")).unwrap();
        let mut writer = index.writer().unwrap();
        let result = ingest(&mut writer, paths, options, &());
        if result.is_ok() {
            writer.commit().unwrap();
        }
        let docs = index.num_docs();
        (dir, result, docs)
    }

    const GOOD: &str = r#"{"id":"1","title":"One","url":"https://example.org/1","body":"first"}"#;

    #[test]
    fn jsonl_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("docs.jsonl");
        write(&plain, format!("{GOOD}\n\n{}\n", r#"{"id":2,"title":"Two","url":"https://example.org/2","body":"second","published":"2020-01-02","extra":true}"#).as_bytes());
        let gz = dir.path().join("more.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(
                r#"{"id":"3","title":"Three","url":"http://example.org/3","body":"third"}"#
                    .as_bytes(),
            )
            .unwrap();
        write(&gz, &encoder.finish().unwrap());
        let (_dir, result, docs) = run(&[plain, gz], &IngestOptions::default());
        assert_eq!(
            result.unwrap(),
            IngestReport {
                documents: 3,
                skipped: 0,
                files: 2
            }
        );
        assert_eq!(docs, 3);
    }

    #[test]
    fn a_bad_line_stops_the_batch_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.jsonl");
        let lines = [
            GOOD,
            r#"{"id":"2","title":"no url","body":"x"}"#,
            r#"{"id":"3","title":"t","url":"javascript:alert(1)","body":"x"}"#,
            "{not json",
            GOOD,
        ];
        write(&file, lines.join("\n").as_bytes());
        let (_dir, result, docs) = run(std::slice::from_ref(&file), &IngestOptions::default());
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}:2: missing field `url` (column 38)", file.display())
        );
        assert_eq!(docs, 0, "nothing of a failed batch is committed");

        let options = IngestOptions {
            skip_bad: true,
            ..Default::default()
        };
        let (_dir, result, docs) = run(&[file], &options);
        assert_eq!(
            result.unwrap(),
            IngestReport {
                documents: 2,
                skipped: 3,
                files: 1
            }
        );
        assert_eq!(docs, 1, "the same id twice is one document");
    }

    #[test]
    fn invalid_utf8_is_a_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bytes.jsonl");
        write(&file, b"{\"id\":\"1\",\"title\":\"\xff\"}\n");
        let (_dir, result, _) = run(&[file], &IngestOptions::default());
        assert!(
            result
                .unwrap_err()
                .to_string()
                .ends_with(":1: the line is not valid UTF-8")
        );
    }

    #[test]
    fn folders_map_to_base_urls_and_honour_excludes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        write(&root.join("a b.html"), b"<title>A</title><p>alpha</p>");
        write(&root.join("guide/intro.md"), b"# Intro\nbeta");
        write(&root.join("notes.txt"), b"Notes\ngamma");
        write(&root.join("genindex-A.html"), b"<p>index page</p>");
        write(&root.join(".git/config.txt"), b"hidden");
        write(&root.join("image.png"), b"\x89PNG");
        let index_dir = tempfile::tempdir().unwrap();
        let index = LocalIndex::open_or_create(index_dir.path()).unwrap();
        let mut writer = index.writer().unwrap();
        let options = IngestOptions {
            base_url: Some(Url::parse("https://docs.example.org/v1/").unwrap()),
            exclude: vec![Glob::new("genindex*.html")],
            ..Default::default()
        };
        let report = ingest(&mut writer, &[root], &options, &()).unwrap();
        writer.commit().unwrap();
        assert_eq!(
            report,
            IngestReport {
                documents: 3,
                skipped: 0,
                files: 3
            }
        );
        let docs = index.documents().unwrap();
        let urls: Vec<_> = docs
            .iter()
            .map(|d| (d.url.as_str(), d.title.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("https://docs.example.org/v1/a%20b.html", "A"),
                ("https://docs.example.org/v1/guide/intro.md", "Intro"),
                ("https://docs.example.org/v1/notes.txt", "Notes"),
            ]
        );
    }

    #[test]
    fn without_base_url_files_get_file_urls_and_unknown_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.html");
        write(&page, b"<h1>Heading</h1>");
        let (_d, result, docs) = run(std::slice::from_ref(&page), &IngestOptions::default());
        assert_eq!((result.unwrap().documents, docs), (1, 1));
        let image = dir.path().join("x.png");
        write(&image, b"");
        let (_d, result, _) = run(&[image], &IngestOptions::default());
        assert!(matches!(result, Err(IngestError::Unsupported { .. })));
        let (_d, result, _) = run(
            &[dir.path().join("missing.jsonl")],
            &IngestOptions::default(),
        );
        assert!(matches!(result, Err(IngestError::NotFound { .. })));
    }
}
