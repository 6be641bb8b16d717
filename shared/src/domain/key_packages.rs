//! The MLS key package directory (RFC 9420 §10, RFC 9750 §5.2; docs/e2e.md): each device of a
//! user publishes one-time KeyPackages and one last-resort KeyPackage, and anyone adding that
//! user to an encrypted group claims one package per device. The server keeps the packages as
//! opaque bytes: it never parses a credential, so clients check that a claimed package's
//! credential names the user and device they asked for.

/// Devices one user may hold packages for. A new device beyond it is refused until one is
/// removed (`keys.remove`).
pub const MAX_DEVICES_PER_USER: usize = 10;
/// One-time packages one device may hold at once. A publish that would go past it is refused
/// whole, saying how many the device holds.
pub const MAX_ONE_TIME_PER_DEVICE: u32 = 100;

/// What a device holds in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceKeys {
    /// One-time packages left: each claim of the user consumes one.
    pub one_time: u32,
    /// Whether the device has a last-resort package, handed out when no one-time package is left.
    pub last_resort: bool,
}

/// One package handed out by a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedKey {
    /// The device it belongs to.
    pub device: String,
    /// The KeyPackage as published (base64 of the serialized `MLSMessage`).
    pub key_package: String,
    /// `true` for the device's last-resort package, which stays and may be handed out again.
    pub last_resort: bool,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored: what the device holds now.
    Published(DeviceKeys),
    /// The user already has packages for [`MAX_DEVICES_PER_USER`] other devices; nothing stored.
    TooManyDevices,
    /// The packages would take the device past [`MAX_ONE_TIME_PER_DEVICE`]; nothing stored.
    TooManyPackages {
        /// One-time packages the device holds.
        held: u32,
    },
}
