//! One device of a user (docs/e2e.md, "The KeyPackage directory"): its signature key, its MLS
//! client over the files of its state directory, and what it does with them.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs::client_builder::{
    BaseConfig, WithCryptoProvider, WithGroupStateStorage, WithIdentityProvider, WithKeyPackageRepo, WithMlsRules,
};
use mls_rs::crypto::{SignaturePublicKey, SignatureSecretKey};
use mls_rs::group::NewMemberInfo;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::mls_rules::{CommitOptions, DefaultMlsRules, EncryptionOptions};
use mls_rs::{CipherSuite, CipherSuiteProvider, CryptoProvider, MlsMessage};
use mls_rs_crypto_rustcrypto::RustCryptoProvider;
use serde::{Deserialize, Serialize};

use super::E2eError;
use super::store::{FileGroups, FileKeyPackages, RoomIndex, read_json, write_json};

/// Ciphersuite 1, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: the one both Starling clients
/// speak (the TypeScript SDK's ts-mls included).
pub const SUITE: CipherSuite = CipherSuite::CURVE25519_AES128;

/// The mls-rs configuration of a CLI device: its files for groups and KeyPackages, basic
/// credentials, pure-Rust crypto, and [`rules`].
pub type Config = WithIdentityProvider<
    BasicIdentityProvider,
    WithCryptoProvider<
        RustCryptoProvider,
        WithMlsRules<
            DefaultMlsRules,
            WithGroupStateStorage<FileGroups, WithKeyPackageRepo<FileKeyPackages, BaseConfig>>,
        >,
    >,
>;

/// A group of this device.
pub type Group = mls_rs::Group<Config>;

/// The group rules every Starling client follows. The ratchet tree rides in the Welcome because
/// the server keeps no GroupInfo or tree (docs/protocol.md, "Welcomes"). Commits and proposals
/// go as PrivateMessage, so the server sees only their framing (group, epoch, content type), not
/// who is added or removed.
fn rules() -> DefaultMlsRules {
    DefaultMlsRules::new()
        .with_commit_options(CommitOptions::new().with_ratchet_tree_extension(true))
        .with_encryption_options(EncryptionOptions::new(true, Default::default()))
}

/// `device.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceFile {
    user: String,
    device: String,
    /// Base64 Ed25519 secret key (mls-rs's encoding).
    signature_secret: String,
    /// Base64 Ed25519 public key.
    signature_public: String,
}

/// A device: who it is, and its MLS client over its state directory.
#[derive(Debug)]
pub struct Device {
    user: String,
    device: String,
    public: SignaturePublicKey,
    client: mls_rs::Client<Config>,
    groups: FileGroups,
    key_packages: FileKeyPackages,
    rooms: RoomIndex,
    dir: PathBuf,
}

impl Device {
    /// Opens the device kept in `dir`, or makes one there: `user` and `device` must match what
    /// is kept (a state directory is one device of one user). A new device without a `device`
    /// name gets a random one.
    pub fn open(dir: &Path, user: &str, device: Option<&str>) -> Result<Self, E2eError> {
        let path = dir.join("device.json");
        let file = match read_json::<DeviceFile>(&path)? {
            Some(f) => check_kept(f, user, device)?,
            None => {
                let f = new_device(user, device)?;
                write_json(&path, &f)?;
                tracing::info!(dir = %dir.display(), user, device = f.device, "made a new device");
                f
            }
        };
        let secret = SignatureSecretKey::new(decode_key(&path, &file.signature_secret)?);
        let public = SignaturePublicKey::new(decode_key(&path, &file.signature_public)?);
        let identity = format!("{}/{}", file.user, file.device);
        let credential = BasicCredential::new(identity.into_bytes()).into_credential();
        let (groups, key_packages) = (FileGroups::new(dir), FileKeyPackages::new(dir));
        let client = mls_rs::Client::builder()
            .group_state_storage(groups.clone())
            .key_package_repo(key_packages.clone())
            .mls_rules(rules())
            .identity_provider(BasicIdentityProvider)
            .crypto_provider(RustCryptoProvider::new())
            .signing_identity(SigningIdentity::new(credential, public.clone()), secret, SUITE)
            .build();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        key_packages.prune(now)?;
        let rooms = RoomIndex::new(dir);
        Ok(Self { user: file.user, device: file.device, public, client, groups, key_packages, rooms, dir: dir.into() })
    }

    /// The user id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The device id.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The credential's identity, `{user}/{device}`.
    pub fn identity(&self) -> String {
        format!("{}/{}", self.user, self.device)
    }

