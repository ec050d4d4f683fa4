//! Copies of the index at a commit: what the indexer serves to search
//! replicas ([`LocalIndex::manifest`], [`LocalIndex::snapshot_file`]) and how
//! a replica mirrors them into a directory of its own ([`Mirror`]).
//!
//! A tantivy commit is a set of immutable segment files plus `meta.json`,
//! which names them and is replaced atomically. A replica copies the files
//! it lacks, then renames the commit's `meta.json` into place: its
//! read-only index (which watches `meta.json`) reloads onto the whole new
//! commit or not at all, as it would beside a writer on a local disk. Files
//! no commit names any more are then removed; a searcher that still has one
//! open keeps reading it (an unlinked file lives while it is open).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::index::SegmentComponent;

use crate::{IndexError, LocalIndex};

/// The file a commit is named by.
pub const META_FILE: &str = "meta.json";

/// Suffix of a file being downloaded into a mirror.
const PART: &str = ".part";

/// One commit of the index: what a replica needs to search it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Manifest {
    /// tantivy's operation stamp of the commit (it grows with each commit;
    /// a merge keeps it).
    pub opstamp: u64,
    /// The commit's `meta.json`, exactly as the replica writes it; two
    /// manifests are the same commit when their `meta` are equal.
    pub meta: String,
    /// The documents the commit holds.
    pub documents: u64,
    /// Every file the commit's segments are made of, besides `meta.json`.
    pub files: Vec<SnapshotFile>,
}

/// A segment file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotFile {
    /// Its name in the index directory (see [`is_segment_file`]).
    pub name: String,
    /// Its length.
    pub bytes: u64,
}

impl Manifest {
    /// The bytes of all its files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Whether every file name is a segment file's (a manifest read from
    /// the network is checked with this before any name becomes a path).
    pub fn names_are_safe(&self) -> bool {
        self.files.iter().all(|f| is_segment_file(&f.name))
    }
}

/// Whether `name` has the shape of a tantivy segment file: 32 lowercase hex
/// digits (the segment id), an optional `.<opstamp>` (deletes), then a
/// short lowercase extension. Nothing else is ever served or written: no
/// separator, no dot file, no `meta.json`.
pub fn is_segment_file(name: &str) -> bool {
    let mut parts = name.split('.');
    let (Some(id), Some(second)) = (parts.next(), parts.next()) else {
        return false;
    };
    let third = parts.next();
    if parts.next().is_some() {
        return false;
    }
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let ext = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_lowercase());
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    hex(id)
        && match third {
            None => ext(second),
            Some(third) => digits(second) && ext(third),
        }
}

/// The files every committed segment has (its deletes aside).
const COMPONENTS: [SegmentComponent; 6] = [
    SegmentComponent::Postings,
    SegmentComponent::Positions,
    SegmentComponent::Terms,
    SegmentComponent::Store,
    SegmentComponent::FastFields,
    SegmentComponent::FieldNorms,
];

/// How many times a manifest is made again when the writer removed a file
/// between reading `meta.json` and looking at the file (a merge finished).
const ATTEMPTS: usize = 5;

impl LocalIndex {
    /// The index's latest commit, as a replica mirrors it.
    ///
    /// # Errors
    /// tantivy cannot read the commit, or its files keep changing under it.
    pub fn manifest(&self) -> Result<Manifest, IndexError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.try_manifest() {
                Ok(manifest) => return Ok(manifest),
                Err(error) => last = Some(error),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn try_manifest(&self) -> Result<Manifest, IndexError> {
        let tantivy_err = |source| IndexError::Tantivy {
            path: self.path.clone(),
            source,
        };
        let metas = self.index.load_metas().map_err(tantivy_err)?;
        let mut meta = serde_json::to_string_pretty(&metas)
            .map_err(|e| tantivy_err(tantivy::TantivyError::from(e)))?;
        meta.push('\n');
        let mut files = Vec::new();
        for name in committed_files(&metas) {
            // A segment lists every component its format may have; one it
            // did not write is not there.
            match fs::metadata(self.path.join(&name)) {
                Ok(stat) => files.push(SnapshotFile {
                    name,
                    bytes: stat.len(),
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound && optional_component(&name) => {}
                Err(e) => {
                    return Err(tantivy_err(tantivy::TantivyError::IoError(
                        std::sync::Arc::new(e),
                    )));
                }
            }
        }
        let documents = metas.segments.iter().map(|s| u64::from(s.num_docs())).sum();
        Ok(Manifest {
            opstamp: metas.opstamp,
            meta,
            documents,
            files,
        })
    }

    /// A file of the latest commit, open for reading; `None` when `name` is
    /// not one of its files (never a path outside the index, never
    /// `meta.json` or a lock).
    ///
    /// # Errors
    /// The manifest cannot be made or the file cannot be opened.
    pub fn snapshot_file(&self, name: &str) -> Result<Option<(File, u64)>, IndexError> {
        if !is_segment_file(name) {
            return Ok(None);
        }
        // Only whether the latest commit names it: no manifest (and no
        // look at every file) per file served.
        let metas = self
            .index
            .load_metas()
            .map_err(|source| IndexError::Tantivy {
                path: self.path.clone(),
                source,
            })?;
        if !committed_files(&metas).any(|n| n == name) {
            return Ok(None);
        }
        match File::open(self.path.join(name)) {
            Ok(file) => {
                let bytes = file
                    .metadata()
                    .map_err(|e| IndexError::Tantivy {
                        path: self.path.clone(),
                        source: tantivy::TantivyError::IoError(std::sync::Arc::new(e)),
                    })?
                    .len();
                Ok(Some((file, bytes)))
            }
            // A merge retired it since: the replica asks for the manifest
            // again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IndexError::Tantivy {
                path: self.path.clone(),
                source: tantivy::TantivyError::IoError(std::sync::Arc::new(e)),
            }),
        }
    }
}

/// The names of every file a commit's segments may have (its deletes
/// included), whether or not the segment wrote each component.
fn committed_files(metas: &tantivy::IndexMeta) -> impl Iterator<Item = String> + '_ {
    metas.segments.iter().flat_map(|segment| {
        let deletes = segment.has_deletes().then_some(SegmentComponent::Delete);
        COMPONENTS
            .iter()
            .cloned()
            .chain(deletes)
            .filter_map(|component| segment.relative_path(component).to_str().map(str::to_owned))
    })
}

