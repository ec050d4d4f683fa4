//! The demo corpus: the PostgreSQL 15 and Python 3.11 manuals, bundled in
//! the binary and indexed on first start so a newcomer searches real
//! documentation at once. See `demo/README.md` for its provenance and
//! licences.

use std::path::Path;

use trawl_index::ingest::{IngestOptions, IngestReport, ingest_jsonl_reader};
use trawl_index::{IngestError, LocalIndex, Progress};

/// The corpus, gzip-compressed JSONL.
pub const CORPUS: &[u8] = include_bytes!("../../../demo/trawl-demo.jsonl.gz");

/// Indexes the demo corpus if the index is empty. Returns what was indexed,
/// or `None` when the index already held documents.
pub fn ensure(
    index: &LocalIndex,
    progress: &dyn Progress,
) -> Result<Option<IngestReport>, IngestError> {
    if index.num_docs() > 0 {
        return Ok(None);
    }
    let mut writer = index.writer()?;
    let mut report = IngestReport::default();
    ingest_jsonl_reader(
        &mut writer,
        Path::new("<bundled demo corpus>"),
        CORPUS,
        CORPUS.len() as u64,
        true,
        &IngestOptions::default(),
        progress,
        &mut report,
    )?;
    writer.commit()?;
    writer.finish()?;
    Ok(Some(report))
}
