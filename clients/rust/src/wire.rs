//! Text to server frames, and which frame answers which request. Requests encode themselves
//! (`Request::to_json`, beside the server's parser).

use crate::{ClientError, Request, ServerFrame};
use starling_shared::protocol::KeyRequest;

/// One server frame from its text; anything else is [`ClientError::Malformed`].
pub fn parse_frame(text: &str) -> Result<ServerFrame, ClientError> {
    serde_json::from_str(text).map_err(|source| ClientError::Malformed { frame: text.to_owned(), source })
}

/// Whether `frame` is the server's reply to `request`: its success frame or an error naming its
/// action. `typing` has no success reply, so only an error answers it. The server does not say
/// whose request a frame replies to, so another user's `read` of the same room also answers a
/// `read`, and another user's `presenceChanged` to the same status answers a `status`.
pub fn answers(request: &Request, frame: &ServerFrame) -> bool {
    if let ServerFrame::Error(e) = frame {
        let same_send = match request {
            // The server leaves out a clientMsgId it refused as too long.
            Request::Send { client_msg_id, .. } => e.client_msg_id.is_none() || e.client_msg_id == *client_msg_id,
            _ => true,
        };
        return e.action.as_deref() == Some(request.action()) && same_send;
    }
    match (request, frame) {
        (Request::Ping, ServerFrame::Pong) => true,
        (Request::Join { room }, ServerFrame::Joined { room: r, .. })
        | (Request::Leave { room }, ServerFrame::Left { room: r })
        | (Request::History { room, .. }, ServerFrame::History { room: r, .. })
        | (Request::Presence { room, .. }, ServerFrame::Presence { room: r, .. })
        | (Request::Read { room, .. }, ServerFrame::Read { room: r, .. })
        | (Request::Stats { room, .. }, ServerFrame::Stats { room: r, .. }) => room.as_str() == r,
        (Request::Send { room, client_msg_id, .. }, ServerFrame::Accepted { room: r, client_msg_id: c, .. }) => {
            room.as_str() == r && client_msg_id == c
        }
        (Request::Sync { rooms, .. }, ServerFrame::Synced { room: r, .. }) => {
            rooms.iter().any(|(room, _)| room.as_str() == r)
        }
        (Request::SetStatus { status }, ServerFrame::PresenceChanged { status: s, .. }) => status == s,
        (Request::Keys(KeyRequest::Claim { user }), ServerFrame::KeyPackages { user: u, .. }) => user == u,
        (Request::Keys(k), ServerFrame::Keys { device, .. }) => match k {
            KeyRequest::Publish { device: d, .. }
            | KeyRequest::Count { device: d }
            | KeyRequest::Remove { device: d } => d == device,
            KeyRequest::Claim { .. } => false,
        },
        (Request::Welcomes(w), ServerFrame::Welcomes { device, .. }) => w.device() == device,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorCode, ErrorFrame, RoomId};

    fn room(name: &str) -> RoomId {
        RoomId::parse(name).unwrap()
    }

    #[test]
    fn server_frames_parse_into_their_variants() {
        let frame = parse_frame(r#"{"type":"joined","room":"lobby","lastSeq":41}"#).unwrap();
        assert_eq!(frame, ServerFrame::Joined { room: "lobby".into(), last_seq: 41 });
        let frame = parse_frame(
            r#"{"type":"message","room":"r","seq":1,"id":"X","from":"alice","body":"hi","sentAt":"t","clientMsgId":"c"}"#,
        )
        .unwrap();
        let ServerFrame::Message(m) = frame else { panic!("not a message: {frame:?}") };
        assert_eq!((m.seq, m.from.as_str(), m.client_msg_id.as_deref()), (1, "alice", Some("c")));
        let frame = parse_frame(r#"{"type":"error","code":"forbidden","message":"no","action":"join"}"#).unwrap();
        assert!(matches!(frame, ServerFrame::Error(ErrorFrame { code: ErrorCode::Forbidden, .. })));
    }

    #[test]
    fn text_that_is_not_a_v1_frame_is_malformed() {
        for text in ["not json", "{}", r#"{"type":"dance"}"#, r#"{"type":"joined","room":"r"}"#] {
            let err = parse_frame(text).unwrap_err();
            assert!(matches!(&err, ClientError::Malformed { frame, .. } if frame == text), "{text}: {err:?}");
            assert!(std::error::Error::source(&err).is_some(), "the parse error is kept");
        }
    }

    fn error(action: &str, client_msg_id: Option<&str>) -> ServerFrame {
        ServerFrame::Error(ErrorFrame {
            code: ErrorCode::Forbidden,
            message: "no".into(),
            action: Some(action.into()),
            client_msg_id: client_msg_id.map(str::to_owned),
            retry_after_ms: None,
            reason: None,
            epoch: None,
        })
    }

    #[test]
    fn a_reply_answers_only_its_own_request() {
        let join = Request::Join { room: room("lobby") };
        assert!(answers(&join, &ServerFrame::Joined { room: "lobby".into(), last_seq: 0 }));
        assert!(!answers(&join, &ServerFrame::Joined { room: "other".into(), last_seq: 0 }));
        assert!(answers(&join, &error("join", None)));
        assert!(!answers(&join, &error("send", None)));
        assert!(!answers(&join, &ServerFrame::Pong));
        assert!(answers(&Request::Ping, &ServerFrame::Pong));

        let send =
            Request::Send { room: room("r"), body: "b".into(), client_msg_id: Some("c-1".into()), welcome: None };
        let accepted =
            |c: &str| ServerFrame::Accepted { room: "r".into(), client_msg_id: Some(c.into()), id: "X".into() };
        assert!(answers(&send, &accepted("c-1")));
        assert!(!answers(&send, &accepted("c-2")));
        assert!(answers(&send, &error("send", Some("c-1"))));
        assert!(!answers(&send, &error("send", Some("c-2"))));

        let typing = Request::Typing { room: room("r") };
        assert!(answers(&typing, &error("typing", None)));
        assert!(!answers(&typing, &ServerFrame::Typing { room: "r".into(), user: "bob".into() }));

        let sync = Request::Sync { rooms: vec![(room("a"), None), (room("b"), Some(1))], pages: true };
        let synced = |r: &str| ServerFrame::Synced { room: r.into(), recovered: true, last_seq: 1, has_more: false };
        assert!(answers(&sync, &synced("b")) && !answers(&sync, &synced("c")));
    }

    #[test]
    fn key_and_welcome_replies_answer_by_device_and_user() {
        use starling_shared::protocol::WelcomeRequest;
        let keys = |d: &str| ServerFrame::Keys { device: d.into(), one_time: 1, last_resort: false };
        let count = Request::Keys(KeyRequest::Count { device: "phone".into() });
        assert!(answers(&count, &keys("phone")) && !answers(&count, &keys("laptop")));
        let claim = Request::Keys(KeyRequest::Claim { user: "bob".into() });
        let claimed = |u: &str| ServerFrame::KeyPackages { user: u.into(), key_packages: vec![] };
        assert!(answers(&claim, &claimed("bob")) && !answers(&claim, &claimed("carol")));
        assert!(!answers(&claim, &keys("phone")), "a claim is answered by keyPackages only");
        let list = Request::Welcomes(WelcomeRequest::List { device: "phone".into() });
        let welcomes = |d: &str| ServerFrame::Welcomes { device: d.into(), welcomes: vec![], has_more: false };
        assert!(answers(&list, &welcomes("phone")) && !answers(&list, &welcomes("pc")));
    }
}