    /// The signature public key, which with the identity makes the safety number.
    pub fn signature_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The room index.
    pub fn rooms(&self) -> &RoomIndex {
        &self.rooms
    }

    /// The room seq a stored group has processed.
    pub fn cursor(&self, group_id: &[u8]) -> Result<u64, E2eError> {
        Ok(self.groups.cursor(group_id)?)
    }

    /// `n` new one-time KeyPackages, base64; their private keys are in the state directory.
    pub fn key_packages(&self, n: usize) -> Result<Vec<String>, E2eError> {
        (0..n).map(|_| self.key_package()).collect()
    }

    fn key_package(&self) -> Result<String, E2eError> {
        let message = self.client.generate_key_package_message(Default::default(), Default::default(), None)?;
        Ok(STANDARD.encode(message.to_bytes()?))
    }

    /// A new last-resort KeyPackage, base64, whose keys survive the joins that use it.
    pub fn last_resort(&self) -> Result<String, E2eError> {
        let before = self.key_packages.ids()?;
        let package = self.key_package()?;
        for id in self.key_packages.ids()?.into_iter().filter(|id| !before.contains(id)) {
            self.key_packages.keep(&id)?;
        }
        Ok(package)
    }

    /// A new group with this device alone, in epoch 0.
    pub fn create_group(&self) -> Result<Group, E2eError> {
        Ok(self.client.create_group(Default::default(), Default::default(), None)?)
    }

    /// Joins a group from a Welcome (base64), with the ratchet tree it carries.
    pub fn join(&self, welcome: &str) -> Result<(Group, NewMemberInfo), E2eError> {
        let bytes = STANDARD.decode(welcome).map_err(|e| E2eError::Malformed(format!("welcome: {e}")))?;
        let message = MlsMessage::from_bytes(&bytes)?;
        Ok(self.client.join_group(None, &message, None)?)
    }

    /// Loads a stored group.
    pub fn load_group(&self, group_id: &[u8]) -> Result<Group, E2eError> {
        Ok(self.client.load_group(group_id)?)
    }

    /// Writes the group's state, with the room seq it has processed, in one file write.
    pub fn save(&self, group: &mut Group, cursor: u64) -> Result<(), E2eError> {
        self.groups.set_cursor(group.group_id(), cursor);
        group.write_to_storage()?;
        Ok(())
    }

    /// Forgets a group's state.
    pub fn forget(&self, group_id: &[u8]) -> Result<(), E2eError> {
        Ok(self.groups.delete(group_id)?)
    }
}

fn decode_key(path: &Path, text: &str) -> Result<Vec<u8>, E2eError> {
    STANDARD.decode(text).map_err(|e| E2eError::State(format!("{}: a key is not base64: {e}", path.display())))
}

fn check_kept(file: DeviceFile, user: &str, device: Option<&str>) -> Result<DeviceFile, E2eError> {
    if file.user != user {
        return Err(E2eError::State(format!("this state directory is {}'s device, not {user}'s", file.user)));
    }
    match device {
        Some(d) if d != file.device => Err(E2eError::State(format!(
            "this state directory is device {}, not {d}; use another --state for another device",
            file.device
        ))),
        _ => Ok(file),
    }
}

fn new_device(user: &str, device: Option<&str>) -> Result<DeviceFile, E2eError> {
    let device = match device {
        Some(d) => d.to_owned(),
        None => format!("cli-{}", &hex::encode(random_bytes()?)[..12]),
    };
    let valid = !device.is_empty()
        && device.chars().count() <= starling_shared::protocol::MAX_DEVICE_CHARS
        && device.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid {
        return Err(E2eError::State(format!("device {device:?} must be 1 to 64 characters from A-Z a-z 0-9 _ . -")));
    }
    let suite = RustCryptoProvider::new().cipher_suite_provider(SUITE).ok_or(E2eError::Suite)?;
    let (secret, public) = suite.signature_key_generate().map_err(|e| E2eError::State(format!("{e:?}")))?;
    Ok(DeviceFile {
        user: user.to_owned(),
        device,
        signature_secret: STANDARD.encode(secret.as_bytes()),
        signature_public: STANDARD.encode(public.as_bytes()),
    })
}

/// Random bytes for a device name, from the crypto provider's generator.
fn random_bytes() -> Result<Vec<u8>, E2eError> {
    let suite = RustCryptoProvider::new().cipher_suite_provider(SUITE).ok_or(E2eError::Suite)?;
    suite.random_bytes_vec(8).map_err(|e| E2eError::State(format!("{e:?}")))
}
