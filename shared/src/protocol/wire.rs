//! The size of what the server sends. Every reply and every post is one WebSocket message, and
//! API Gateway takes at most 128 KB for one (its "message payload size" quota, which also binds
//! `@connections` posts: a larger PostToConnection answers 413 `PayloadTooLargeException`).
//! [`WireFrame`] is the one way a [`ServerFrame`] becomes text to send, and it refuses a frame
//! over [`MAX_FRAME_BYTES`]; [`fitting`] is how a list is cut into pages that stay under
//! [`PAGE_BYTES`].

use serde::Serialize;

use super::{ErrorCode, MAX_FRAME_BYTES, ServerFrame};

/// How full a page (`history`, `presence`, `syncPage`) is filled: 120 KiB. AWS writes "128 KB"
/// without saying whether it means 128,000 or 131,072 bytes; 122,880 is under both, and the
/// 8 KiB left over is headroom for the page's own fields. A single item larger than this still
/// travels alone in its page when that frame fits [`MAX_FRAME_BYTES`] (see [`fitting`]).
pub const PAGE_BYTES: usize = 120 * 1024;

/// A frame over [`MAX_FRAME_BYTES`]: a paging bug, or an item that cannot fit any frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} frame of {bytes} bytes is over the {MAX_FRAME_BYTES}-byte message limit; it was not sent")]
pub struct OversizeFrame {
    /// The frame's `type`.
    pub kind: &'static str,
    /// Its serialized length.
    pub bytes: usize,
}

/// A server frame as the JSON text of one WebSocket message, known to be within
/// [`MAX_FRAME_BYTES`]. Only [`WireFrame::encode`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame(String);

impl WireFrame {
    /// Serializes `frame`, refusing it when it is over [`MAX_FRAME_BYTES`].
    pub fn encode(frame: &ServerFrame) -> Result<Self, OversizeFrame> {
        let text = frame.to_json();
        if text.len() > MAX_FRAME_BYTES {
            return Err(OversizeFrame { kind: frame.kind(), bytes: text.len() });
        }
        Ok(Self(text))
    }

