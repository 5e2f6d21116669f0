//! A realistic, reproducible workload generator.

use chrono::Duration;
use livesurgery_domain::envelope::{Actor, RecordedEvent};
use livesurgery_domain::events::*;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use uuid::Uuid;

use super::{Log, actor, panel};

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
