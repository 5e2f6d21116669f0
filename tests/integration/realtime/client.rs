//! A small client of the realtime protocol, on tokio-tungstenite: connects with the token in the
//! query or in `Sec-WebSocket-Protocol`, sends JSON, and keeps what it received as the client
//! state the protocol promises (`welcome` + every `event` after it = the session now).
//!
//! A background task reads the socket all the time (so WebSocket pings are answered as a real
//! client would); [`Stalled`] is a connection nobody reads, for heartbeat and slow-consumer tests.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The subprotocol of version 1.
pub const SUBPROTOCOL: &str = "livesurgery.v1";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where the token goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `?token=<jwt>`.
    Query,
    /// `Sec-WebSocket-Protocol: livesurgery.v1, bearer.<jwt>`.
    Subprotocol,
}

/// An HTTP answer instead of the upgrade.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    /// The body, as far as the handshake read it.
    pub text: String,
}

/// Something the socket produced.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A text frame, parsed.
    Json(Value),
    /// A close frame from the server (`code` `None`: a close frame without a code).
    Closed { code: Option<u16>, reason: String },
    /// The stream ended or failed without a close frame (or sent something that is not JSON).
    Ended(String),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closing {
    /// The close frame's code; `None` when the connection ended without one.
    pub code: Option<u16>,
    pub reason: String,
}

/// What a client knows, folded from what it received.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// The last `welcome`.
    pub welcome: Option<Value>,
    /// How many `welcome`s arrived (a successful resume sends none).
    pub welcomes: usize,
    /// The last log position seen (of the welcome or an event).
    pub position: u64,
    pub layout_version: u64,
    /// The panels by id, each `{id, x, y, w, h, z, source_id}`.
    pub panels: BTreeMap<String, Value>,
    /// Present participants by id.
    pub participants: BTreeMap<String, Value>,
    /// Every `event` message, in arrival order.
    pub events: Vec<Value>,
    /// `ack`s by ref.
    pub acks: HashMap<String, Value>,
    pub errors: Vec<Value>,
    pub pongs: Vec<Value>,
    pub resumed: Vec<Value>,
    /// Anything else the server sent.
    pub unknown: Vec<Value>,
    /// Broken promises: positions not increasing, stream versions not contiguous, a ref
    /// answered twice.
    pub violations: Vec<String>,
    /// Every message, in order (for failure messages).
    pub log: Vec<Value>,
    last_version: HashMap<String, u64>,
}