/// Components a segment may lack: positions and fast fields exist only
/// for schemas that need them.
fn optional_component(name: &str) -> bool {
    name.ends_with(".pos") || name.ends_with(".fast")
}

/// A replica's copy of the index, in a directory of its own, kept in step
/// with the indexer's commits.
#[derive(Debug, Clone)]
pub struct Mirror {
    dir: PathBuf,
}

/// What [`Mirror::install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// Files removed because the new commit no longer names them.
    pub removed: usize,
}

impl Mirror {
    /// The mirror in `dir`, made if it is not there.
    ///
    /// # Errors
    /// The directory cannot be made.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Its directory: a read-only index opens it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `meta.json` of the commit it holds, if any.
    pub fn meta(&self) -> Option<String> {
        fs::read_to_string(self.dir.join(META_FILE)).ok()
    }

    /// Whether it holds exactly `manifest`'s commit.
    pub fn holds(&self, manifest: &Manifest) -> bool {
        self.meta().as_deref() == Some(manifest.meta.as_str())
    }

    /// The files of `manifest` it lacks (absent, or of another length).
    /// Segment files never change once written, so one of the right name
    /// and length is the file.
    pub fn missing<'m>(&self, manifest: &'m Manifest) -> Vec<&'m SnapshotFile> {
        manifest
            .files
            .iter()
            .filter(|f| {
                fs::metadata(self.dir.join(&f.name)).map_or(true, |stat| stat.len() != f.bytes)
            })
            .collect()
    }

    /// A file to download `file` into; [`Mirror::keep`] puts it in place.
    ///
    /// # Errors
    /// The name is not a segment file's, or the file cannot be made.
    pub fn download(&self, file: &SnapshotFile) -> io::Result<File> {
        File::create(self.part_path(&file.name)?)
    }

    /// Puts a downloaded file in place, once it is whole (`written` bytes,
    /// which must be the manifest's) and on disk.
    ///
    /// # Errors
    /// It is short or long, or the filesystem fails.
    pub fn keep(&self, file: &SnapshotFile, mut part: File, written: u64) -> io::Result<()> {
        if written != file.bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {written} bytes came, the manifest said {}",
                    file.name, file.bytes
                ),
            ));
        }
        part.flush()?;
        part.sync_all()?;
        drop(part);
        fs::rename(self.part_path(&file.name)?, self.dir.join(&file.name))
    }

    /// Makes `manifest` the commit the mirror holds: every file must be in
    /// place; its `meta.json` is then written beside and renamed over the
    /// old one (the atomic step readers see), and the files no longer named
    /// are removed.
    ///
    /// # Errors
    /// A file is missing or the filesystem fails; the mirror then still
    /// holds its previous commit.
    pub fn install(&self, manifest: &Manifest) -> io::Result<Installed> {
        if !manifest.names_are_safe() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the manifest names a file that is not a segment file",
            ));
        }
        if let Some(file) = self.missing(manifest).first() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not in place", file.name),
            ));
        }
        sync_dir(&self.dir)?;
        let staged = self.dir.join(format!("{META_FILE}{PART}"));
        let mut meta = File::create(&staged)?;
        meta.write_all(manifest.meta.as_bytes())?;
        meta.sync_all()?;
        drop(meta);
        fs::rename(&staged, self.dir.join(META_FILE))?;
        sync_dir(&self.dir)?;
        let named: HashSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stale_part = name.ends_with(PART);
            let stale_segment = is_segment_file(name) && !named.contains(name);
            if (stale_part || stale_segment) && entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
        Ok(Installed { removed })
    }

    fn part_path(&self, name: &str) -> io::Result<PathBuf> {
        if !is_segment_file(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a segment file's name"),
            ));
        }
        Ok(self.dir.join(format!("{name}{PART}")))
    }
}

