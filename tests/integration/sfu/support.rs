//! The aiortc peer (`tests/webrtc/peer.py`) driven from the tests: finding a Python that has
//! aiortc (or skipping loudly), spawning publishers and subscribers, reading their JSON lines,
//! and reading a session's media events back from its log.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::api::spawn::TestApp;
use crate::realtime::{Joined, session_events};

/// Set to `1` (as CI does), a missing aiortc fails the tests instead of skipping them.
pub const REQUIRE_ENV: &str = "LIVESURGERY_REQUIRE_WEBRTC";
/// The Python to run the peer with; default: the venv of `.ci/install-webrtc.sh`, else `python3`.
pub const PYTHON_ENV: &str = "LIVESURGERY_WEBRTC_PYTHON";

/// How long a peer may take to start, post its offer and connect.
pub const CONNECT: Duration = Duration::from_secs(20);

pub const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webrtc/peer.py");

/// The Python that can import aiortc, av and numpy, if there is one.
pub fn python() -> Option<&'static PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/webrtc-venv/bin/python3");
            let python = match std::env::var_os(PYTHON_ENV) {
                Some(python) => PathBuf::from(python),
                None if venv.exists() => venv,
                None => PathBuf::from("python3"),
            };
            let imports = std::process::Command::new(&python)
                .args(["-c", "import aiortc, av, numpy"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            matches!(imports, Ok(status) if status.success()).then_some(python)
        })
        .as_ref()
}

/// Whether `test` can run: aiortc is there. Otherwise it says so loudly and the test returns,
/// unless [`REQUIRE_ENV`] is `1`: then it fails.
pub fn webrtc_ready(test: &str) -> bool {
    let missing = python()
        .is_none()
        .then(|| "aiortc not installed".to_owned());
    crate::helpers::prerequisites_met(test, missing, REQUIRE_ENV, "bash .ci/install-webrtc.sh")
}

/// The WHIP/WHEP URLs and token that `participants:join` handed out.
#[derive(Debug, Clone)]
pub struct Sfu {
    pub whip_url: String,
    pub whep_url: String,
    pub token: String,
}

impl Sfu {
    /// The `sfu` part of a join.
    pub fn of(joined: &Joined) -> Sfu {
        let sfu = &joined.body["sfu"];
        let field = |name: &str| {
            sfu[name]
                .as_str()
                .unwrap_or_else(|| panic!("no sfu.{name} in the join: {}", joined.body))
                .to_owned()
        };
        Sfu {
            whip_url: field("whip_url"),
            whep_url: field("whep_url"),
            token: field("token"),
        }
    }
}

/// One running `peer.py`: its JSON lines as they come, the stderr kept for failure messages.
/// Killed if dropped.
pub struct Peer {
    pub label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<(Instant, Value)>,
    /// Every line read so far.
    pub log: Vec<Value>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// The WHIP/WHEP resource URL (from `published` / `subscribed`).
    pub location: String,
    /// The tag the publisher's frames show (publishers only).
    pub tag: Option<u64>,
    /// Its output ended (it exited, or closed stdout).
    ended: bool,
    /// No test changes the network interfaces while it lives (`None`: its caller holds them
    /// itself, to change them).
    _network: Option<crate::helpers::NetworkInUse>,
}

impl Peer {
    fn spawn(label: &str, args: &[String], network: crate::helpers::NetworkInUse) -> Peer {
        let python = python().expect("webrtc_ready() was checked first");
        Peer::spawn_command(label, Command::new(python), args, Some(network))
    }

    /// Runs peer.py with `args` inside the network namespace `netns` (`ip netns exec`). The
    /// caller holds the network interfaces itself (`network_changing`).
    pub fn spawn_in_netns(label: &str, netns: &str, args: &[String]) -> Peer {
        let python = python().expect("webrtc_ready() was checked first");
        let mut command = Command::new("ip");
        command.args(["netns", "exec", netns]).arg(python);
        Peer::spawn_command(label, command, args, None)
    }