impl State {
    /// Folds one server message.
    pub fn apply(&mut self, msg: &Value) {
        // Every message the server really sends must match its schema in schemas/ws/.
        if let Err(error) = crate::realtime_schemas::validate_ws_message(msg) {
            panic!("the server sent a message that breaks schemas/ws: {error}\n{msg}");
        }
        self.log.push(msg.clone());
        match msg["type"].as_str().unwrap_or_default() {
            "welcome" => {
                self.welcomes += 1;
                self.position = msg["position"].as_u64().unwrap_or_default();
                let session = &msg["session"];
                self.layout_version = session["layout"]["version"].as_u64().unwrap_or_default();
                self.panels = panel_map(&session["layout"]["panels"]);
                self.participants = session["participants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p["participant_id"].as_str().unwrap_or("").to_owned(),
                            p.clone(),
                        )
                    })
                    .collect();
                // A snapshot says nothing of stream versions: the next event starts afresh.
                self.last_version.clear();
                self.welcome = Some(msg.clone());
            }
            "event" => self.apply_event(msg),
            "ack" => {
                let reference = msg["ref"].as_str().unwrap_or_default().to_owned();
                if self.acks.insert(reference.clone(), msg.clone()).is_some()
                    || self.error_for(&reference).is_some()
                {
                    self.violations
                        .push(format!("ref {reference} answered twice: {msg}"));
                }
            }
            "error" => {
                if let Some(reference) = msg["ref"].as_str()
                    && (self.acks.contains_key(reference) || self.error_for(reference).is_some())
                {
                    self.violations
                        .push(format!("ref {reference} answered twice: {msg}"));
                }
                self.errors.push(msg.clone());
            }
            "pong" => self.pongs.push(msg.clone()),
            "resumed" => self.resumed.push(msg.clone()),
            _ => self.unknown.push(msg.clone()),
        }
    }

    fn apply_event(&mut self, msg: &Value) {
        let position = msg["position"].as_u64().unwrap_or_default();
        if position <= self.position {
            self.violations.push(format!(
                "event at position {position} after position {}",
                self.position
            ));
        }
        self.position = position;
        let stream = msg["stream"].as_str().unwrap_or_default().to_owned();
        let version = msg["version"].as_u64().unwrap_or_default();
        if let Some(last) = self.last_version.insert(stream.clone(), version)
            && version != last + 1
        {
            self.violations
                .push(format!("{stream} version {version} follows {last}"));
        }
        let data = &msg["data"];
        match msg["event_type"].as_str().unwrap_or_default() {
            "LayoutUpdated" => {
                self.panels = panel_map(&data["panels"]);
                self.layout_version = data["version"].as_u64().unwrap_or_default();
            }
            "SourceSelected" => {
                let panel_id = data["panel_id"].as_str().unwrap_or_default();
                if let Some(panel) = self.panels.get_mut(panel_id) {
                    panel["source_id"] = data["source_id"].clone();
                }
                self.layout_version = data["layout_version"].as_u64().unwrap_or_default();
            }
            "ParticipantJoined" => {
                let id = data["participant_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.participants.insert(id, data.clone());
            }
            "ParticipantLeft" => {
                self.participants
                    .remove(data["participant_id"].as_str().unwrap_or_default());
            }
            _ => {}
        }
        self.events.push(msg.clone());
    }

    /// The error answering `reference`, if any.
    pub fn error_for(&self, reference: &str) -> Option<&Value> {
        self.errors.iter().find(|e| e["ref"] == reference)
    }

    /// Whether `reference` got its `ack` or `error`.
    pub fn answered(&self, reference: &str) -> bool {
        self.acks.contains_key(reference) || self.error_for(reference).is_some()
    }

    /// The positions of the events received, in order.
    pub fn positions(&self) -> Vec<u64> {
        self.events
            .iter()
            .map(|e| e["position"].as_u64().unwrap_or_default())
            .collect()
    }

    /// The events of this type whose data names this participant.
    pub fn presence_events(&self, event_type: &str, participant: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["event_type"] == event_type && e["data"]["participant_id"] == participant)
            .collect()
    }

    /// The last few messages, for a failure message.
    pub fn tail(&self) -> String {
        let from = self.log.len().saturating_sub(6);
        self.log[from..]
            .iter()
            .map(|m| {
                let text = m.to_string();
                if text.len() > 400 {
                    format!("{}…", &text[..400])
                } else {
                    text
                }
            })
            .collect::<Vec<_>>()
            .join("\n    ")
    }
}

/// Panels (a JSON array) by id, each reduced to the seven fields of a panel and its `name`
/// when it has one.
pub fn panel_map(panels: &Value) -> BTreeMap<String, Value> {
    panels
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let id = p["id"].as_str().unwrap_or_default().to_owned();
            let mut panel = json!({
                "id": p["id"], "x": p["x"], "y": p["y"], "w": p["w"], "h": p["h"],
                "z": p["z"], "source_id": p["source_id"],
            });
            if let Some(name) = p.get("name") {
                panel["name"] = name.clone();
            }
            (id, panel)
        })
        .collect()
}

/// `host:port` of a `ws://host:port/...` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// The WebSocket handshake over a fresh TCP connection; `recv_buffer` shrinks the socket's
/// receive buffer (a client that reads nothing then backs up the server quickly).
async fn handshake(
    url: &str,
    token: Option<&str>,
    auth: Auth,
    recv_buffer: Option<u32>,
) -> Result<(Ws, Option<String>), Refusal> {
    let full = match (auth, token) {
        (Auth::Query, Some(token)) => format!("{url}?token={token}"),
        _ => url.to_owned(),
    };
    let mut request = full
        .as_str()
        .into_client_request()
        .unwrap_or_else(|e| panic!("{url} is not a WebSocket URL: {e}"));
    if let (Auth::Subprotocol, Some(token)) = (auth, token) {
        let offer = format!("{SUBPROTOCOL}, bearer.{token}");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&offer).expect("a header value"),
        );
    }
    let addr = tokio::net::lookup_host(authority(url))
        .await
        .expect("resolving the server")
        .next()
        .expect("an address");
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .expect("a socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let tcp = socket
        .connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)).await {
        Ok((ws, response)) => {
            let protocol = response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((ws, protocol))
        }
        Err(WsError::Http(response)) => Err(Refusal {
            status: response.status().as_u16(),
            text: response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        }),
        Err(other) => panic!("WebSocket handshake with {url} failed: {other}"),
    }
}

