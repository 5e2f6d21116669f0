//! TURN across networks: the test builds its own network namespaces so that a client can reach
//! coturn and nothing else, and proves that media flows through the relay, and only through it.
//!
//! ```text
//!  client ns (lsC…)            turn ns (lsT…)                    root ns (the test, the server)
//!  10.a.b+1.2  ── veth ──  10.a.b+1.1  coturn   10.a.b.2  ── veth ──  10.a.b.1  SFU (UDP)
//!                           HTTP proxy (socat) ─────────────────────▶  HTTP proxy ─▶ 127.0.0.1 API
//! ```
//!
//! The client's namespace has only its own /24: no route to the server's network (checked), and
//! the turn namespace does not forward IP. Signalling reaches the API through a TCP proxy in the
//! turn namespace (as a hospital's reverse proxy would); UDP media has no way but coturn's
//! relay, which the committed `ops/coturn/turnserver.conf` allows to the SFU's address only.
//! Namespaces, links and processes are removed when a test ends, passed or failed.
//!
//! Needs root (`ip netns`), coturn, socat and aiortc; skipped loudly without them unless
//! `LIVESURGERY_REQUIRE_NETNS=1` (CI sets it).

use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::process::{Child, Command};

use crate::api::spawn::{TestApp, spawn_app_with};
use crate::helpers::fresh_sqlite;
use crate::realtime::{Joined, join, live_session, member};
use crate::sfu::support::{Peer, Sfu, python, webrtc_ready};

const SECRET: &str = "turn-secret-of-the-netns-test-0123456789abcdef";
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/coturn/turnserver.conf");
const TURN_PORT: u16 = 3478;
const PROXY_PORT: u16 = 8080;
/// How long a peer may take to start, signal and connect through the relay.
const CONNECT: Duration = Duration::from_secs(30);

/// Whether this machine lets the test make namespaces and has coturn, socat and aiortc; a
/// missing one skips loudly, or fails under `LIVESURGERY_REQUIRE_NETNS=1`.
fn netns_ready(test: &str) -> bool {
    static PROBES: AtomicU32 = AtomicU32::new(0);
    let probe = format!(
        "lsprobe{}-{}",
        std::process::id(),
        PROBES.fetch_add(1, Ordering::SeqCst)
    );
    let netns = ip(&["netns", "add", &probe]).and_then(|_| ip(&["netns", "del", &probe]));
    let tools: Vec<&str> = ["turnserver", "turnutils_stunclient", "socat"]
        .into_iter()
        .filter(|tool| {
            !StdCommand::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    let missing = match (netns, tools.is_empty(), python().is_some()) {
        (Err(e), _, _) => Some(format!("`ip netns add` is not permitted here ({e})")),
        (Ok(()), false, _) => Some(format!("not installed: {}", tools.join(", "))),
        (Ok(()), true, false) => Some("aiortc not installed".to_owned()),
        (Ok(()), true, true) => None,
    };
    crate::helpers::prerequisites_met(
        test,
        missing,
        "LIVESURGERY_REQUIRE_NETNS",
        "run as root; apt-get install iproute2 coturn socat; bash .ci/install-webrtc.sh",
    ) && webrtc_ready(test)
}

/// Runs `ip` with these arguments; its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = StdCommand::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("{e}");
    }
}

/// The two namespaces, their links, coturn and the HTTP proxies; all removed on drop.
struct Networks {
    /// The turn and client namespaces.
    turn: String,
    client: String,
    /// The root end of the server-side link.
    root_link: String,
    /// The SFU's address (root namespace) and coturn's two (client side, relay side).
    sfu_ip: String,
    turn_ip: String,
    relay_ip: String,
    processes: Vec<Child>,
    turn_log: tempfile::TempDir,
    /// Other tests' WebRTC peers are not running while the links exist (released after `drop`
    /// removed them): an address of ours they chose would vanish under them.
    _exclusive: crate::helpers::NetworkChanging,
}

