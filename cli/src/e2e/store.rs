//! A device's state on disk, so that a restarted CLI is the same device: mls-rs's
//! [`GroupStateStorage`] and [`KeyPackageStorage`] over files, and the room index.
//!
//! Layout of the state directory (every file is written whole, to a temporary file that is then
//! renamed over the old one, so a crash leaves the old or the new version, never half of one;
//! on Unix the files are created `0600`, as they hold private keys):
//!
//! | file | holds |
//! |---|---|
//! | `device.json` | the device's user, id and signature key pair ([`super::device`]) |
//! | `key_packages.json` | the private keys of the KeyPackages this device published |
//! | `groups/{hex group id}.json` | one group's mls-rs state, its last epochs, and the room seq processed |
//! | `rooms.json` | which group each encrypted room is (only groups this device is in) |

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::mls_rs_codec::{MlsDecode, MlsEncode};
use mls_rs::storage_provider::KeyPackageData;
use mls_rs::{GroupStateStorage, KeyPackageStorage};
use mls_rs_core::group::{EpochRecord, GroupState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How many past epochs a group keeps, for messages sequenced after the Commit that ended their
/// epoch (docs/protocol.md, "One Commit per epoch"); mls-rs's own default.
const EPOCHS_KEPT: usize = 3;

/// Why the state directory could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A file is not what this version wrote.
    #[error("{path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl mls_rs::error::IntoAnyError for StoreError {
    fn into_dyn_error(self) -> Result<Box<dyn std::error::Error + Send + Sync>, Self> {
        Ok(Box::new(self))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

fn corrupt(path: &Path, reason: impl ToString) -> StoreError {
    StoreError::Corrupt { path: path.to_owned(), reason: reason.to_string() }
}

/// Writes `bytes` to `path` through a temporary file and a rename, owner-only on Unix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads a JSON file; `None` when it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| corrupt(path, e))?;
    write_atomic(path, &bytes)
}

fn decode(path: &Path, text: &str) -> Result<Vec<u8>, StoreError> {
    STANDARD.decode(text).map_err(|e| corrupt(path, e))
}

/// One group's file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct GroupFile {
    /// The last room seq whose message this state has processed.
    cursor: u64,
    /// mls-rs's snapshot, base64.
    state: String,
    /// Past epochs, oldest first: (epoch id, base64 data).
    epochs: Vec<(u64, String)>,
}

/// [`GroupStateStorage`] over `groups/*.json`. Clones share the cursors to be written next.
#[derive(Debug, Clone)]
pub struct FileGroups {
    dir: PathBuf,
    /// The room seq to record with a group's next write (see [`FileGroups::set_cursor`]).
    cursors: Arc<Mutex<BTreeMap<Vec<u8>, u64>>>,
}

impl FileGroups {
    /// The groups under `root/groups`.
    pub fn new(root: &Path) -> Self {
        Self { dir: root.join("groups"), cursors: Arc::default() }
    }

    fn path(&self, group_id: &[u8]) -> PathBuf {
        self.dir.join(format!("{}.json", hex::encode(group_id)))
    }

    fn read(&self, group_id: &[u8]) -> Result<Option<GroupFile>, StoreError> {
        read_json(&self.path(group_id))
    }

    /// The room seq the group's stored state has processed (0 for an unknown group).
    pub fn cursor(&self, group_id: &[u8]) -> Result<u64, StoreError> {
        Ok(self.read(group_id)?.map_or(0, |f| f.cursor))
    }

    /// Records `cursor` with the group's next write, in the same file and the same rename: a
    /// state and the seq it has processed can never disagree after a crash.
    pub fn set_cursor(&self, group_id: &[u8], cursor: u64) {
        self.cursors.lock().unwrap_or_else(|p| p.into_inner()).insert(group_id.to_vec(), cursor);
    }

    /// Forgets a group (this device was removed from it, or its creation lost).
    pub fn delete(&self, group_id: &[u8]) -> Result<(), StoreError> {
        let path = self.path(group_id);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }
}

impl GroupStateStorage for FileGroups {
    type Error = StoreError;

    fn state(&self, group_id: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let path = self.path(group_id);
        self.read(group_id)?.map(|f| decode(&path, &f.state).map(Zeroizing::new)).transpose()
    }

    fn epoch(&self, group_id: &[u8], epoch_id: u64) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let path = self.path(group_id);
        let Some(file) = self.read(group_id)? else { return Ok(None) };
        let found = file.epochs.iter().find(|(id, _)| *id == epoch_id);
        found.map(|(_, data)| decode(&path, data).map(Zeroizing::new)).transpose()
    }

    fn write(
        &mut self,
        state: GroupState,
        epoch_inserts: Vec<EpochRecord>,
        epoch_updates: Vec<EpochRecord>,
    ) -> Result<(), StoreError> {
        let mut file = self.read(&state.id)?.unwrap_or_default();
        if let Some(cursor) = self.cursors.lock().unwrap_or_else(|p| p.into_inner()).remove(&state.id) {
            file.cursor = cursor;
        }
        file.state = STANDARD.encode(&*state.data);
        for e in epoch_updates {
            if let Some(slot) = file.epochs.iter_mut().find(|(id, _)| *id == e.id) {
                slot.1 = STANDARD.encode(&*e.data);
            }
        }
        file.epochs.extend(epoch_inserts.into_iter().map(|e| (e.id, STANDARD.encode(&*e.data))));
        let excess = file.epochs.len().saturating_sub(EPOCHS_KEPT);
        file.epochs.drain(..excess);
        write_json(&self.path(&state.id), &file)
    }

    fn max_epoch_id(&self, group_id: &[u8]) -> Result<Option<u64>, StoreError> {
        Ok(self.read(group_id)?.and_then(|f| f.epochs.last().map(|(id, _)| *id)))
    }
}

