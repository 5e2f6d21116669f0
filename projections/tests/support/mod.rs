//! Test support: a sealed event log builder, an in-memory event source, a realistic workload
//! generator and fresh databases (SQLite temp files; PostgreSQL when configured).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use livesurgery_domain::envelope::{Actor, GENESIS_HASH, NewEvent, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_projections::{BoxError, EventSource, ReadModels};
use uuid::Uuid;

/// Builds a valid log: per-stream versions and hash chain, global positions from 1, time
/// advancing 1 ms per event.
pub struct Log {
    pub events: Vec<RecordedEvent>,
    streams: HashMap<String, (u64, [u8; 32])>,
    now: DateTime<Utc>,
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
}

pub fn stream_of(event: &Event) -> String {
    match event {
        Event::AccessDenied(AccessDenied { user_id, .. })
        | Event::AuditTrailRead(AuditTrailRead { user_id, .. }) => return access_stream(*user_id),
        _ => {}
    }
    let data = event.data();
    if let Some(id) = data.get("session_id").and_then(|v| v.as_str()) {
        return format!("session-{id}");
    }
    let id = data["user_id"].as_str().unwrap();
    format!("user-{id}")
}

pub fn actor(user_id: Uuid, role: &str) -> Actor {
    Actor {
        user_id: Some(user_id),
        role: Some(role.to_owned()),
        participant_id: None,
    }
}