/// Makes a directory's entries durable (renames into it included).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;

    fn doc(id: &str, body: &str) -> Document {
        Document::from_json(&format!(
            r#"{{"id":"{id}","url":"https://example.org/{id}","title":"{id}","body":"{body}"}}"#
        ))
        .unwrap()
    }

    /// An index in `dir` holding one committed document.
    fn index_with_a(dir: &Path) -> LocalIndex {
        let index = LocalIndex::open_or_create(dir).unwrap();
        let mut writer = index.writer().unwrap();
        writer.upsert(doc("a", "alpha")).unwrap();
        writer.commit().unwrap();
        writer.finish().unwrap();
        index
    }

    fn copy(index: &LocalIndex, mirror: &Mirror) -> Manifest {
        let manifest = index.manifest().unwrap();
        for file in mirror.missing(&manifest) {
            let (mut from, bytes) = index.snapshot_file(&file.name).unwrap().unwrap();
            let mut to = mirror.download(file).unwrap();
            let written = io::copy(&mut from, &mut to).unwrap();
            assert_eq!(written, bytes);
            mirror.keep(file, to, written).unwrap();
        }
        mirror.install(&manifest).unwrap();
        manifest
    }

    #[test]
    fn segment_file_names_are_recognised_strictly() {
        let id = "0123456789abcdef0123456789abcdef";
        for good in [
            format!("{id}.idx"),
            format!("{id}.store"),
            format!("{id}.fieldnorm"),
            format!("{id}.17.del"),
        ] {
            assert!(is_segment_file(&good), "{good}");
        }
        for bad in [
            "meta.json".to_owned(),
            ".managed.json".to_owned(),
            ".tantivy-writer.lock".to_owned(),
            format!("../{id}.idx"),
            format!("{id}/x.idx"),
            format!("{id}.IDX"),
            format!("{id}.idx.part"),
            format!("{id}.x.del"),
            format!("{}.idx", &id[1..]),
            format!("{}.idx", id.to_uppercase()),
            format!("{id}."),
            id.to_owned(),
            String::new(),
        ] {
            assert!(!is_segment_file(&bad), "{bad}");
        }
    }

    #[test]
    fn a_mirror_follows_commits_merges_and_deletes() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let index = index_with_a(from.path());
        let mut writer = index.writer().unwrap();
        let mirror = Mirror::open(&to.path().join("index")).unwrap();
        assert!(mirror.meta().is_none());
        let first = copy(&index, &mirror);
        assert!(mirror.holds(&first));
        assert!(mirror.missing(&first).is_empty());
        assert_eq!(first.documents, 1);

        let replica = LocalIndex::open_read_only(mirror.dir()).unwrap();
        assert_eq!(replica.num_docs(), 1);

        writer.upsert(doc("b", "beta")).unwrap();
        writer.upsert(doc("c", "gamma")).unwrap();
        writer.remove("a").unwrap();
        writer.commit().unwrap();
        let second = copy(&index, &mirror);
        assert_ne!(first.meta, second.meta);
        assert_eq!(second.documents, 2);
        // Only the new commit's files are left (and meta.json).
        let mut left: Vec<String> = fs::read_dir(mirror.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            // tantivy's lock files are the reader's own.
            .filter(|n| n != META_FILE && !n.starts_with(".tantivy-"))
            .collect();
        left.sort();
        let mut named: Vec<String> = second.files.iter().map(|f| f.name.clone()).collect();
        named.sort();
        assert_eq!(left, named);
        // The reader that was open before sees the new commit.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while replica.num_docs() != 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the replica never reloaded"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(
            LocalIndex::open_read_only(mirror.dir()).unwrap().num_docs(),
            2
        );
    }

    #[test]
    fn a_file_that_is_short_or_not_named_is_refused_and_the_old_commit_stays() {
        let (from, to) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let index = index_with_a(from.path());
        let mut writer = index.writer().unwrap();
        let mirror = Mirror::open(to.path()).unwrap();
        let first = copy(&index, &mirror);

        writer.upsert(doc("b", "beta")).unwrap();
        writer.commit().unwrap();
        let second = index.manifest().unwrap();
        let file = mirror.missing(&second)[0].clone();
        let part = mirror.download(&file).unwrap();
        let error = mirror.keep(&file, part, file.bytes - 1).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        // Installing before every file is in place changes nothing.
        assert!(mirror.install(&second).is_err());
        assert!(mirror.holds(&first));

        let mut hostile = second.clone();
        hostile.files.push(SnapshotFile {
            name: "../escape".into(),
            bytes: 1,
        });
        assert!(mirror.install(&hostile).is_err());
        assert!(
            mirror
                .download(&SnapshotFile {
                    name: "../escape".into(),
                    bytes: 1
                })
                .is_err()
        );
        assert!(index.snapshot_file("meta.json").unwrap().is_none());
        assert!(index.snapshot_file("../meta.json").unwrap().is_none());
        assert!(
            index
                .snapshot_file("0123456789abcdef0123456789abcdef.idx")
                .unwrap()
                .is_none()
        );
    }
}