/// The KeyPackage file: private keys by package reference (hex), and which are last-resort.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyPackageFile {
    /// Base64 of each package's mls-encoded [`KeyPackageData`].
    packages: BTreeMap<String, String>,
    /// Last-resort packages: the server hands one out to every adder once the one-time ones run
    /// out (RFC 9420 §16.8), so its keys must outlive a join. mls-rs deletes a package's keys
    /// when a Welcome uses them; for these the delete is ignored.
    last_resort: Vec<String>,
}

/// [`KeyPackageStorage`] over `key_packages.json`. Clones share a lock, so two writes never race.
#[derive(Debug, Clone)]
pub struct FileKeyPackages {
    path: PathBuf,
    lock: Arc<Mutex<()>>,
}

impl FileKeyPackages {
    /// The packages in `root/key_packages.json`.
    pub fn new(root: &Path) -> Self {
        Self { path: root.join("key_packages.json"), lock: Arc::default() }
    }

    fn update<T>(&self, change: impl FnOnce(&mut KeyPackageFile) -> T) -> Result<T, StoreError> {
        let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file: KeyPackageFile = read_json(&self.path)?.unwrap_or_default();
        let out = change(&mut file);
        write_json(&self.path, &file)?;
        Ok(out)
    }

    /// The references of every package held.
    pub fn ids(&self) -> Result<Vec<String>, StoreError> {
        let file: KeyPackageFile = read_json(&self.path)?.unwrap_or_default();
        Ok(file.packages.into_keys().collect())
    }

    /// Marks a package as last-resort: its keys survive the joins it is used for.
    pub fn keep(&self, id: &str) -> Result<(), StoreError> {
        self.update(|f| f.last_resort.push(id.to_owned()))
    }

    /// Drops packages past their lifetime (`now` in seconds since the Unix epoch).
    pub fn prune(&self, now: u64) -> Result<usize, StoreError> {
        let path = self.path.clone();
        self.update(|f| {
            let before = f.packages.len();
            f.packages.retain(|_, data| {
                let bytes = STANDARD.decode(data).unwrap_or_default();
                KeyPackageData::mls_decode(&mut &*bytes).is_ok_and(|d| d.expiration >= now)
            });
            let kept: Vec<String> = f.packages.keys().cloned().collect();
            f.last_resort.retain(|id| kept.contains(id));
            tracing::debug!(path = %path.display(), dropped = before - f.packages.len(), "pruned key packages");
            before - f.packages.len()
        })
    }
}

impl KeyPackageStorage for FileKeyPackages {
    type Error = StoreError;

    fn delete(&mut self, id: &[u8]) -> Result<(), StoreError> {
        let id = hex::encode(id);
        self.update(|f| {
            if !f.last_resort.contains(&id) {
                f.packages.remove(&id);
            }
        })
    }

    fn insert(&mut self, id: Vec<u8>, pkg: KeyPackageData) -> Result<(), StoreError> {
        let bytes = pkg.mls_encode_to_vec().map_err(|e| corrupt(&self.path, e))?;
        self.update(|f| f.packages.insert(hex::encode(id), STANDARD.encode(bytes))).map(drop)
    }

    fn get(&self, id: &[u8]) -> Result<Option<KeyPackageData>, StoreError> {
        let file: KeyPackageFile = read_json(&self.path)?.unwrap_or_default();
        let Some(data) = file.packages.get(&hex::encode(id)) else { return Ok(None) };
        let bytes = decode(&self.path, data)?;
        KeyPackageData::mls_decode(&mut &*bytes).map(Some).map_err(|e| corrupt(&self.path, e))
    }
}

/// What this device knows of one encrypted room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomEntry {
    /// The group's id, hex.
    pub group: String,
}

/// `rooms.json`: room id → [`RoomEntry`].
#[derive(Debug, Clone)]
pub struct RoomIndex {
    path: PathBuf,
}

impl RoomIndex {
    /// The index in `root/rooms.json`.
    pub fn new(root: &Path) -> Self {
        Self { path: root.join("rooms.json") }
    }

    fn all(&self) -> Result<BTreeMap<String, RoomEntry>, StoreError> {
        Ok(read_json(&self.path)?.unwrap_or_default())
    }

    /// The room's entry.
    pub fn get(&self, room: &str) -> Result<Option<RoomEntry>, StoreError> {
        Ok(self.all()?.remove(room))
    }

    /// Sets (`Some`) or forgets (`None`) the room's entry.
    pub fn set(&self, room: &str, entry: Option<RoomEntry>) -> Result<(), StoreError> {
        let mut all = self.all()?;
        match entry {
            Some(e) => all.insert(room.to_owned(), e),
            None => all.remove(room),
        };
        write_json(&self.path, &all)
    }
}