    /// Serializes `frame`, or, when it is too large, an `internal` error frame in its place (which
    /// always fits), so a route reply never exceeds the limit.
    pub fn encode_or_error(frame: &ServerFrame, action: Option<&str>) -> Self {
        match Self::encode(frame) {
            Ok(wire) => wire,
            Err(e) => {
                tracing::error!(error = %e, "reply over the message limit; sending an error instead");
                let mut error = super::ProtocolError::new(ErrorCode::Internal, e.to_string());
                error.action = action.map(str::to_owned);
                Self(error.to_frame().to_json())
            }
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text's bytes, as posted.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: a frame is at least `{"type":…}`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The bytes `item` adds to a JSON array: its compact JSON plus a comma.
pub fn item_len<T: Serialize>(item: &T) -> usize {
    // Plain data with string keys cannot fail to serialize; if it did, count it as too large.
    serde_json::to_vec(item).map_or(MAX_FRAME_BYTES, |v| v.len()) + 1
}

/// The serialized length of `frame`, for a page's fixed part (the frame with an empty list).
pub fn frame_len(frame: &ServerFrame) -> usize {
    frame.to_json().len()
}

/// How many of `lens` (the [`item_len`]s of a list, in the order they are taken) fit one page
/// whose fixed part is `overhead` bytes: at most `max_items`, and as many as keep the page within
/// [`PAGE_BYTES`], but always the first when it alone keeps the page within [`MAX_FRAME_BYTES`].
/// Zero only when the list is empty or its first item cannot fit any frame.
pub fn fitting(lens: impl IntoIterator<Item = usize>, overhead: usize, max_items: usize) -> usize {
    fitting_within(lens, overhead, max_items, PAGE_BYTES)
}

/// [`fitting`], for pages of at most `page_bytes` (the first item alone may take up to
/// [`MAX_FRAME_BYTES`], or `page_bytes` if larger).
pub fn fitting_within(
    lens: impl IntoIterator<Item = usize>,
    overhead: usize,
    max_items: usize,
    page_bytes: usize,
) -> usize {
    let mut total = overhead;
    let mut n = 0;
    for len in lens.into_iter().take(max_items) {
        let limit = if n == 0 { MAX_FRAME_BYTES.max(page_bytes) } else { page_bytes };
        if total + len > limit {
            break;
        }
        total += len;
        n += 1;
    }
    n
}

/// `items` cut, in order, into consecutive pieces that each fit a page of `overhead` bytes within
/// `page_bytes` ([`fitting_within`], by `len`), with at least one item each, so it always ends.
pub fn pieces<T>(items: &[T], len: impl Fn(&T) -> usize, overhead: usize, page_bytes: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = fitting_within(rest.iter().map(&len), overhead, usize::MAX, page_bytes).max(1);
        let (piece, after) = rest.split_at(n.min(rest.len()));
        out.push(piece);
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Message;

    #[test]
    fn pieces_keep_order_and_every_item_each_within_the_page_or_alone() {
        let lens = [10, 60, 30, 200, 5, 5, 90, 1];
        for page in [1, 50, 100, 150, 1_000] {
            let cut = pieces(&lens, |l| *l, 7, page);
            assert_eq!(cut.concat(), lens, "page {page}: every item once, in order");
            for piece in &cut {
                let bytes: usize = 7 + piece.iter().sum::<usize>();
                assert!(!piece.is_empty());
                assert!(bytes <= page.max(MAX_FRAME_BYTES) || piece.len() == 1, "page {page}: {piece:?}");
                if piece.len() > 1 {
                    assert!(bytes <= page, "page {page}: {piece:?}");
                }
            }
        }
        assert!(pieces(&[] as &[usize], |l| *l, 0, 10).is_empty());
        assert_eq!(pieces(&lens, |l| *l, 0, 100).len(), 4, "10+60+30 | 200 | 5+5+90 | 1");
    }

    fn message(body: &str, from: &str, client_msg_id: &str) -> Message {
        Message {
            room: "r".repeat(64),
            seq: u64::MAX,
            id: "01JDQ7ZKX8M3N4P5Q6R7S8T9VW".into(),
            from: from.into(),
            body: body.into(),
            sent_at: "2026-11-22T21:00:00.000Z".into(),
            client_msg_id: Some(client_msg_id.into()),
        }
    }

    #[test]
    fn the_largest_message_a_client_can_send_fits_one_frame_even_fully_escaped() {
        // A control character is one byte in the body and six (`\u0001`) in JSON: the worst case
        // of the 16 KiB body, with a 64-character escaped clientMsgId and a long user id.
        let body = "\u{1}".repeat(crate::protocol::MAX_BODY_BYTES);
        let msg = message(&body, &"\u{1}".repeat(1_000), &"\u{1}".repeat(64));
        let frame = ServerFrame::Message(msg.clone());
        let wire = WireFrame::encode(&frame).expect("fits");
        assert!(wire.len() > 98_304, "the body alone escapes to 98,304 bytes: {}", wire.len());
        let page = ServerFrame::SyncPage { room: msg.room.clone(), messages: vec![msg.clone()] };
        let one = fitting([item_len(&msg)], frame_len(&ServerFrame::SyncPage { room: msg.room, messages: vec![] }), 9);
        assert_eq!(one, 1, "it travels alone in a page");
        assert!(WireFrame::encode(&page).is_ok());
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_and_a_reply_becomes_an_internal_error() {
        let msg = message(&"x".repeat(MAX_FRAME_BYTES), "bob", "c");
        let frame = ServerFrame::Message(msg);
        let err = WireFrame::encode(&frame).unwrap_err();
        assert_eq!(err.kind, "message");
        assert!(err.bytes > MAX_FRAME_BYTES);
        let reply = WireFrame::encode_or_error(&frame, Some("history"));
        assert!(reply.as_str().starts_with(r#"{"type":"error","code":"internal""#), "{}", reply.as_str());
        assert!(reply.as_str().contains(r#""action":"history""#));
    }

    #[test]
    fn pages_fill_to_the_page_size_and_never_past_the_frame_limit() {
        assert_eq!(fitting([50_000, 50_000, 50_000], 100, 10), 2, "the third would pass 120 KiB");
        assert_eq!(fitting([50_000, 50_000, 50_000], 100, 1), 1, "the count limit");
        assert_eq!(fitting([125_000, 10], 100, 10), 1, "an item over the page size goes alone");
        assert_eq!(fitting([MAX_FRAME_BYTES], 100, 10), 0, "nothing over the frame limit");
        assert_eq!(fitting(std::iter::empty(), 100, 10), 0);
        // Exactly at the limit is in.
        assert_eq!(fitting([PAGE_BYTES - 100 - 10, 10], 100, 10), 2);
        assert_eq!(fitting([PAGE_BYTES - 100 - 10, 11], 100, 10), 1);
    }
}
