//! The client against the real protocol: an in-memory devstack on a free port.

use starling_client::{Client, ClientError, ErrorCode, Request, RoomId, ServerFrame};
use starling_devstack::Config;

const SECRET: &str = "client-test-secret";

fn token(user: &str) -> String {
    starling_shared::auth::mint_for(SECRET.as_bytes(), user, 600).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devstack_accepts_every_typed_request_the_client_sends() {
    let stack =
        starling_devstack::serve(Config { port: 0, jwt_secret: SECRET.into(), ..Config::default() }).await.unwrap();
    let room = RoomId::parse("lobby").unwrap();
    let mut alice = Client::connect(&stack.ws_url(), &token("alice")).await.unwrap();
    assert_eq!(alice.join(&room).await.unwrap(), 0);

    let send =
        Request::Send { room: room.clone(), body: "hi".into(), client_msg_id: Some("c-1".into()), welcome: None };
    assert!(matches!(alice.request(&send).await.unwrap(), ServerFrame::Accepted { .. }));
    let delivered = alice.wait_for(|f| matches!(f, ServerFrame::Message(m) if m.seq == 1)).await.unwrap();
    assert!(matches!(delivered, ServerFrame::Message(m) if m.body == "hi" && m.from == "alice"));

    let history = Request::History { room: room.clone(), before: None, limit: 10 };
    let ServerFrame::History { messages, has_more, .. } = alice.request(&history).await.unwrap() else {
        panic!("not a history page")
    };
    assert_eq!((messages.len(), has_more), (1, false));

    let sync = Request::Sync { rooms: vec![(room.clone(), Some(0))], pages: true };
    assert!(matches!(alice.request(&sync).await.unwrap(), ServerFrame::Synced { last_seq: 1, .. }));
    assert!(matches!(alice.request(&Request::Read { room: room.clone(), seq: 1 }).await, Ok(ServerFrame::Read { .. })));
    let refused = alice.request(&Request::Join { room: RoomId::parse("dm:bob:carol").unwrap() }).await;
    assert!(matches!(refused, Err(ClientError::Server(e)) if e.code == ErrorCode::Forbidden));
    alice.ping().await.unwrap();
    alice.close().await.unwrap();

    let refused = Client::connect(&stack.ws_url(), "not.a.jwt").await.unwrap_err();
    assert!(matches!(refused, ClientError::Refused { status: 401, .. }), "{refused:?}");
    stack.shutdown().await;
}
