//! A search replica's copy of the index, pulled from the indexer: every few
//! seconds the replica asks for the indexer's latest commit
//! (`GET /v1/index/manifest`), downloads the segment files it lacks
//! (`GET /v1/index/files/{name}`) and installs the commit atomically
//! (`trawl_index::snapshot::Mirror`). The `local` engine reads the mirror
//! read-only and reloads onto each commit as it is installed.
//!
//! This is how replicas on machines of their own get the index without a
//! shared disk (docs/deploy.md says why it is the Kubernetes layout's way).
//! It is a long transfer, not a request: it does not go through the
//! outbound stack's request deadline and retry budget, but has limits of its
//! own — the manifest's size, each file's announced length, the whole
//! index's size, and a timeout on every read.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use trawl_index::snapshot::{Manifest, Mirror, SnapshotFile};
use url::Url;

/// The largest manifest read: a list of files, a few hundred bytes each.
const MAX_MANIFEST_BYTES: usize = 8 * 1024 * 1024;

/// How a replica pulls the index.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The indexer's base URL.
    pub from: Url,
    /// An API key, when the indexer asks for one on reads.
    pub key: Option<String>,
    /// How often to ask for a newer commit.
    pub every: Duration,
    /// Limit on the connection and on each wait for the next bytes.
    pub timeout: Duration,
    /// The largest index copied; a larger one is refused (and said so).
    pub max_bytes: u64,
}

/// Why one round of copying failed; the next round tries again.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The indexer could not be reached or stopped answering.
    #[error("the indexer cannot be reached: {0}")]
    Unreachable(String),
    /// The indexer answered with an error.
    #[error("the indexer answered {status} to {what}{}", hint(*.status))]
    Status {
        /// Its status.
        status: u16,
        /// What was asked.
        what: String,
    },
    /// The manifest is not one, or names a file that is not a segment's.
    #[error("the indexer's manifest cannot be used: {0}")]
    BadManifest(String),
    /// The index is larger than this replica copies.
    #[error("the index holds {bytes} bytes, more than search.index_max_bytes ({max})")]
    TooLarge {
        /// The index's size.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A file came with more bytes than announced.
    #[error("{0} is longer than the manifest said")]
    TooLong(String),
    /// Writing the mirror failed.
    #[error("the index copy cannot be written: {0}")]
    Io(#[from] std::io::Error),
}

impl From<reqwest::Error> for SyncError {
    fn from(error: reqwest::Error) -> Self {
        // Said without the URL (its user-info, were there one, is a
        // secret), with its causes.
        let error = error.without_url();
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        Self::Unreachable(trawl_service::redact::text(&text).into_owned())
    }
}

/// What a refusal means for the one who set the replica up.
fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the indexer asks for a key: set search.index_key / TRAWL_INDEX_KEY)",
        403 => " (the indexer refused the key: check search.index_key / TRAWL_INDEX_KEY)",
        429 => " (too many requests: the indexer's rate_limits.index budget)",
        _ => "",
    }
}

/// Why this replica's last pull failed, while it did: for its readiness.
#[derive(Debug, Clone, Default)]
pub struct Pulls {
    failure: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Pulls {
    /// Why the last pull failed; `None` once one succeeded.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().expect("not poisoned").clone()
    }

    fn set(&self, failure: Option<String>) {
        *self.failure.lock().expect("not poisoned") = failure;
    }
}

/// What a round that installed a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The commit's operation stamp.
    pub opstamp: u64,
    /// Its documents.
    pub documents: u64,
    /// Files downloaded for it.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Pulls the index into `dir` until the process ends: one round at once,
