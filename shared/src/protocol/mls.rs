//! The clear framing of an MLS message (RFC 9420 §6): all the server reads of a body in an
//! encrypted room (docs/e2e.md). No key is involved: `group_id`, `epoch` and `content_type` are
//! sent in the clear in both PublicMessage and PrivateMessage, so the delivery service can order
//! a group's handshake messages without reading them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mls_rs_codec::{MlsDecode, byte_vec};

/// `mls10`, the one protocol version of RFC 9420.
const MLS10: u16 = 1;

/// What an MLS message carries, as its framing says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// An application message: always a PrivateMessage.
    Application,
    /// A proposal, to be committed later.
    Proposal,
    /// A Commit: moves the group to the next epoch.
    Commit,
}

/// The framing of a PublicMessage or PrivateMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// `true` for a PrivateMessage (its content encrypted), `false` for a PublicMessage.
    pub private: bool,
    /// The group it belongs to.
    pub group_id: Vec<u8>,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// What it carries.
    pub content_type: ContentType,
}

/// Reads the framing of `body`, the base64 of one serialized `MLSMessage`; the error is the
/// reason for a `bad_request`. Only the two message wire formats belong in a room: Welcome,
/// GroupInfo and KeyPackage messages are refused, and so is an application message sent as a
/// PublicMessage (RFC 9420 §6.2 forbids it).
pub fn read_framing(body: &str) -> Result<Framing, String> {
    let bytes =
        STANDARD.decode(body).map_err(|e| format!("an encrypted room's body is base64 of an MLS message ({e})"))?;
    let framing = decode(&bytes).map_err(|e| format!("the body is not an MLS message: {e}"))?;
    if !framing.private && framing.content_type == ContentType::Application {
        return Err("an application message must be a PrivateMessage (RFC 9420 §6.2)".into());
    }
    Ok(framing)
}

fn decode(bytes: &[u8]) -> Result<Framing, String> {
    let reader = &mut &bytes[..];
    let err = |e: mls_rs_codec::Error| e.to_string();
    let version = u16::mls_decode(reader).map_err(err)?;
    if version != MLS10 {
        return Err(format!("protocol version {version}, not mls10 (1)"));
    }
    let wire_format = u16::mls_decode(reader).map_err(err)?;
    let private = match wire_format {
        1 => false,
        2 => true,
        3..=5 => {
            return Err(format!(
                "wire format {wire_format} (a Welcome, GroupInfo or KeyPackage) is not a room message"
            ));
        }
        other => return Err(format!("unknown wire format {other}")),
    };
    let group_id: Vec<u8> = byte_vec::mls_decode(reader).map_err(err)?;
    let epoch = u64::mls_decode(reader).map_err(err)?;
    if !private {
        // PublicMessage: the sender and the authenticated data come before the content type.
        match u8::mls_decode(reader).map_err(err)? {
            1 | 2 => {
                u32::mls_decode(reader).map_err(err)?;
            }
            3 | 4 => {}
            other => return Err(format!("unknown sender type {other}")),
        }
        let _authenticated_data: Vec<u8> = byte_vec::mls_decode(reader).map_err(err)?;
    }
    let content_type = match u8::mls_decode(reader).map_err(err)? {
        1 => ContentType::Application,
        2 => ContentType::Proposal,
        3 => ContentType::Commit,
        other => return Err(format!("unknown content type {other}")),
    };
    if reader.is_empty() {
        return Err("it ends after its framing".into());
    }
    Ok(Framing { private, group_id, epoch, content_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    /// A PrivateMessage: version, wire format 2, group id `g1`, epoch 7, then the content type
    /// and (opaque here) the rest.
    fn private(content_type: u8) -> Vec<u8> {
        let mut m = vec![0, 1, 0, 2, 2, b'g', b'1'];
        m.extend(7u64.to_be_bytes());
        m.extend([content_type, 0, 0xAA]);
        m
    }

    #[test]
    fn the_framing_of_private_and_public_messages_is_read_without_keys() {
        let app = read_framing(&b64(&private(1))).unwrap();
        assert_eq!(
            app,
            Framing { private: true, group_id: b"g1".to_vec(), epoch: 7, content_type: ContentType::Application }
        );
        // A PublicMessage commit from member 3 with 2 bytes of authenticated data, epoch 300.
        let mut public = vec![0, 1, 0, 1, 2, b'g', b'1'];
        public.extend(300u64.to_be_bytes());
        public.extend([1, 0, 0, 0, 3, 2, 0xA, 0xB, 3, 0xCC]);
        let commit = read_framing(&b64(&public)).unwrap();
        assert_eq!((commit.private, commit.epoch, commit.content_type), (false, 300, ContentType::Commit));
    }

    #[test]
    fn anything_but_a_room_message_is_refused_with_its_reason() {
        let mut public_app = vec![0, 1, 0, 1, 0];
        public_app.extend(1u64.to_be_bytes());
        public_app.extend([3, 0, 1, 9]);
        let cases: [(String, &str); 8] = [
            ("hello there".into(), "base64"),
            (b64(&[0, 2, 0, 2]), "not mls10"),
            (b64(&[0, 1, 0, 3, 0]), "Welcome"),
            (b64(&[0, 1, 0, 9]), "unknown wire format 9"),
            (b64(&[0, 1, 0, 2, 5, b'g']), "not an MLS message"),
            (b64(&private(4)), "unknown content type 4"),
            (b64(&private(1)[..private(1).len() - 2]), "ends after its framing"),
            (b64(&public_app), "must be a PrivateMessage"),
        ];
        for (body, words) in cases {
            let e = read_framing(&body).unwrap_err();
            assert!(e.contains(words), "{body}: {e}");
        }
    }
}