impl Networks {
    /// Makes the namespaces and links; addresses from a /16 of 10/8 per test process, a /23 per
    /// test, so that parallel tests and runs do not meet.
    fn create(exclusive: crate::helpers::NetworkChanging) -> Networks {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let id = format!("{}{n}", pid % 100_000);
        let (a, b) = (200 + pid % 50, (n % 100) * 2);
        let networks = Networks {
            turn: format!("lsT{id}"),
            client: format!("lsC{id}"),
            root_link: format!("lsR{id}"),
            sfu_ip: format!("10.{a}.{b}.1"),
            turn_ip: format!("10.{a}.{}.1", b + 1),
            relay_ip: format!("10.{a}.{b}.2"),
            processes: Vec::new(),
            turn_log: tempfile::tempdir().expect("a folder for coturn's log"),
            _exclusive: exclusive,
        };
        let (turn, client) = (networks.turn.as_str(), networks.client.as_str());
        let (server_side, turn_side, client_side) =
            (format!("lsS{id}"), format!("lsA{id}"), format!("lsB{id}"));
        must(&["netns", "add", turn]);
        must(&["netns", "add", client]);
        // Root <-> turn: the server's network.
        must(&[
            "link",
            "add",
            &networks.root_link,
            "type",
            "veth",
            "peer",
            "name",
            &server_side,
        ]);
        must(&["link", "set", &server_side, "netns", turn]);
        must(&[
            "addr",
            "add",
            &format!("{}/24", networks.sfu_ip),
            "dev",
            &networks.root_link,
        ]);
        must(&["link", "set", &networks.root_link, "up"]);
        must(&[
            "-n",
            turn,
            "addr",
            "add",
            &format!("{}/24", networks.relay_ip),
            "dev",
            &server_side,
        ]);
        must(&["-n", turn, "link", "set", &server_side, "up"]);
        must(&["-n", turn, "link", "set", "lo", "up"]);
        // Turn <-> client: the client's network.
        must(&[
            "-n",
            turn,
            "link",
            "add",
            &turn_side,
            "type",
            "veth",
            "peer",
            "name",
            &client_side,
        ]);
        must(&["-n", turn, "link", "set", &client_side, "netns", client]);
        must(&[
            "-n",
            turn,
            "addr",
            "add",
            &format!("{}/24", networks.turn_ip),
            "dev",
            &turn_side,
        ]);
        must(&["-n", turn, "link", "set", &turn_side, "up"]);
        let client_ip = format!("10.{a}.{}.2/24", b + 1);
        must(&["-n", client, "addr", "add", &client_ip, "dev", &client_side]);
        must(&["-n", client, "link", "set", &client_side, "up"]);
        must(&["-n", client, "link", "set", "lo", "up"]);
        // The turn namespace relays through coturn only, never by routing.
        let no_forwarding = StdCommand::new("ip")
            .args([
                "netns",
                "exec",
                turn,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=0",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(no_forwarding, "could not turn IP forwarding off in {turn}");
        networks
    }

    /// A process in the turn namespace (or, with `None`, in the root one), killed on drop.
    fn spawn(&mut self, netns: Option<&str>, program: &str, args: &[String]) {
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        };
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program} starts: {e}"));
        self.processes.push(child);
    }

    /// coturn on the committed configuration, listening on the client side, relaying from the
    /// server side, to the SFU's address only (the config denies every private range else).
    async fn start_coturn(&mut self) {
        let log = self.turn_log.path().join("turn.log");
        let args = vec![
            "-c".to_owned(),
            CONFIG.to_owned(),
            format!("--static-auth-secret={SECRET}"),
            format!("--listening-port={TURN_PORT}"),
            format!("--listening-ip={}", self.turn_ip),
            format!("--relay-ip={}", self.relay_ip),
            format!("--allowed-peer-ip={}", self.sfu_ip),
            format!("--log-file={}", log.display()),
        ];
        let turn = self.turn.clone();
        self.spawn(Some(&turn), "turnserver", &args);
        for _ in 0..80 {
            let answered = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.client,
                    "timeout",
                    "2",
                    "turnutils_stunclient",
                ])
                .args(["-p", &TURN_PORT.to_string(), &self.turn_ip])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if answered {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "coturn did not answer STUN from the client's namespace:\n{}",
            self.coturn_log()
        );
    }

    /// The API, reachable from the client's namespace at `http://<turn_ip>:8080` through two
    /// TCP proxies (turn namespace -> root namespace -> loopback). TCP only: no UDP passes.
    fn proxy_api(&mut self, app: &TestApp) -> String {
        let port = app
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .expect("the API's port");
        let hop = port.wrapping_add(1).max(1024);
        let root_hop = vec![
            format!("TCP-LISTEN:{hop},bind={},fork,reuseaddr", self.sfu_ip),
            format!("TCP:127.0.0.1:{port}"),
        ];
        self.spawn(None, "socat", &root_hop);
        let turn_hop = vec![
            format!(
                "TCP-LISTEN:{PROXY_PORT},bind={},fork,reuseaddr",
                self.turn_ip
            ),
            format!("TCP:{}:{hop}", self.sfu_ip),
        ];
        let turn = self.turn.clone();
        self.spawn(Some(&turn), "socat", &turn_hop);
        format!("http://{}:{PROXY_PORT}", self.turn_ip)
    }

    fn coturn_log(&self) -> String {
        std::fs::read_to_string(self.turn_log.path().join("turn.log"))
            .map(|log| log.lines().rev().take(40).collect::<Vec<_>>().join("\n"))
            .unwrap_or_else(|e| format!("(no coturn log: {e})"))
    }
}

