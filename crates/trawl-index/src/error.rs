//! Why the index could not be opened, written or searched.

use std::path::PathBuf;

/// Failures of the index itself (not of the documents fed to it).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The index directory could not be made.
    #[error("cannot create the index directory {path}: {source}")]
    CreateDir {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process is writing the index.
    #[error(
        "another process is writing to the index at {path}; wait for it to finish (only one writer at a time)"
    )]
    Locked {
        /// The path.
        path: PathBuf,
    },
    /// The directory holds an index of another schema.
    #[error(
        "the index at {path} was made by another version of trawl (its fields differ); move it away or remove it and re-index"
    )]
    IncompatibleSchema {
        /// The path.
        path: PathBuf,
    },
    /// There is no index yet.
    #[error("there is no index at {path} yet: the indexer creates it (search replicas never do)")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// tantivy failed.
    #[error("index error at {path}: {source}")]
    Tantivy {
        /// The index's directory.
        path: PathBuf,
        /// What tantivy said.
        source: tantivy::TantivyError,
    },
}

impl IndexError {
    /// Whether it failed for want of room on the index's disk (ENOSPC or a
    /// quota): it passes once there is room, and the writer can go on.
    pub fn is_storage_full(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = source {
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && is_full(io)
            {
                return true;
            }
            source = error.source();
        }
        // tantivy carries some I/O failures as text only.
        let text = self.to_string();
        text.contains("os error 28") || text.contains("os error 122")
    }

    /// What went wrong, without the filesystem path: for answers served on
    /// a public port (`/readyz`, engine reports). The whole error, path
    /// included, belongs in the logs.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::CreateDir { .. } => "the index directory cannot be created",
            Self::Locked { .. } => "another process is writing to the index",
            Self::IncompatibleSchema { .. } => {
                "the index was made by another version of trawl and must be rebuilt"
            }
            Self::Missing { .. } => "there is no index yet: the indexer creates it",
            Self::Tantivy { .. } => "the index cannot be read",
        }
    }
}

/// ENOSPC, or EDQUOT.
fn is_full(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::StorageFull
        || matches!(error.raw_os_error(), Some(28 | 122))
}