/// Reads the socket until it ends, forwarding what it reads.
async fn pump(mut stream: SplitStream<Ws>, tx: mpsc::UnboundedSender<Incoming>) {
    while let Some(frame) = stream.next().await {
        let item = match frame {
            Ok(Message::Text(text)) => match serde_json::from_str(text.as_str()) {
                Ok(value) => Incoming::Json(value),
                Err(e) => Incoming::Ended(format!("a text frame that is not JSON ({e}): {text}")),
            },
            Ok(Message::Binary(bytes)) => Incoming::Ended(format!(
                "an unexpected binary frame ({} bytes)",
                bytes.len()
            )),
            Ok(Message::Close(frame)) => Incoming::Closed {
                code: frame.as_ref().map(|f| u16::from(f.code)),
                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
            },
            // Pings are answered by tungstenite while this task reads.
            Ok(_) => continue,
            Err(e) => {
                let _ = tx.send(Incoming::Ended(e.to_string()));
                return;
            }
        };
        if tx.send(item).is_err() {
            return;
        }
    }
    let _ = tx.send(Incoming::Ended("end of stream".into()));
}

/// A connected client.
pub struct WsClient {
    pub label: String,
    sink: SplitSink<Ws, Message>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    reader: JoinHandle<()>,
    pub state: State,
    /// How the connection ended, once it did.
    pub closed: Option<Closing>,
    /// The subprotocol the server selected.
    pub subprotocol: Option<String>,
}

impl WsClient {
    fn start(ws: Ws, label: &str, subprotocol: Option<String>, state: State) -> WsClient {
        let (sink, stream) = ws.split();
        let (tx, rx) = mpsc::unbounded_channel();
        WsClient {
            label: label.to_owned(),
            sink,
            rx,
            reader: tokio::spawn(pump(stream, tx)),
            state,
            closed: None,
            subprotocol,
        }
    }

    /// Connects, or returns the HTTP refusal.
    pub async fn try_connect(
        url: &str,
        token: Option<&str>,
        auth: Auth,
        label: &str,
    ) -> Result<WsClient, Refusal> {
        let (ws, protocol) = handshake(url, token, auth, None).await?;
        Ok(WsClient::start(ws, label, protocol, State::default()))
    }

    /// Connects with `?token=`; sends nothing.
    pub async fn connect(url: &str, token: &str, label: &str) -> WsClient {
        Self::connect_with_state(url, token, label, State::default()).await
    }

    /// Connects with `?token=`, keeping what an earlier connection of this client knew (to
    /// resume).
    pub async fn connect_with_state(url: &str, token: &str, label: &str, state: State) -> WsClient {
        let (ws, protocol) = handshake(url, Some(token), Auth::Query, None)
            .await
            .unwrap_or_else(|r| panic!("{label}: refused with {}: {}", r.status, r.text));
        WsClient::start(ws, label, protocol, state)
    }

