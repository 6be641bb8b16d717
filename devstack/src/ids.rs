//! Identifiers in API Gateway's shapes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// 11 random-ish bytes in standard base64: 16 characters ending in `=`, like API Gateway's
/// `connectionId`, `requestId`, `messageId` and `extendedRequestId` (e.g. `L0SM9cOFvHcCIhw=`).
pub(crate) fn gateway_id() -> String {
    let bytes = ulid::Ulid::generate().to_bytes();
    // The last 11 bytes: the low byte of the millisecond clock and all 80 random bits. `+` and
    // `/` are swapped for letters so an id is always one clean path segment in
    // `@connections/{id}`.
    STANDARD.encode(&bytes[5..]).replace('+', "P").replace('/', "S")
}

/// A 10-character lowercase API id, like `abcd123456`.
pub(crate) fn api_id() -> String {
    ulid::Ulid::generate().to_string().to_ascii_lowercase().chars().rev().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_api_gateways() {
        let id = gateway_id();
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.ends_with('=') && !id.ends_with("=="), "{id}");
        assert!(!id.contains('/') && !id.contains('+'), "{id}");
        assert_ne!(gateway_id(), gateway_id());
        let api = api_id();
        assert_eq!(api.len(), 10);
        assert!(api.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
