//! The WebSocket suite's stage, over REST: users, sessions of them, participants; then the
//! WebSocket up to its welcome.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt, TryStreamExt};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::rest::{
    ADMIN_PASSWORD, ADMIN_USERNAME, add_member, create_session, create_user, field, join, sign_in,
    start_session,
};

/// A client's WebSocket.
pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The users that join: the admin (host of every session, the writer) first.
struct Person {
    id: String,
    token: String,
    /// Its role as a member of each session; `None` for the host.
    member_role: Option<&'static str>,
}

/// Everyone who joins the sessions.
pub(super) struct People(Vec<Person>);

impl People {
    /// The admin, two surgeons and two observers, signed in.
    pub(super) async fn register(http: &reqwest::Client, base: &str) -> anyhow::Result<People> {
        let admin_token = sign_in(http, base, ADMIN_USERNAME, ADMIN_PASSWORD).await?;
        let mut people = vec![Person {
            id: String::new(),
            token: admin_token.clone(),
            member_role: None,
        }];
        for (name, role) in [
            ("bench-surgeon-1", "surgeon"),
            ("bench-surgeon-2", "surgeon"),
            ("bench-observer-1", "observer"),
            ("bench-observer-2", "observer"),
        ] {
            people.push(Person {
                id: create_user(http, base, &admin_token, name, role).await?,
                token: sign_in(http, base, name, ADMIN_PASSWORD).await?,
                member_role: Some(role),
            });
        }
        Ok(People(people))
    }
}

/// What every session's set-up shares.
pub(super) struct Ctx {
    pub http: reqwest::Client,
    pub base: String,
    pub people: People,
}

/// What `participants:join` hands out for the WebSocket.
pub(super) struct Joined {
    url: String,
    token: String,
}

/// Creates session number `n` as the admin (its host), adds the other users as members, starts
/// it and joins `clients` participants: the first is the host's (the writer), the others go
/// round the users.
pub(super) async fn open_session(
    ctx: &Ctx,
    n: usize,
    clients: usize,
) -> anyhow::Result<Vec<Joined>> {
    let (http, base, people) = (&ctx.http, &ctx.base, &ctx.people.0);
    let admin = &people[0].token;
    let id = create_session(http, base, admin, &format!("WS bench session {n}")).await?;
    for person in people {
        if let Some(role) = person.member_role {
            add_member(http, base, admin, &id, &person.id, role).await?;
        }
    }
    start_session(http, base, admin, &id).await?;
    futures::stream::iter(0..clients)
        .map(|j| {
            let person = &people[j % people.len()];
            let device = format!("bench-{j}");
            let id = &id;
            async move {
                let body = join(http, base, &person.token, id, &device).await?;
                Ok(Joined {
                    url: field(&body, "/ws/url")?,
                    token: field(&body, "/ws/token")?,
                })
            }
        })
        .buffered(4)
        .try_collect()
        .await
}

/// A WebSocket that got its welcome.
pub(super) struct Connected {
    pub ws: Ws,
    /// The layout version of the welcome's snapshot.
    pub layout_version: u64,
    /// From opening the TCP connection to the welcome.
    pub took: Duration,
}

/// Opens the WebSocket, asks for the welcome at once (a `ping` first) and waits for it.
pub(super) async fn connect(joined: &Joined) -> anyhow::Result<Connected> {
    let started = Instant::now();
    let url = format!("{}?token={}", joined.url, joined.token);
    // Small read buffers: thousands of connections, small messages.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(response) => anyhow::anyhow!(
                "the WebSocket upgrade was refused: {} {}",
                response.status(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
            ),
            e => anyhow::Error::new(e).context("opening the WebSocket"),
        })?;
    ws.send(Message::text(r#"{"type":"ping","ref":"hello"}"#))
        .await?;
    let layout_version = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Incoming = serde_json::from_str(text.as_str())?;
                    match &*message.kind {
                        "welcome" => {
                            return message
                                .session
                                .and_then(|s| s.layout)
                                .map(|l| l.version)
                                .context("no session.layout.version in the welcome");
                        }
                        "error" => anyhow::bail!("an error before the welcome: {text}"),
                        _ => {}
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    anyhow::bail!("closed before the welcome: {frame:?}")
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("the connection ended before the welcome"),
            }
        }
    })
    .await
    .context("no welcome within 10 s")??;
    Ok(Connected {
        ws,
        layout_version,
        took: started.elapsed(),
    })
}

/// The fields of a server message the bench reads (the rest is skipped unparsed).
#[derive(Deserialize)]
pub(super) struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    pub position: Option<u64>,
    pub version: Option<u64>,
    #[serde(borrow)]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub time: Option<Cow<'a, str>>,
    pub data: Option<VersionOnly>,
    pub layout_version: Option<u64>,
    #[serde(borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(rename = "ref", borrow)]
    pub reference: Option<Cow<'a, str>>,
    session: Option<WelcomeSession>,
}

/// An event's data, of which only a layout version is read.
#[derive(Deserialize)]
pub(super) struct VersionOnly {
    pub version: Option<u64>,
}

#[derive(Deserialize)]
struct WelcomeSession {
    layout: Option<LayoutVersion>,
}

#[derive(Deserialize)]
struct LayoutVersion {
    version: u64,
}
