//! The AsyncAPI document, `docs/asyncapi.yaml`, as JSON Schema validators, and a raw WebSocket
//! connection that checks every frame it sends and receives against them: the drift test's
//! tools. Frames are checked as the text on the wire, not through `starling_client`'s types,
//! which would drop a field the document does not know.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, anyhow, bail};
use futures::{SinkExt, StreamExt};
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::PROMPT;

/// Why a frame or a request does not match the document.
#[derive(Debug, thiserror::Error)]
pub enum Drift {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// A server frame without `type`, or a request without `action`.
    #[error("no {key} to select a schema by: {frame}")]
    Untyped {
        /// `type` or `action`.
        key: &'static str,
        /// The frame.
        frame: String,
    },
    /// No message of the document has this `type` (or `action`).
    #[error("no schema in docs/asyncapi.yaml for {key} {name:?}: {frame}")]
    NoSchema {
        /// `type` or `action`.
        key: &'static str,
        /// Its value.
        name: String,
        /// The frame.
        frame: String,
    },
    /// The schema refuses it.
    #[error("{name} does not match its schema: {errors:?} in {frame}")]
    Invalid {
        /// The `type` or `action`.
        name: String,
        /// Each error with where it is (a JSON pointer into the frame).
        errors: Vec<String>,
        /// The frame.
        frame: String,
    },
}

/// The document's message payloads, by the `const` of their `type` (server frames) or `action`
/// (client requests), as the document's naming convention says they are told apart.
#[derive(Debug)]
pub struct Contract {
    frames: HashMap<String, Validator>,
    requests: HashMap<String, Validator>,
    /// Each frame type's top-level properties, as the schema lists them.
    frame_fields: BTreeMap<String, BTreeSet<String>>,
}

impl Contract {
    /// Reads `docs/asyncapi.yaml`.
    pub fn load() -> anyhow::Result<Self> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/asyncapi.yaml");
        let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
        let doc: Value = serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Self::from_document(&doc)
    }

    /// The validators of every message in `doc`'s `components.messages`.
    pub fn from_document(doc: &Value) -> anyhow::Result<Self> {
        let messages = doc.pointer("/components/messages").and_then(Value::as_object).context("components.messages")?;
        let mut contract = Self { frames: HashMap::new(), requests: HashMap::new(), frame_fields: BTreeMap::new() };
        for (name, message) in messages {
            let payload = message.get("payload").with_context(|| format!("message {name} has no payload"))?;
            let schema = resolve(doc, payload)?;
            // AsyncAPI's default schema format is a superset of draft 7. The references are
            // JSON pointers into the document, so the document's components ride along.
            let root = json!({ "allOf": [payload], "components": doc["components"] });
            let validator = jsonschema::options()
                .with_draft(Draft::Draft7)
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| anyhow!("the schema of {name}: {e}"))?;
            let constant = |key: &str| schema.pointer(&format!("/properties/{key}/const")).and_then(Value::as_str);
            if let Some(kind) = constant("type") {
                let fields = schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
                contract.frame_fields.insert(kind.to_owned(), fields);
                if contract.frames.insert(kind.to_owned(), validator).is_some() {
                    bail!("two messages have type {kind}");
                }
            } else if let Some(action) = constant("action")
                && contract.requests.insert(action.to_owned(), validator).is_some()
            {
                bail!("two messages have action {action}");
            }
        }
        Ok(contract)
    }

    /// Every server frame type the document describes.
    pub fn frame_types(&self) -> BTreeSet<String> {
        self.frames.keys().cloned().collect()
    }

    /// Every client action the document describes.
    pub fn actions(&self) -> BTreeSet<String> {
        self.requests.keys().cloned().collect()
    }

    /// Each frame type's top-level fields, as the schema lists them.
    pub fn frame_fields(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.frame_fields
    }

    /// Checks a server frame against the schema its `type` selects; answers the type.
    pub fn check_frame(&self, frame: &Value) -> Result<String, Drift> {
        check(&self.frames, "type", frame)
    }

    /// Checks a client request against the schema its `action` selects.
    pub fn check_request(&self, request: &Value) -> Result<String, Drift> {
        check(&self.requests, "action", request)
    }
}

fn check(validators: &HashMap<String, Validator>, key: &'static str, frame: &Value) -> Result<String, Drift> {
    let text = frame.to_string();
    if !frame.is_object() {
        return Err(Drift::NotAnObject(text));
    }
    let name = frame.get(key).and_then(Value::as_str).ok_or(Drift::Untyped { key, frame: text.clone() })?;
    let validator =
        validators.get(name).ok_or_else(|| Drift::NoSchema { key, name: name.to_owned(), frame: text.clone() })?;
    let errors: Vec<String> = validator
        .iter_errors(frame)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("at {}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect();
    if errors.is_empty() {
        Ok(name.to_owned())
    } else {
        Err(Drift::Invalid { name: name.to_owned(), errors, frame: text })
    }
}

/// `schema`, or what its `$ref` (a pointer into `doc`) points at.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> anyhow::Result<&'a Value> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(pointer) => {
            let target = pointer.strip_prefix('#').with_context(|| format!("{pointer} is not local"))?;
            doc.pointer(target).with_context(|| format!("{pointer} points at nothing"))
        }
        None => Ok(schema),
    }
}