    fn spawn_command(
        label: &str,
        mut command: Command,
        args: &[String],
        network: Option<crate::helpers::NetworkInUse>,
    ) -> Peer {
        let mut child = command
            .arg(PEER)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{label}: cannot start peer.py ({PEER}): {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"event": "unparsed", "line": line}));
                if tx.send((Instant::now(), value)).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = stderr.clone();
        let err = child.stderr.take().expect("piped stderr");
        tokio::spawn(async move {
            let mut err = BufReader::new(err).lines();
            while let Ok(Some(line)) = err.next_line().await {
                kept.lock().expect("stderr lines").push(line);
            }
        });
        Peer {
            label: label.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            log: Vec::new(),
            stderr,
            location: String::new(),
            tag: None,
            ended: false,
            _network: network,
        }
    }

    /// Publishes a 320x240 pattern at `fps` as `source` over WHIP; returns once connected.
    pub async fn publish(label: &str, sfu: &Sfu, source: &str, fps: u32) -> Peer {
        Peer::publish_with(label, sfu, source, fps, &[]).await
    }

    /// [`Peer::publish`] with more of peer.py's flags (`--audio`).
    pub async fn publish_with(
        label: &str,
        sfu: &Sfu,
        source: &str,
        fps: u32,
        extra: &[&str],
    ) -> Peer {
        let url = format!("{}?source={source}", sfu.whip_url);
        let fps = fps.to_string();
        let mut args = vec![
            "publish", "--url", &url, "--token", &sfu.token, "--width", "320", "--height", "240",
            "--fps", &fps,
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let mut peer = Peer::spawn(label, &args, crate::helpers::network_in_use().await);
        let (_, published) = peer
            .until(CONNECT, "published", |l| l["event"] == "published")
            .await;
        peer.location = published["location"]
            .as_str()
            .expect("a location")
            .to_owned();
        peer.tag = published["source_tag"].as_u64();
        peer.until(CONNECT, "connected", |l| l["event"] == "connected")
            .await;
        peer
    }

    /// Attempts a WHIP publish of `source` and returns the HTTP answer (`{status, body}`).
    pub async fn probe_publish(label: &str, sfu: &Sfu, source: &str) -> Value {
        let url = format!("{}?source={source}", sfu.whip_url);
        let args = ["publish", "--probe", "--url", &url, "--token", &sfu.token];
        let mut peer = Peer::spawn(
            label,
            &args.map(String::from),
            crate::helpers::network_in_use().await,
        );
        let (_, answer) = peer
            .until(CONNECT, "the HTTP answer", |l| l["event"] == "http")
            .await;
        peer.exit(Duration::from_secs(10)).await;
        answer
    }

    /// Subscribes over WHEP with `slots` video transceivers (`query`: e.g. `?slots=room-cam`,
    /// or empty); returns once connected.
    pub async fn subscribe(label: &str, sfu: &Sfu, slots: usize, query: &str) -> Peer {
        let url = format!("{}{query}", sfu.whep_url);
        let args = [
            "subscribe",
            "--url",
            &url,
            "--token",
            &sfu.token,
            "--slots",
            &slots.to_string(),
        ];
        let mut peer = Peer::spawn(
            label,
            &args.map(String::from),
            crate::helpers::network_in_use().await,
        );
        let (_, subscribed) = peer
            .until(CONNECT, "subscribed", |l| l["event"] == "subscribed")
            .await;
        peer.location = subscribed["location"]
            .as_str()
            .expect("a location")
            .to_owned();
        peer.until(CONNECT, "connected", |l| l["event"] == "connected")
            .await;
        peer
    }

    /// The resource id: the last segment of the resource URL.
    pub fn resource_id(&self) -> &str {
        self.location.rsplit('/').next().unwrap_or_default()
    }

    /// The next line within `within` (`None`: none in time, or the peer's output ended).
    pub async fn next(&mut self, within: Duration) -> Option<(Instant, Value)> {
        let (at, line) = match tokio::time::timeout(within, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => {
                self.ended = true;
                return None;
            }
            Err(_) => return None,
        };
        self.log.push(line.clone());
        Some((at, line))
    }

    /// Reads until a line satisfies `pred`; it and when it arrived. Panics at the deadline, at
    /// the end of the output, or on an `error` line.
    #[track_caller]
    pub fn until<'a>(
        &'a mut self,
        within: Duration,
        what: &'a str,
        mut pred: impl FnMut(&Value) -> bool + 'a,
    ) -> impl Future<Output = (Instant, Value)> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let mut matched = false;
            let (at, line) = self
                .first_at(within, what, caller, |l| {
                    matched = pred(l);
                    matched || l["event"] == "error"
                })
                .await;
            if !matched {
                panic!(
                    "{} ({caller}): waiting for {what}, got {line}\n{}",
                    self.label,
                    self.tail()
                );
            }
            (at, line)
        }
    }

    /// The first line from now that satisfies `pred`, `error` lines included. Panics at the
    /// deadline or at the end of the output.
    #[track_caller]
    pub fn first<'a>(
        &'a mut self,
        within: Duration,
        what: &'a str,
        pred: impl FnMut(&Value) -> bool + 'a,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move { self.first_at(within, what, caller, pred).await.1 }
    }

    async fn first_at(
        &mut self,
        within: Duration,
        what: &str,
        caller: &std::panic::Location<'_>,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> (Instant, Value) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some((at, line)) if pred(&line) => return (at, line),
                Some(_) => {}
                None => {
                    let when = if self.ended {
                        "before its output ended".to_owned()
                    } else {
                        format!("within {within:?}")
                    };
                    panic!(
                        "{} ({caller}): waiting for {what}: nothing {when}\n{}",
                        self.label,
                        self.tail()
                    )
                }
            }
        }
    }

    /// Waits for the process to exit; its status. Panics if it runs past `within`.
    pub async fn status(&mut self, within: Duration) -> std::process::ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the peer"),
            Err(_) => panic!(
                "{}: still running after {within:?}\n{}",
                self.label,
                self.tail()
            ),
        }
    }

    /// Sends a command line (`{"cmd": ...}`).
    pub async fn send(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let line = format!("{command}\n");
        stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot write to its stdin: {e}", self.label));
        stdin.flush().await.expect("flushing stdin");
    }

    /// Waits for the process to exit successfully, reading the rest of its output; every line.
    #[track_caller]
    pub fn exit(&mut self, within: Duration) -> impl Future<Output = Vec<Value>> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            let status = self.status(within).await;
            while self.next(Duration::from_secs(2)).await.is_some() {}
            assert!(
                status.success(),
                "{} ({caller}): exited with {status}\n{}",
                self.label,
                self.tail()
            );
            self.log.clone()
        }
    }

    /// `quit` (DELETE the resource, then close), and the whole output.
    pub async fn quit(mut self) -> Vec<Value> {
        self.send(json!({"cmd": "quit"})).await;
        let log = self.exit(Duration::from_secs(15)).await;
        let deleted = log.iter().find(|l| l["event"] == "deleted");
        assert_eq!(
            deleted.map(|l| &l["status"]),
            Some(&json!(200)),
            "{}: the DELETE of its resource\n{}",
            self.label,
            self.tail()
        );
        log
    }

    /// `drop`: closes the peer connection (DTLS close) without a DELETE.
    pub async fn drop_connection(mut self) -> Vec<Value> {
        self.send(json!({"cmd": "drop"})).await;
        self.exit(Duration::from_secs(15)).await
    }

    /// Kills the process: nothing more reaches the server, not even a DTLS close.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killing the peer");
    }

    /// The last lines of its output and of its stderr, for failure messages.
    pub fn tail(&self) -> String {
        let out: Vec<String> = self
            .log
            .iter()
            .rev()
            .take(15)
            .rev()
            .map(Value::to_string)
            .collect();
        let err = self.stderr.lock().expect("stderr lines");
        let err: Vec<&str> = err
            .iter()
            .rev()
            .take(30)
            .rev()
            .map(String::as_str)
            .collect();
        format!(
            "--- {} stdout (last lines) ---\n{}\n--- {} stderr ---\n{}",
            self.label,
            out.join("\n"),
            self.label,
            err.join("\n")
        )
    }
}