impl Log {
    pub fn new() -> Log {
        Log {
            events: Vec::new(),
            streams: HashMap::new(),
            now: t0(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub fn push(&mut self, event: Event, actor: Actor) -> RecordedEvent {
        let stream = stream_of(&event);
        let new = event.into_new_event(Uuid::now_v7(), actor, Uuid::new_v4(), None);
        self.push_new(&stream, new)
    }

    /// An event of a type this build does not know (as a later server version would append).
    pub fn push_unknown(&mut self, stream: &str, event_type: &str, data: serde_json::Value) {
        let new = NewEvent {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            schema_version: 1,
            data,
            actor: Actor::system(),
            correlation_id: Uuid::new_v4(),
            causation_id: None,
        };
        self.push_new(stream, new);
    }

    fn push_new(&mut self, stream: &str, new: NewEvent) -> RecordedEvent {
        self.now += Duration::milliseconds(1);
        let (version, prev) = self
            .streams
            .get(stream)
            .copied()
            .unwrap_or((0, GENESIS_HASH));
        let position = self.events.len() as u64 + 1;
        let event = RecordedEvent::seal(new, stream, version + 1, position, self.now, &prev);
        self.streams.insert(
            stream.to_owned(),
            (version + 1, event.hash_bytes().unwrap()),
        );
        self.events.push(event.clone());
        event
    }
}

/// An event source over a vector, that can grow while a rebuild reads it.
#[derive(Default)]
pub struct VecSource {
    pub events: Mutex<Vec<RecordedEvent>>,
}

impl VecSource {
    pub fn new(events: Vec<RecordedEvent>) -> VecSource {
        VecSource {
            events: Mutex::new(events),
        }
    }

    pub fn append(&self, more: &[RecordedEvent]) {
        self.events.lock().unwrap().extend_from_slice(more);
    }
}

#[async_trait]
impl EventSource for VecSource {
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, BoxError> {
        let events = self.events.lock().unwrap();
        let start = events.partition_point(|e| e.position <= after);
        Ok(events[start..].iter().take(limit).cloned().collect())
    }

    async fn head_position(&self) -> Result<u64, BoxError> {
        Ok(self.events.lock().unwrap().last().map_or(0, |e| e.position))
    }
}

/// The ids of the hand-written scenario, to assert on.
pub struct Scenario {
    pub log: Log,
    pub admin: Uuid,
    pub alice: Uuid,
    pub bob: Uuid,
    pub carol: Uuid,
    pub session: Uuid,
    pub cancelled: Uuid,
    pub alice_participant: Uuid,
    pub bob_participant: Uuid,
    pub recording: Uuid,
}

pub fn panel(id: &str, x: u32, source: Option<&str>) -> Panel {
    Panel {
        id: id.to_owned(),
        x,
        y: 0,
        w: 6,
        h: 6,
        z: 0,
        source_id: source.map(str::to_owned),
    }
}

/// One realistic session from creation to end, with users, members, presence, layout versions
/// (one with a conflict), a source selection, a recording, an unknown event and a cancelled
/// second session.
pub fn scenario() -> Scenario {
    let mut log = Log::new();
    let (admin, alice, bob, carol) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let sys = Actor::system();
    for (id, name, role) in [
        (admin, "admin", OrgRole::Admin),
        (alice, "alice", OrgRole::Surgeon),
        (bob, "bob", OrgRole::Observer),
        (carol, "carol", OrgRole::Observer),
    ] {
        log.push(
            Event::UserRegistered(UserRegistered {
                user_id: id,
                username: name.to_owned(),
                display_name: format!("Dr {name}"),
                role,
            }),
            sys.clone(),
        );
    }
    let by_admin = actor(admin, "admin");
    log.push(
        Event::UserRoleChanged(UserRoleChanged {
            user_id: bob,
            from: OrgRole::Observer,
            to: OrgRole::Surgeon,
        }),
        by_admin.clone(),
    );
    log.push(
        Event::UserDisplayNameChanged(UserDisplayNameChanged {
            user_id: carol,
            display_name: "Prof Carol".into(),
        }),
        by_admin.clone(),
    );
    log.push(
        Event::UserDeactivated(UserDeactivated { user_id: carol }),
        by_admin.clone(),
    );

    let session = Uuid::new_v4();
    let by_alice = actor(alice, "surgeon");
    log.push(
        Event::SessionCreated(SessionCreated {
            session_id: session,
            title: "Lap chole".into(),
            procedure: Some("cholecystectomy".into()),
            scheduled_start: Some(t0() + Duration::hours(2)),
            created_by: alice,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::SessionDetailsChanged(SessionDetailsChanged {
            session_id: session,
            title: Some("Laparoscopic cholecystectomy".into()),
            procedure: Some(None),
            scheduled_start: None,
        }),
        by_alice.clone(),
    );
    for (user, role) in [
        (alice, SessionRole::Host),
        (bob, SessionRole::Observer),
        (carol, SessionRole::Observer),
    ] {
        log.push(
            Event::MemberAdded(MemberAdded {
                session_id: session,
                user_id: user,
                role,
            }),
            by_alice.clone(),
        );
    }
    log.push(
        Event::MemberRoleChanged(MemberRoleChanged {
            session_id: session,
            user_id: bob,
            from: SessionRole::Observer,
            to: SessionRole::Surgeon,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::MemberRemoved(MemberRemoved {
            session_id: session,
            user_id: carol,
        }),
        by_alice.clone(),
    );
    log.push(
        Event::LayoutInitialized(LayoutInitialized {
            session_id: session,
            version: 1,
            panels: vec![panel("main", 0, Some("endo-1")), panel("vitals", 6, None)],
        }),
        sys.clone(),
    );
    log.push(
        Event::SessionStarted(SessionStarted {
            session_id: session,
        }),
        by_alice.clone(),
    );
    let alice_participant = Uuid::new_v4();
    let bob_participant = Uuid::new_v4();
    for (participant, user, role, device) in [
        (alice_participant, alice, SessionRole::Host, "OR camera 2"),
        (bob_participant, bob, SessionRole::Surgeon, "laptop"),
    ] {
        let mut who = actor(user, "surgeon");
        who.participant_id = Some(participant);
        log.push(
            Event::ParticipantJoined(ParticipantJoined {
                session_id: session,
                participant_id: participant,
                user_id: user,
                role,
                device: Some(device.into()),
            }),
            who,
        );
    }
    let mut bob_actor = actor(bob, "surgeon");
    bob_actor.participant_id = Some(bob_participant);
    let mut alice_actor = by_alice.clone();
    alice_actor.participant_id = Some(alice_participant);
    log.push(
        Event::LayoutUpdated(LayoutUpdated {
            session_id: session,
            version: 2,
            base_version: 1,
            changes: vec![LayoutFieldChange {
                panel_id: Some("vitals".into()),
                field: "w".into(),
                value: serde_json::json!(4),
            }],
            conflicts: vec![LayoutConflict {
                panel_id: Some("vitals".into()),
                field: "w".into(),
                winner: bob_actor.clone(),
                loser: alice_actor.clone(),
                loser_version: 1,
            }],
            panels: vec![
                panel("main", 0, Some("endo-1")),
                Panel {
                    w: 4,
                    ..panel("vitals", 6, None)
                },
            ],
            changed_by: bob_actor.clone(),
        }),
        bob_actor.clone(),
    );
    log.push(
        Event::SourceSelected(SourceSelected {
            session_id: session,
            panel_id: "vitals".into(),
            source_id: Some("vitals-screen".into()),
            layout_version: 3,
            changed_by: alice_actor.clone(),
        }),
        alice_actor.clone(),
    );
    let recording = Uuid::new_v4();
    log.push(
        Event::RecordingRequested(RecordingRequested {
            session_id: session,
            recording_id: recording,
        }),
        alice_actor.clone(),
    );
    log.push(
        Event::RecordingStarted(RecordingStarted {
            session_id: session,
            recording_id: recording,
        }),
        sys.clone(),
    );
    log.push(
        Event::ParticipantLeft(ParticipantLeft {
            session_id: session,
            participant_id: bob_participant,
            user_id: bob,
            reason: LeaveReason::Left,
        }),
        bob_actor.clone(),
    );
    log.push_unknown(
        &format!("session-{session}"),
        "SfuNodeAssigned",
        serde_json::json!({"session_id": session, "node": "sfu-1"}),
    );
    log.push(
        Event::RecordingStopped(RecordingStopped {
            session_id: session,
            recording_id: recording,
        }),
        alice_actor.clone(),
    );
    log.push(
        Event::SessionEnded(SessionEnded {
            session_id: session,
        }),
        by_alice.clone(),
    );

    let cancelled = Uuid::new_v4();
    log.push(
        Event::SessionCreated(SessionCreated {
            session_id: cancelled,
            title: "Knee arthroscopy".into(),
            procedure: None,
            scheduled_start: None,
            created_by: bob,
        }),
        bob_actor.clone(),
    );
    log.push(
        Event::SessionCancelled(SessionCancelled {
            session_id: cancelled,
            reason: Some("theatre unavailable".into()),
        }),
        bob_actor,
    );
    Scenario {
        log,
        admin,
        alice,
        bob,
        carol,
        session,
        cancelled,
        alice_participant,
        bob_participant,
        recording,
    }
}

/// A small deterministic PRNG (xorshift64*), so workloads are reproducible without a crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A live session of the generated workload.
struct LiveSession {
    id: Uuid,
    host: Uuid,
    members: Vec<Uuid>,
    present: Vec<(Uuid, Uuid)>,
    layout_version: u64,
    panels: Vec<Panel>,
    recording: Option<Uuid>,
    remaining: u32,
}

/// `count` events of a realistic mix: ~40 sessions live at once, each created, given members
/// and a layout, started, joined and left, its layout updated (some writes contested), sources
/// selected, recorded, and ended; plus user registrations. The mix per session is about
/// 5% lifecycle, 10% members, 35% presence, 45% layout and selections, 5% recording.
pub fn workload(count: usize, seed: u64) -> Vec<RecordedEvent> {
    let mut rng = Rng::new(seed);
    let mut log = Log::new();
    let users: Vec<Uuid> = (0..500).map(|_| Uuid::new_v4()).collect();
    for (i, &user_id) in users.iter().enumerate() {
        log.push(
            Event::UserRegistered(UserRegistered {
                user_id,
                username: format!("user{i:04}"),
                display_name: format!("Dr User {i}"),
                role: if i % 3 == 0 {
                    OrgRole::Surgeon
                } else {
                    OrgRole::Observer
                },
            }),
            Actor::system(),
        );
    }
    let mut live: Vec<LiveSession> = Vec::new();
    while log.events.len() < count {
        if live.len() < 40 {
            let id = Uuid::new_v4();
            let host = users[rng.below(users.len() as u64) as usize];
            let by = actor(host, "surgeon");
            log.push(
                Event::SessionCreated(SessionCreated {
                    session_id: id,
                    title: format!("Procedure {}", log.events.len()),
                    procedure: Some("laparoscopy".into()),
                    scheduled_start: Some(log.now() + Duration::minutes(30)),
                    created_by: host,
                }),
                by.clone(),
            );
            let mut members = vec![host];
            log.push(
                Event::MemberAdded(MemberAdded {
                    session_id: id,
                    user_id: host,
                    role: SessionRole::Host,
                }),
                by.clone(),
            );
            for _ in 0..5 {
                let user = users[rng.below(users.len() as u64) as usize];
                if members.contains(&user) {
                    continue;
                }
                members.push(user);
                log.push(
                    Event::MemberAdded(MemberAdded {
                        session_id: id,
                        user_id: user,
                        role: SessionRole::Observer,
                    }),
                    by.clone(),
                );
            }
            let panels = vec![
                panel("main", 0, Some("endo-1")),
                panel("cam", 6, Some("cam-1")),
                panel("vitals", 0, Some("vitals-1")),
                panel("notes", 6, None),
            ];
            log.push(
                Event::LayoutInitialized(LayoutInitialized {
                    session_id: id,
                    version: 1,
                    panels: panels.clone(),
                }),
                Actor::system(),
            );
            log.push(Event::SessionStarted(SessionStarted { session_id: id }), by);
            live.push(LiveSession {
                id,
                host,
                members,
                present: Vec::new(),
                layout_version: 1,
                panels,
                recording: None,
                remaining: 60 + rng.below(80) as u32,
            });
            continue;
        }
        let index = rng.below(live.len() as u64) as usize;
        let s = &mut live[index];
        let host_actor = actor(s.host, "surgeon");
        if s.remaining == 0 {
            for (participant, user) in s.present.drain(..) {
                let mut who = actor(user, "observer");
                who.participant_id = Some(participant);
                log.push(
                    Event::ParticipantLeft(ParticipantLeft {
                        session_id: s.id,
                        participant_id: participant,
                        user_id: user,
                        reason: LeaveReason::Left,
                    }),
                    who,
                );
            }
            if let Some(recording) = s.recording.take() {
                log.push(
                    Event::RecordingStopped(RecordingStopped {
                        session_id: s.id,
                        recording_id: recording,
                    }),
                    host_actor.clone(),
                );
            }
            log.push(
                Event::SessionEnded(SessionEnded { session_id: s.id }),
                host_actor,
            );
            live.swap_remove(index);
            continue;
        }
        s.remaining -= 1;
        match rng.below(100) {
            0..=19 => {
                let user = s.members[rng.below(s.members.len() as u64) as usize];
                let participant = Uuid::new_v4();
                s.present.push((participant, user));
                let mut who = actor(user, "observer");
                who.participant_id = Some(participant);
                log.push(
                    Event::ParticipantJoined(ParticipantJoined {
                        session_id: s.id,
                        participant_id: participant,
                        user_id: user,
                        role: SessionRole::Observer,
                        device: Some("laptop".into()),
                    }),
                    who,
                );
            }
            20..=34 if !s.present.is_empty() => {
                let (participant, user) = s
                    .present
                    .swap_remove(rng.below(s.present.len() as u64) as usize);
                let mut who = actor(user, "observer");
                who.participant_id = Some(participant);
                log.push(
                    Event::ParticipantLeft(ParticipantLeft {
                        session_id: s.id,
                        participant_id: participant,
                        user_id: user,
                        reason: if rng.below(10) == 0 {
                            LeaveReason::TimedOut
                        } else {
                            LeaveReason::Left
                        },
                    }),
                    who,
                );
            }
            35..=69 => {
                let base = s.layout_version;
                s.layout_version += 1;
                let i = rng.below(s.panels.len() as u64) as usize;
                s.panels[i].x = rng.below(6) as u32;
                let changes = vec![LayoutFieldChange {
                    panel_id: Some(s.panels[i].id.clone()),
                    field: "x".into(),
                    value: serde_json::json!(s.panels[i].x),
                }];
                let conflicts = if rng.below(10) == 0 {
                    vec![LayoutConflict {
                        panel_id: Some(s.panels[i].id.clone()),
                        field: "x".into(),
                        winner: host_actor.clone(),
                        loser: actor(s.members[0], "observer"),
                        loser_version: base,
                    }]
                } else {
                    Vec::new()
                };
                log.push(
                    Event::LayoutUpdated(LayoutUpdated {
                        session_id: s.id,
                        version: s.layout_version,
                        base_version: base,
                        changes,
                        conflicts,
                        panels: s.panels.clone(),
                        changed_by: host_actor.clone(),
                    }),
                    host_actor,
                );
            }
            70..=84 => {
                s.layout_version += 1;
                let i = rng.below(s.panels.len() as u64) as usize;
                let source = format!("cam-{}", rng.below(4));
                s.panels[i].source_id = Some(source.clone());
                log.push(
                    Event::SourceSelected(SourceSelected {
                        session_id: s.id,
                        panel_id: s.panels[i].id.clone(),
                        source_id: Some(source),
                        layout_version: s.layout_version,
                        changed_by: host_actor.clone(),
                    }),
                    host_actor,
                );
            }
            85..=89 => {
                let user = users[rng.below(users.len() as u64) as usize];
                if !s.members.contains(&user) {
                    s.members.push(user);
                    log.push(
                        Event::MemberAdded(MemberAdded {
                            session_id: s.id,
                            user_id: user,
                            role: SessionRole::Observer,
                        }),
                        host_actor,
                    );
                }
            }
            90..=94 => match s.recording.take() {
                None => {
                    let recording = Uuid::new_v4();
                    s.recording = Some(recording);
                    log.push(
                        Event::RecordingRequested(RecordingRequested {
                            session_id: s.id,
                            recording_id: recording,
                        }),
                        host_actor,
                    );
                    log.push(
                        Event::RecordingStarted(RecordingStarted {
                            session_id: s.id,
                            recording_id: recording,
                        }),
                        Actor::system(),
                    );
                }
                Some(recording) => {
                    log.push(
                        Event::RecordingStopped(RecordingStopped {
                            session_id: s.id,
                            recording_id: recording,
                        }),
                        host_actor,
                    );
                }
            },
            _ => {
                log.push(
                    Event::SessionDetailsChanged(SessionDetailsChanged {
                        session_id: s.id,
                        title: Some(format!("Procedure, part {}", s.remaining)),
                        procedure: None,
                        scheduled_start: None,
                    }),
                    host_actor,
                );
            }
        }
    }
    log.events.truncate(count);
    log.events
}

/// A fresh, migrated database: a SQLite temp file, or a new PostgreSQL database on the server
/// of `LIVESURGERY_TEST_DATABASE_URL`. Keep the returned guard alive while testing.
pub struct TestDb {
    pub models: ReadModels,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// `(server URL, database)` to drop afterwards, for PostgreSQL.
    drop_database: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.drop_database.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let admin = ReadModels::connect(&server).await.unwrap();
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(admin.pool())
                .await;
                admin.pool().close().await;
            });
        })
        .join();
    }
}

pub async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/read.db", dir.path().display());
    let models = ReadModels::connect(&url).await.unwrap();
    models.migrate().await.unwrap();
    TestDb {
        models,
        url,
        _dir: Some(dir),
        drop_database: None,
    }
}

/// `None` (after printing why) when PostgreSQL is not configured.
pub async fn postgres_db() -> Option<TestDb> {
    let Ok(base) = std::env::var("LIVESURGERY_TEST_DATABASE_URL") else {
        println!("skipping PostgreSQL: LIVESURGERY_TEST_DATABASE_URL not set");
        return None;
    };
    let name = format!("ls_test_{}", Uuid::new_v4().simple());
    let admin = ReadModels::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    admin.pool().close().await;
    let (prefix, _) = base.rsplit_once('/').unwrap();
    let url = format!("{prefix}/{name}");
    let models = ReadModels::connect(&url).await.unwrap();
    models.migrate().await.unwrap();
    Some(TestDb {
        models,
        url,
        _dir: None,
        drop_database: Some((base, name)),
    })
}

/// Every backend available here: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<(&'static str, TestDb)> {
    let mut out = vec![("sqlite", sqlite_db().await)];
    if let Some(pg) = postgres_db().await {
        out.push(("postgres", pg));
    }
    out
}