impl Drop for Networks {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.start_kill();
        }
        std::thread::sleep(Duration::from_millis(200));
        // Deleting a namespace removes the links in it, and so their root ends.
        let _ = ip(&["netns", "del", &self.client]);
        let _ = ip(&["netns", "del", &self.turn]);
        let _ = ip(&["link", "del", &self.root_link]);
    }
}

/// A participant's WHIP/WHEP URLs as the client must use them (through the proxy), and its
/// TURN server and credential from `participants:join`.
fn client_args(app: &TestApp, joined: &Joined, proxy: &str, with_turn: bool) -> (Sfu, Vec<String>) {
    let mut sfu = Sfu::of(joined);
    for url in [&mut sfu.whip_url, &mut sfu.whep_url] {
        assert!(url.starts_with(&app.base), "{url} is not on {}", app.base);
        *url = url.replacen(&app.base, proxy, 1);
    }
    let mut args = Vec::new();
    if with_turn {
        let turn = &joined.body["ice_servers"][0];
        let field = |name: &str| {
            turn[name]
                .as_str()
                .unwrap_or_else(|| panic!("no ice_servers[0].{name} in the join: {}", joined.body))
                .to_owned()
        };
        let url = turn["urls"][0].as_str().expect("a TURN URL").to_owned();
        args = vec![
            "--ice-server".into(),
            url,
            "--ice-username".into(),
            field("username"),
            "--ice-credential".into(),
            field("credential"),
        ];
    }
    (sfu, args)
}