    /// Connects, sends `ping` at once and waits for the `welcome` (which must come first) and
    /// the `pong`.
    pub async fn welcomed(url: &str, token: &str, label: &str) -> WsClient {
        let mut client = WsClient::connect(url, token, label).await;
        client.send(json!({"type": "ping", "ref": "hello"})).await;
        let first = client.recv(Duration::from_secs(10)).await;
        assert_eq!(
            first["type"], "welcome",
            "{label}: the first message is not a welcome: {first}"
        );
        client
            .until(Duration::from_secs(10), "the pong of the first ping", |m| {
                m["type"] == "pong"
            })
            .await;
        client
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends a text frame as is.
    pub async fn send_text(&mut self, text: &str) {
        let label = &self.label;
        self.sink
            .send(Message::text(text.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{label}: sending failed: {e}"));
    }

    fn take(&mut self, item: Incoming) -> Incoming {
        match &item {
            Incoming::Json(value) => self.state.apply(value),
            Incoming::Closed { code, reason } => {
                self.closed.get_or_insert(Closing {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            Incoming::Ended(why) => {
                self.closed.get_or_insert(Closing {
                    code: None,
                    reason: why.clone(),
                });
            }
        }
        item
    }

    /// The next thing the socket produced within `within` (`None`: nothing in time).
    pub async fn next(&mut self, within: Duration) -> Option<Incoming> {
        match tokio::time::timeout(within, self.rx.recv()).await {
            Ok(Some(item)) => Some(self.take(item)),
            Ok(None) => Some(self.take(Incoming::Ended("reader gone".into()))),
            Err(_) => None,
        }
    }

    /// Folds everything already received, without waiting.
    pub fn drain(&mut self) {
        while let Ok(item) = self.rx.try_recv() {
            self.take(item);
        }
    }

    /// Reads (and folds) for `span`.
    pub async fn pump_for(&mut self, span: Duration) {
        let until = Instant::now() + span;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if self.closed.is_some() || self.next(left).await.is_none() {
                return;
            }
        }
    }

    /// The next message; panics on a timeout or the end of the connection.
    #[track_caller]
    pub fn recv(&mut self, within: Duration) -> impl Future<Output = Value> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next(within).await {
                Some(Incoming::Json(value)) => value,
                other => panic!(
                    "{} ({caller}): expected a message within {within:?}, got {other:?}; last:\n    {}",
                    self.label,
                    self.state.tail()
                ),
            }
        }
    }

    /// Reads until a message satisfies `pred`; returns it. Panics at the deadline or at the end
    /// of the connection.
    #[track_caller]
    pub fn until<'a>(
        &'a mut self,
        within: Duration,
        what: &'a str,
        mut pred: impl FnMut(&Value) -> bool + 'a,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left).await {
                    Some(Incoming::Json(value)) if pred(&value) => return value,
                    Some(Incoming::Json(_)) => {}
                    other => panic!(
                        "{} ({caller}): waiting for {what} within {within:?}, got {other:?}; last:\n    {}",
                        self.label,
                        self.state.tail()
                    ),
                }
            }
        }
    }

    /// Reads until the folded state satisfies `pred`. Panics at the deadline or at the end of
    /// the connection.
    #[track_caller]
    pub fn wait_for<'a>(
        &'a mut self,
        within: Duration,
        what: &'a str,
        pred: impl Fn(&State) -> bool + 'a,
    ) -> impl Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            self.drain();
            while !pred(&self.state) {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left).await {
                    Some(Incoming::Json(_)) => {}
                    other => panic!(
                        "{} ({caller}): waiting for {what} within {within:?}, got {other:?}; last:\n    {}",
                        self.label,
                        self.state.tail()
                    ),
                }
            }
        }
    }

    /// Reads until the connection ends; how it ended. Panics if it is still open at the
    /// deadline.
    #[track_caller]
    pub fn closing(&mut self, within: Duration) -> impl Future<Output = Closing> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let deadline = Instant::now() + within;
            while self.closed.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                if self.next(left).await.is_none() {
                    panic!(
                        "{} ({caller}): still open after {within:?}; last:\n    {}",
                        self.label,
                        self.state.tail()
                    );
                }
            }
            self.closed.clone().expect("closed")
        }
    }

    /// A clean close: a close frame (1000), then the server's answer (the server closes the
    /// TCP connection when it likes; this client does not wait for that).
    pub async fn close(mut self) -> State {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        };
        // The server may have closed first; then there is nothing to do.
        let _ = self.sink.send(Message::Close(Some(frame))).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.next(left).await.is_none() {
                panic!(
                    "{}: no answer to its close frame; last:\n    {}",
                    self.label,
                    self.state.tail()
                );
            }
        }
        self.reader.abort();
        self.state
    }

    /// Drops the TCP connection without a close frame (a network cut); returns what the client
    /// knew, to resume with.
    pub async fn cut(mut self) -> State {
        self.drain();
        self.reader.abort();
        let _ = (&mut self.reader).await;
        drop(self.sink);
        self.state
    }
}

/// A connection that nobody reads: it answers no ping and lets the server's frames pile up.
pub struct Stalled {
    ws: Ws,
    label: String,
}

impl Stalled {
    /// Connects with `?token=` and a small receive buffer, and reads nothing.
    pub async fn connect(url: &str, token: &str, label: &str) -> Stalled {
        let (ws, _) = handshake(url, Some(token), Auth::Query, Some(4096))
            .await
            .unwrap_or_else(|r| panic!("{label}: refused with {}: {}", r.status, r.text));
        Stalled {
            ws,
            label: label.to_owned(),
        }
    }

    /// Starts reading again (whatever the buffers held first).
    pub fn wake(self) -> WsClient {
        WsClient::start(self.ws, &self.label, None, State::default())
    }
}