/// Every read-model table, with the order that makes its dump deterministic.
pub const TABLES: &[(&str, &str)] = &[
    ("rm_sessions", "session_id"),
    ("rm_session_members", "session_id, user_id"),
    ("rm_recordings", "recording_id"),
    ("rm_users", "user_id"),
    ("rm_presence", "participant_id"),
    ("rm_layouts", "session_id"),
    ("rm_layout_versions", "session_id, version"),
    ("rm_source_selections", "session_id, panel_id"),
    ("rm_audit", "position"),
    ("rm_archives", "archive_id"),
    ("rm_archive_segments", "object_key"),
];

/// Every row of every read-model table, as text, for comparing two databases.
pub async fn dump(models: &ReadModels) -> Vec<(String, Vec<Vec<String>>)> {
    use sqlx::{Column, Row};
    let mut out = Vec::new();
    for (table, order) in TABLES {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM {table} ORDER BY {order}"
        )))
        .fetch_all(models.pool())
        .await
        .unwrap();
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.columns().len())
                    .map(|i| {
                        let name = row.columns()[i].name().to_owned();
                        let value = match row.try_get::<Option<String>, _>(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(_) => format!("{:?}", row.try_get::<Option<i64>, _>(i).unwrap()),
                        };
                        format!("{name}={value}")
                    })
                    .collect()
            })
            .collect();
        out.push((table.to_string(), rows));
    }
    out
}