/// then one every `settings.every` (a failed round is logged and tried
/// again after the same pause).
pub fn spawn(dir: PathBuf, settings: SyncSettings, pulls: Pulls) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match client(&settings) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "the index cannot be pulled: no HTTP client");
                return;
            }
        };
        let mut failing = false;
        loop {
            match sync_once(&client, &dir, &settings).await {
                Ok(Some(synced)) => {
                    tracing::info!(
                        opstamp = synced.opstamp,
                        documents = synced.documents,
                        files = synced.files,
                        bytes = synced.bytes,
                        "index commit pulled from the indexer"
                    );
                    failing = false;
                    pulls.set(None);
                }
                Ok(None) => {
                    failing = false;
                    pulls.set(None);
                }
                Err(error) => {
                    pulls.set(Some(error.to_string()));
                    // Said once per spell of failures, then quietly.
                    if failing {
                        tracing::debug!(%error, "the index cannot be pulled");
                    } else {
                        tracing::warn!(%error, "the index cannot be pulled; trying again");
                    }
                    failing = true;
                }
            }
            tokio::time::sleep(settings.every).await;
        }
    })
}

/// The client a replica pulls with: no redirects (a service's answers are
/// never followed elsewhere), bounded connection and read waits.
///
/// # Errors
/// reqwest cannot make one.
pub fn client(settings: &SyncSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.timeout)
        .read_timeout(settings.timeout)
        .build()
}

/// One round: installs the indexer's latest commit if the mirror holds
/// another; `None` when it holds that one already.
///
/// # Errors
/// See [`SyncError`]; the mirror then still holds its previous commit.
pub async fn sync_once(
    client: &reqwest::Client,
    dir: &std::path::Path,
    settings: &SyncSettings,
) -> Result<Option<Synced>, SyncError> {
    let manifest = manifest(client, settings).await?;
    if !manifest.names_are_safe() {
        return Err(SyncError::BadManifest(
            "it names a file that is not a segment file".to_owned(),
        ));
    }
    if manifest.bytes() > settings.max_bytes {
        return Err(SyncError::TooLarge {
            bytes: manifest.bytes(),
            max: settings.max_bytes,
        });
    }
    let mirror = {
        let dir = dir.to_owned();
        blocking(move || Mirror::open(&dir)).await?
    };
    if mirror.holds(&manifest) {
        return Ok(None);
    }
    let missing: Vec<SnapshotFile> = mirror.missing(&manifest).into_iter().cloned().collect();
    let started = Instant::now();
    let mut bytes = 0;
    for file in &missing {
        bytes += download(client, settings, &mirror, file).await?;
    }
    let (mirror, manifest) = blocking(move || {
        mirror.install(&manifest)?;
        Ok((mirror, manifest))
    })
    .await?;
    drop(mirror);
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis(),
        "index files copied"
    );
    Ok(Some(Synced {
        opstamp: manifest.opstamp,
        documents: manifest.documents,
        files: missing.len(),
        bytes,
    }))
}