/// The `frame` lines of a subscriber's output for one slot.
pub fn frames(log: &[Value], slot: u64) -> Vec<&Value> {
    log.iter()
        .filter(|l| l["event"] == "frame" && l["slot"] == slot)
        .collect()
}

/// Whether `event` is of type `ty` and its data has every field of `fields` (an object).
pub fn is(event: &Value, ty: &str, fields: &Value) -> bool {
    event["type"] == ty
        && fields
            .as_object()
            .expect("fields are an object")
            .iter()
            .all(|(k, v)| &event["data"][k] == v)
}

/// One line per event (type and data), for failure messages.
pub fn listing(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| format!("  {} {} {}", e["position"], e["type"], e["data"]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls the session's log until it holds an event of type `ty` with `fields`; the whole log.
pub async fn wait_for_event(
    app: &TestApp,
    session: Uuid,
    within: Duration,
    ty: &str,
    fields: Value,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let events = session_events(app, session).await;
        if events.iter().any(|e| is(e, ty, &fields)) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {ty} {fields} in the log of session {session} after {within:?}:\n{}",
            listing(&events)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts that `chain` occurs in `events` in this order (other events between are fine);
/// the index of each link.
#[track_caller]
pub fn assert_in_order(events: &[Value], chain: &[(&str, Value)]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    for (ty, fields) in chain {
        let Some(offset) = events[from..].iter().position(|e| is(e, ty, fields)) else {
            let anywhere = events.iter().position(|e| is(e, ty, fields));
            panic!(
                "expected {ty} {fields} after {:?} ({}); {}\nlog:\n{}",
                found.last().map(|&i: &usize| &events[i]["type"]),
                found.len(),
                match anywhere {
                    Some(i) => format!("it is at index {i}, too early"),
                    None => "it is not in the log at all".to_owned(),
                },
                listing(events)
            );
        };
        found.push(from + offset);
        from += offset + 1;
    }
    found
}

/// Sends one message over the realtime WebSocket of `joined` (a fresh connection) and returns
/// the server's answer to its `ref` (`ack`, `error`, ...), with how long it took; every message the
/// server sends on the way must match schemas/ws. (The realtime tests' `WsClient` is private to
/// their module.)
pub async fn ws_request(joined: &Joined, message: Value) -> (Value, Duration) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let reference = message["ref"].clone();
    let url = format!("{}?token={}", joined.ws_url, joined.ws_token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", joined.ws_url));
    let sent = Instant::now();
    ws.send(Message::text(message.to_string()))
        .await
        .expect("sending over the WebSocket");
    let deadline = sent + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(frame))) => frame,
            other => panic!("no answer to {message} ({other:?}); received: {seen:?}"),
        };
        let Message::Text(text) = frame else { continue };
        let reply: Value = serde_json::from_str(&text).expect("a JSON message");
        if let Err(error) = crate::realtime_schemas::validate_ws_message(&reply) {
            panic!("the server sent a message that breaks schemas/ws: {error}\n{reply}");
        }
        if reply["ref"] == reference {
            let took = sent.elapsed();
            let _ = ws.close(None).await;
            return (reply, took);
        }
        seen.push(reply);
    }
}
