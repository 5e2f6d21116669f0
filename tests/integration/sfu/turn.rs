//! The TURN credentials of `participants:join` against a real coturn running
//! `ops/coturn/turnserver.conf`: coturn allocates a relay for the credential the server handed
//! out, and refuses a tampered or expired one. Skipped loudly where coturn is not installed,
//! unless `LIVESURGERY_REQUIRE_TURN=1` (CI sets it).

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::api::spawn::spawn_app_with;
use crate::helpers::fresh_sqlite;
use crate::realtime::{join, live_session};

const SECRET: &str = "turn-secret-of-the-integration-test-0123456789";
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ops/coturn/turnserver.conf");

fn coturn_ready() -> bool {
    let found = ["turnserver", "turnutils_uclient"].iter().all(|tool| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let missing =
        (!found).then(|| "coturn not installed (turnserver, turnutils_uclient)".to_owned());
    crate::helpers::prerequisites_met(
        "sfu::turn",
        missing,
        "LIVESURGERY_REQUIRE_TURN",
        "apt-get install coturn",
    )
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One allocation attempt with `turnutils_uclient` (stopped after 30 s if it hangs); its
/// output.
async fn allocate(port: u16, username: &str, credential: &str) -> String {
    let out = tokio::process::Command::new("timeout")
        .args(["30", "turnutils_uclient", "-p", &port.to_string()])
        .args(["-u", username, "-w", credential])
        .args(["-n", "1", "-m", "1", "-y", "127.0.0.1"])
        .kill_on_drop(true)
        .output()
        .await
        .expect("turnutils_uclient runs");
    format!(
        "{}{}(exit {:?})",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    )
}

/// Waits until coturn answers a STUN binding request on `port` (it may take a while to start
/// on a loaded machine).
async fn wait_until_listening(port: u16) {
    for _ in 0..60 {
        let answered = tokio::process::Command::new("timeout")
            .args([
                "2",
                "turnutils_stunclient",
                "-p",
                &port.to_string(),
                "127.0.0.1",
            ])
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
    panic!("coturn did not answer STUN on port {port}");
}

fn sign(username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(SECRET.as_bytes()).expect("hmac");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_with_the_ops_config_accepts_the_credential_of_a_join_and_refuses_others() {
    if !coturn_ready() {
        return;
    }
    let port = free_udp_port();
    // The committed configuration; only the secret, the address and the log go elsewhere.
    let mut turnserver = tokio::process::Command::new("turnserver")
        .args(["-c", CONFIG])
        .arg(format!("--static-auth-secret={SECRET}"))
        .arg(format!("--listening-port={port}"))
        .args(["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("turnserver starts");
    wait_until_listening(port).await;
    assert!(
        turnserver.try_wait().expect("a status").is_none(),
        "turnserver exited at once"
    );

    let app = spawn_app_with(fresh_sqlite(), |s| {
        s.turn_urls = vec![format!("turn:127.0.0.1:{port}?transport=udp")];
        s.turn_secret = Some(SECRET.parse().expect("a secret"));
    })
    .await;
    let (host, session) = live_session(&app).await;
    let joined = join(&app, session, &host).await;
    let turn = &joined.body["ice_servers"][0];
    let username = turn["username"].as_str().expect("a TURN username");
    let credential = turn["credential"].as_str().expect("a TURN credential");

    const REFUSED: &str = "Cannot complete Allocation";
    let accepted = allocate(port, username, credential).await;
    assert!(
        !accepted.contains(REFUSED) && accepted.contains("Forbidden IP"),
        "coturn should allocate for the join's credential (and then refuse the loopback peer, \
         as the config denies private ranges):\n{accepted}"
    );
    let tampered = allocate(port, username, &sign("someone-else")).await;
    assert!(
        tampered.contains(REFUSED),
        "a tampered credential:\n{tampered}"
    );
    let expired_name = format!(
        "{}:{}",
        chrono::Utc::now().timestamp() - 60,
        joined.participant_id
    );
    let expired = allocate(port, &expired_name, &sign(&expired_name)).await;
    assert!(
        expired.contains(REFUSED),
        "an expired credential:\n{expired}"
    );
    let _ = turnserver.kill().await;
}