async fn manifest(
    client: &reqwest::Client,
    settings: &SyncSettings,
) -> Result<Manifest, SyncError> {
    let url = endpoint(&settings.from, "v1/index/manifest")?;
    let mut response = send(client, settings, url, "the manifest").await?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(SyncError::BadManifest(format!(
                "it is longer than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| SyncError::BadManifest(e.to_string()))
}

/// Downloads one file into the mirror; its bytes.
async fn download(
    client: &reqwest::Client,
    settings: &SyncSettings,
    mirror: &Mirror,
    file: &SnapshotFile,
) -> Result<u64, SyncError> {
    let url = endpoint(&settings.from, &format!("v1/index/files/{}", file.name))?;
    let mut response = send(client, settings, url, &file.name).await?;
    let mut part = mirror.download(file)?;
    let mut written: u64 = 0;
    while let Some(chunk) = response.chunk().await? {
        written += chunk.len() as u64;
        if written > file.bytes {
            return Err(SyncError::TooLong(file.name.clone()));
        }
        part = blocking(move || {
            part.write_all(&chunk)?;
            Ok(part)
        })
        .await?;
    }
    let (file, mirror) = (file.clone(), mirror.clone());
    blocking(move || mirror.keep(&file, part, written)).await?;
    Ok(written)
}

async fn send(
    client: &reqwest::Client,
    settings: &SyncSettings,
    url: Url,
    what: &str,
) -> Result<reqwest::Response, SyncError> {
    let mut request = client.get(url);
    if let Some(key) = &settings.key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        return Err(SyncError::Status {
            status: response.status().as_u16(),
            what: what.to_owned(),
        });
    }
    Ok(response)
}

fn endpoint(base: &Url, path: &str) -> Result<Url, SyncError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    base.join(path)
        .map_err(|e| SyncError::BadManifest(format!("{path}: {e}")))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SyncError::Io(std::io::Error::other(e)))?
        .map_err(SyncError::Io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doubles::{Canned, Double};

    const SEGMENT: &str = "0123456789abcdef0123456789abcdef.idx";

    fn settings(double: &Double, max_bytes: u64) -> SyncSettings {
        SyncSettings {
            from: double.at("/"),
            key: Some("trawl_key".to_owned()),
            every: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            max_bytes,
        }
    }

    fn manifest(files: &[(&str, u64)]) -> String {
        serde_json::json!({
            "opstamp": 7,
            "meta": "{}\n",
            "documents": 1,
            "files": files.iter().map(|(name, bytes)| serde_json::json!({"name": name, "bytes": bytes})).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// One round against an indexer that answers `manifest` and serves
    /// `body` as the segment file; what it did, and the mirror's directory.
    async fn round(
        manifest: String,
        body: &str,
        max_bytes: u64,
    ) -> (Result<Option<Synced>, SyncError>, tempfile::TempDir, Double) {
        let double = Double::start(vec![
            ("/v1/index/manifest", vec![Canned::json(manifest)]),
            (
                "/v1/index/files/",
                vec![Canned::with(200, "application/octet-stream", body)],
            ),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let client = client(&settings(&double, max_bytes)).unwrap();
        let synced = sync_once(&client, dir.path(), &settings(&double, max_bytes)).await;
        (synced, dir, double)
    }

    fn held(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_whole_commit_is_installed_with_the_key_sent() {
        let (synced, dir, double) = round(manifest(&[(SEGMENT, 5)]), "hello", 1024).await;
        let synced = synced.unwrap().unwrap();
        assert_eq!((synced.files, synced.bytes, synced.opstamp), (1, 5, 7));
        assert_eq!(held(dir.path()), [SEGMENT, "meta.json"]);
        assert!(
            double
                .seen()
                .iter()
                .all(|seen| seen.header("authorization") == Some("Bearer trawl_key"))
        );
    }

    #[tokio::test]
    async fn an_index_larger_than_the_limit_is_refused_before_a_byte_is_written() {
        let (synced, dir, double) = round(manifest(&[(SEGMENT, 5)]), "hello", 4).await;
        assert!(
            matches!(synced, Err(SyncError::TooLarge { bytes: 5, max: 4 })),
            "{synced:?}"
        );
        assert!(held(dir.path()).is_empty());
        assert_eq!(double.seen().len(), 1, "no file was asked for");
    }

    #[tokio::test]
    async fn a_file_longer_or_shorter_than_announced_is_refused_and_nothing_installed() {
        let (longer, dir, _) = round(manifest(&[(SEGMENT, 3)]), "hello", 1024).await;
        assert!(matches!(longer, Err(SyncError::TooLong(_))), "{longer:?}");
        assert!(!held(dir.path()).contains(&"meta.json".to_owned()));
        assert!(!held(dir.path()).contains(&SEGMENT.to_owned()));

        let (shorter, dir, _) = round(manifest(&[(SEGMENT, 9)]), "hello", 1024).await;
        assert!(matches!(shorter, Err(SyncError::Io(_))), "{shorter:?}");
        assert!(!held(dir.path()).contains(&"meta.json".to_owned()));
    }

    #[tokio::test]
    async fn a_manifest_that_names_a_path_or_is_too_long_is_refused() {
        let (escape, dir, double) = round(manifest(&[("../escape", 5)]), "hello", 1024).await;
        assert!(
            matches!(escape, Err(SyncError::BadManifest(_))),
            "{escape:?}"
        );
        assert!(held(dir.path()).is_empty());
        assert_eq!(double.seen().len(), 1);

        let huge = format!("[\"{}\"]", "x".repeat(MAX_MANIFEST_BYTES));
        let (long, _, _) = round(huge, "hello", 1024).await;
        assert!(
            matches!(&long, Err(SyncError::BadManifest(why)) if why.contains("longer than")),
            "{long:?}"
        );
    }
}
