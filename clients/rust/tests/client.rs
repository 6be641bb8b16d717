//! The client against a scripted one-connection WebSocket server on a free port.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use starling_client::{Client, ClientError, Close, ErrorCode, Request, RoomId, ServerFrame};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request as Handshake, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{WebSocketStream, accept_hdr_async};

type ServerWs = WebSocketStream<TcpStream>;

/// What the client's handshake carried.
#[derive(Debug)]
struct Seen {
    uri: String,
    authorization: Option<String>,
}

/// Accepts one connection on a free port and runs `script` on the server side of it.
#[expect(clippy::result_large_err, reason = "tungstenite fixes the handshake callback's error type")]
async fn serve<Fut>(script: impl FnOnce(ServerWs) -> Fut + Send + 'static) -> (String, JoinHandle<Seen>)
where
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/local", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut seen = None;
        let record = |req: &Handshake, resp: Response| {
            let authorization = req.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
            seen = Some(Seen { uri: req.uri().to_string(), authorization });
            Ok(resp)
        };
        let ws = accept_hdr_async(tcp, record).await.unwrap();
        script(ws).await;
        seen.unwrap()
    });
    (url, task)
}

/// A server that answers every handshake with `status` and `body`.
#[expect(clippy::result_large_err, reason = "tungstenite fixes the handshake callback's error type")]
async fn refuse(status: u16, body: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/local", listener.local_addr().unwrap());
    let body = body.to_owned();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let refuse = |_: &Handshake, _: Response| {
            let mut resp = ErrorResponse::new(Some(body));
            *resp.status_mut() = status.try_into().unwrap();
            Err(resp)
        };
        let _ = accept_hdr_async(tcp, refuse).await;
    });
    url
}

async fn next_text(ws: &mut ServerWs) -> String {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => return t.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn push(ws: &mut ServerWs, frames: &[&str]) {
    for f in frames {
        ws.send(Message::text(*f)).await.unwrap();
    }
}

/// Keeps the server side open until the client goes away.
async fn drain(mut ws: ServerWs) {
    while let Some(Ok(_)) = ws.next().await {}
}

fn lobby() -> RoomId {
    RoomId::parse("lobby").unwrap()
}

#[tokio::test]
async fn the_token_goes_in_the_query() {
    let (url, server) = serve(drain).await;
    Client::connect(&url, "abc.def.ghi").await.unwrap().close().await.unwrap();
    assert_eq!(server.await.unwrap().uri, "/local?token=abc.def.ghi");

    let (url, server) = serve(drain).await;
    Client::connect(&format!("{url}?v=1"), "a b").await.unwrap().close().await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen.uri.as_str(), seen.authorization), ("/local?v=1&token=a%20b", None), "never in a header");
}

#[tokio::test]
async fn a_refused_handshake_surfaces_the_status_and_says_what_to_do() {
    let url = refuse(401, "token expired").await;
    let err = Client::connect(&url, "old").await.unwrap_err();
    assert!(matches!(&err, ClientError::Refused { status: 401, body } if body == "token expired"), "{err:?}");
    assert!(err.to_string().contains("connect with a fresh token"), "{err}");
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error_that_hides_the_token() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let err = Client::connect(&format!("ws://127.0.0.1:{port}/local"), "secret-token").await.unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
    assert!(!err.to_string().contains("secret-token"), "{err}");
}