/// The namespaces, coturn, a server whose SFU binds the server-side address and hands out
/// coturn as its TURN server, and the API's proxy; checks that the client has no route to the
/// SFU.
async fn world() -> (Networks, TestApp, String) {
    let mut networks = Networks::create(crate::helpers::network_changing().await);
    networks.start_coturn().await;
    let (sfu_ip, turn_url) = (
        networks.sfu_ip.clone(),
        format!("turn:{}:{TURN_PORT}?transport=udp", networks.turn_ip),
    );
    let app = spawn_app_with(fresh_sqlite(), |s| {
        s.sfu_udp_bind = format!("{sfu_ip}:0");
        s.turn_urls = vec![turn_url];
        s.turn_secret = Some(SECRET.parse().expect("a secret"));
    })
    .await;
    let proxy = networks.proxy_api(&app);
    let route = StdCommand::new("ip")
        .args(["-n", &networks.client, "route", "get", &networks.sfu_ip])
        .output()
        .expect("ip route get runs");
    assert!(
        !route.status.success(),
        "the client's namespace must have no route to the SFU ({}): {}",
        networks.sfu_ip,
        String::from_utf8_lossy(&route.stdout)
    );
    (networks, app, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reaches_only_coturn_publishes_and_a_second_subscribes_through_the_relay() {
    if !netns_ready("security::netns_turn") {
        return;
    }
    let (networks, app, proxy) = world().await;
    let (host, session) = live_session(&app).await;
    let viewer = member(&app, session, "surgeon", "observer").await;
    let publisher_join = join(&app, session, &host).await;
    let viewer_join = join(&app, session, &viewer).await;

    let (sfu, turn) = client_args(&app, &publisher_join, &proxy, true);
    let mut args: Vec<String> = ["publish", "--url"].map(String::from).to_vec();
    args.push(format!("{}?source=endoscope", sfu.whip_url));
    args.extend([
        "--token".into(),
        sfu.token.clone(),
        "--fps".into(),
        "15".into(),
    ]);
    args.extend(["--connect-timeout".into(), "25".into()]);
    args.extend(turn);
    let mut publisher = Peer::spawn_in_netns("publisher", &networks.client, &args);
    let published = publisher
        .first(CONNECT, "published", |l| l["event"] == "published")
        .await;
    let tag = published["source_tag"].as_u64().expect("the source's tag");
    let connected = publisher
        .first(CONNECT, "connected", |l| {
            l["event"] == "connected" || l["event"] == "error"
        })
        .await;
    assert_eq!(
        connected["local_candidate_types"],
        json!(["relay"]),
        "the publisher must connect through coturn's relay only:\n{}\ncoturn:\n{}",
        publisher.tail(),
        networks.coturn_log()
    );

    let (sfu, turn) = client_args(&app, &viewer_join, &proxy, true);
    let mut args: Vec<String> = ["subscribe", "--url"].map(String::from).to_vec();
    args.push(sfu.whep_url.clone());
    args.extend([
        "--token".into(),
        sfu.token.clone(),
        "--slots".into(),
        "1".into(),
    ]);
    args.extend([
        "--every".into(),
        "5".into(),
        "--connect-timeout".into(),
        "25".into(),
    ]);
    args.extend(turn);
    let mut subscriber = Peer::spawn_in_netns("subscriber", &networks.client, &args);
    let connected = subscriber
        .first(CONNECT, "connected", |l| {
            l["event"] == "connected" || l["event"] == "error"
        })
        .await;
    assert_eq!(
        connected["local_candidate_types"],
        json!(["relay"]),
        "the subscriber must connect through coturn's relay only:\n{}",
        subscriber.tail()
    );
    // Frames decode: the publisher's tag, and a counter that moves on (live, not one picture).
    let first = subscriber
        .first(CONNECT, "a decoded frame of the publisher", |l| {
            l["event"] == "frame" && l["source_tag"].as_u64() == Some(tag)
        })
        .await;
    let counter = first["counter"].as_u64().expect("a frame counter");
    subscriber
        .first(CONNECT, "a later frame", |l| {
            l["event"] == "frame"
                && l["source_tag"].as_u64() == Some(tag)
                && l["counter"].as_u64().is_some_and(|c| c > counter)
        })
        .await;
    drop(subscriber);
    drop(publisher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reaches_only_coturn_fails_clearly_without_turn() {
    if !netns_ready("security::netns_turn") {
        return;
    }
    let (networks, app, proxy) = world().await;
    let (host, session) = live_session(&app).await;
    let joined = join(&app, session, &host).await;

    let (sfu, _) = client_args(&app, &joined, &proxy, false);
    let mut args: Vec<String> = ["publish", "--url"].map(String::from).to_vec();
    args.push(format!("{}?source=endoscope", sfu.whip_url));
    args.extend([
        "--token".into(),
        sfu.token.clone(),
        "--connect-timeout".into(),
        "8".into(),
    ]);
    let mut publisher = Peer::spawn_in_netns("publisher without TURN", &networks.client, &args);
    // Signalling works (through the proxy): the offer is answered...
    publisher
        .first(CONNECT, "published", |l| l["event"] == "published")
        .await;
    // ...but media cannot flow: ICE has only host candidates, and no route to the SFU.
    let outcome = publisher
        .first(CONNECT, "the connection's outcome", |l| {
            l["event"] == "connected" || l["event"] == "error"
        })
        .await;
    assert_eq!(
        outcome["event"],
        "error",
        "without TURN the client must not connect:\n{}",
        publisher.tail()
    );
    let message = outcome["message"].as_str().unwrap_or_default();
    assert!(message.contains("not connected"), "{message}");
    let status = publisher.status(Duration::from_secs(10)).await;
    assert_eq!(
        status.code(),
        Some(3),
        "peer.py's exit code for a failed connection:\n{}",
        publisher.tail()
    );
}