/// What every [`Wire`] of a test saw: each frame type with the fields it carried, the error
/// codes, and each mismatch with the document.
#[derive(Debug, Default)]
pub struct Seen {
    /// `type` → every field seen on a frame of it; nested list items as `messages[].clientMsgId`.
    pub fields: BTreeMap<String, BTreeSet<String>>,
    /// The `code` of every error frame.
    pub codes: BTreeSet<String>,
    /// The `action` of every request sent through [`Wire::request`].
    pub actions: BTreeSet<String>,
    /// Every frame or request that did not match, described.
    pub drift: Vec<String>,
}

impl Seen {
    fn frame(&mut self, kind: &str, frame: &Value) {
        let fields = self.fields.entry(kind.to_owned()).or_default();
        for (key, value) in frame.as_object().into_iter().flatten() {
            fields.insert(key.clone());
            for item in value.as_array().into_iter().flatten().filter_map(Value::as_object) {
                fields.extend(item.keys().map(|k| format!("{key}[].{k}")));
            }
        }
        if let Some(code) = frame.get("code").and_then(Value::as_str) {
            self.codes.insert(code.to_owned());
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket connection that checks what it sends and receives against the [`Contract`] and
/// records it in a [`Seen`] shared by the test's connections.
#[derive(Debug)]
pub struct Wire {
    name: String,
    ws: Ws,
    buffer: VecDeque<Value>,
    contract: Arc<Contract>,
    seen: Arc<Mutex<Seen>>,
}

impl Wire {
    /// Connects to `url` with `token`; `name` labels what it records.
    pub async fn connect(
        url: &str,
        token: &str,
        name: &str,
        contract: Arc<Contract>,
        seen: Arc<Mutex<Seen>>,
    ) -> anyhow::Result<Self> {
        Self::connect_with(url, &format!("token={token}"), name, contract, seen).await
    }

    /// [`Self::connect`] with the whole handshake query (`token=…&batch=1`).
    pub async fn connect_with(
        url: &str,
        query: &str,
        name: &str,
        contract: Arc<Contract>,
        seen: Arc<Mutex<Seen>>,
    ) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("{url}?{query}")).await.context(url.to_owned())?;
        Ok(Self { name: name.to_owned(), ws, buffer: VecDeque::new(), contract, seen })
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends a request the document must accept (a mismatch is recorded as drift).
    pub async fn request(&mut self, request: Value) -> anyhow::Result<()> {
        match self.contract.check_request(&request) {
            Ok(action) => {
                self.seen().actions.insert(action);
            }
            Err(drift) => self.seen().drift.push(format!("{} sent {drift}", self.name)),
        }
        self.send_raw(request.to_string()).await
    }

    /// Sends `text` as it is, unchecked: for the invalid requests a test sends on purpose.
    pub async fn send_raw(&mut self, text: String) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await.with_context(|| format!("{} sending", self.name))
    }

    /// The first frame, buffered or new, for which `pred` holds; every frame read is checked.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        if let Some(i) = self.buffer.iter().position(&pred) {
            return self.buffer.remove(i).context("buffered frame");
        }
        let deadline = tokio::time::Instant::now() + PROMPT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("{} timed out waiting for {what}; buffered: {:?}", self.name, self.buffer))?;
            let text = match next {
                Some(Ok(Message::Text(text))) => text.to_string(),
                Some(Ok(Message::Close(close))) => bail!("{} closed ({close:?}) waiting for {what}", self.name),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e).with_context(|| format!("{} waiting for {what}", self.name)),
                None => bail!("{} ended waiting for {what}", self.name),
            };
            let frame: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            self.record(&frame);
            if pred(&frame) {
                return Ok(frame);
            }
            self.buffer.push_back(frame);
        }
    }

    /// The next frame of type `kind` (and for which `pred` holds).
    pub async fn expect(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        self.wait_for(kind, |f| f["type"] == kind && pred(f)).await
    }

    /// The next error frame with `code`.
    pub async fn expect_error(&mut self, code: &str) -> anyhow::Result<Value> {
        self.wait_for(&format!("error {code}"), |f| f["type"] == "error" && f["code"] == code).await
    }

    fn record(&self, frame: &Value) {
        let mut seen = self.seen();
        match self.contract.check_frame(frame) {
            Ok(kind) => seen.frame(&kind, frame),
            Err(drift) => seen.drift.push(format!("{} received {drift}", self.name)),
        }
    }

    /// Closes the connection (close 1000) and waits for the server's close.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.ws.close(None).await.context("closing")?;
        while let Ok(Some(Ok(message))) = tokio::time::timeout(PROMPT, self.ws.next()).await {
            if let Message::Text(text) = message {
                self.record(&serde_json::from_str(&text).unwrap_or(Value::String(text.to_string())));
            }
        }
        Ok(())
    }
}