#[tokio::test]
async fn a_request_gets_its_reply_and_other_frames_stay_buffered_in_order() {
    let (url, server) = serve(|mut ws| async move {
        assert_eq!(next_text(&mut ws).await, r#"{"action":"join","room":"lobby"}"#);
        push(&mut ws, &[r#"{"type":"pong"}"#, r#"{"type":"typing","room":"lobby","user":"bob"}"#]).await;
        push(&mut ws, &[r#"{"type":"joined","room":"lobby","lastSeq":7}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    assert_eq!(client.join(&lobby()).await.unwrap(), 7);
    let buffered: Vec<_> = client.buffered().cloned().collect();
    assert_eq!(buffered, [ServerFrame::Pong, ServerFrame::Typing { room: "lobby".into(), user: "bob".into() }]);
    assert_eq!(client.recv().await.unwrap(), ServerFrame::Pong);
    client.close().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn an_error_reply_is_a_server_error_with_the_frame() {
    let (url, _server) = serve(|mut ws| async move {
        next_text(&mut ws).await;
        push(&mut ws, &[r#"{"type":"error","code":"forbidden","message":"no","action":"join"}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    let err = client.join(&lobby()).await.unwrap_err();
    assert_eq!(err.error_frame().map(|e| e.code), Some(ErrorCode::Forbidden), "{err:?}");
    assert!(err.to_string().contains("join the room first"), "{err}");
}

#[tokio::test]
async fn waiting_fails_with_a_timeout_when_nothing_matches() {
    let (url, _server) = serve(|mut ws| async move {
        push(&mut ws, &[r#"{"type":"pong"}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    client.set_timeout(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = client.wait_for(|f| matches!(f, ServerFrame::Joined { .. })).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { waited } if waited == Duration::from_millis(200)), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(err.to_string().contains("within 200ms"), "{err}");
    assert_eq!(client.buffered().count(), 1, "the pong read while waiting is kept");
}

#[tokio::test]
async fn the_close_code_and_reason_are_surfaced() {
    let close = CloseFrame { code: CloseCode::Size, reason: "frame too big".into() };
    let (url, _server) = serve(|mut ws| async move {
        push(&mut ws, &[r#"{"type":"pong"}"#]).await;
        ws.close(Some(close)).await.unwrap();
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    assert_eq!(client.closed().await.unwrap(), Close { code: 1009, reason: "frame too big".into() });
    assert_eq!(client.recv().await.unwrap(), ServerFrame::Pong, "frames before the close are kept");

    let (url, _server) = serve(|mut ws| async move {
        ws.close(None).await.unwrap();
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    let err = client.recv().await.unwrap_err();
    assert!(matches!(&err, ClientError::Closed(Close { code: 1005, .. })), "{err:?}");
    assert!(err.to_string().contains("open a new one"), "{err}");
}

#[tokio::test]
async fn a_dropped_connection_is_an_abnormal_close() {
    let (url, _server) = serve(|ws| async move { drop(ws) }).await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    match client.recv().await {
        Err(ClientError::Closed(Close { code: 1006, .. }) | ClientError::Transport(_)) => {}
        other => panic!("expected the connection to be gone, got {other:?}"),
    }
}

#[tokio::test]
async fn a_malformed_frame_is_an_error_and_the_connection_stays_usable() {
    let (url, _server) = serve(|mut ws| async move {
        push(&mut ws, &["this is not json", r#"{"type":"dance"}"#, r#"{"type":"pong"}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    for text in ["this is not json", r#"{"type":"dance"}"#] {
        let err = client.recv().await.unwrap_err();
        assert!(matches!(&err, ClientError::Malformed { frame, .. } if frame == text), "{err:?}");
    }
    assert_eq!(client.recv().await.unwrap(), ServerFrame::Pong);
}

#[tokio::test]
async fn raw_and_fragmented_text_arrive_as_sent() {
    let (url, server) = serve(|mut ws| async move {
        assert_eq!(next_text(&mut ws).await, "not a request");
        assert_eq!(next_text(&mut ws).await, "abcdefghij");
        next_text(&mut ws).await;
        push(&mut ws, &[r#"{"type":"pong"}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    client.send_text("not a request").await.unwrap();
    client.send_fragmented("abcdefghij", 3).await.unwrap();
    client.ping().await.unwrap();
    client.close().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn typed_requests_are_sent_as_protocol_json() {
    let (url, server) = serve(|mut ws| async move {
        let text = next_text(&mut ws).await;
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, serde_json::json!({"action": "send", "room": "lobby", "body": "hi", "clientMsgId": "c-1"}));
        push(&mut ws, &[r#"{"type":"accepted","room":"lobby","clientMsgId":"c-1","id":"X"}"#]).await;
        drain(ws).await;
    })
    .await;
    let mut client = Client::connect(&url, "t").await.unwrap();
    let send = Request::Send { room: lobby(), body: "hi".into(), client_msg_id: Some("c-1".into()), welcome: None };
    let reply = client.request(&send).await.unwrap();
    assert!(matches!(reply, ServerFrame::Accepted { id, .. } if id == "X"));
    client.close().await.unwrap();
    server.await.unwrap();
}
