//! Demo mode's data: on an empty database, one user per persona, a live demo session with
//! every persona a member, its four panels showing the three synthetic sources; on a later start
//! over the same database, the same session found again. Then the synthetic feeds, published by
//! the server into its own SFU.
//!
//! Everything goes through the application layer (user registration, session commands), so the
//! log holds the same events a person clicking through the web app would have made. Who
//! publishes the feeds: a dedicated user, [`FEEDS_USERNAME`] ("Synthetic feeds (demo)"), a
//! surgeon member of the demo session whose password is never shown (nobody signs in as it). It
//! joins the session as a participant at every start and leaves at shutdown, so the feeds appear
//! in the log as any publisher's media events. When the session ends (or is cancelled) while
//! the server runs, the feeds stop for good: they follow the log for it.
//!
//! The personas' passwords are printed once, on the start that creates them, in the banner the
//! `serve` command writes to standard output; never in a log line or an event.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use livesurgery_domain::CommandContext;
use livesurgery_domain::events::{Event, LeaveReason};
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::SessionCommand;
use livesurgery_projections::{SessionFilter, SessionStatus};
use uuid::Uuid;

use super::feeds::{self, StopSignal, SyntheticPublisher};
use crate::app::dispatch::{Dispatched, Dispatcher, LogListener};
use crate::app::identity::participant_context;
use crate::app::users::{NewUser, random_password, register_user};
use crate::app::{App, AppError};
use crate::sfu::{PeerInfo, Sfu};

/// The demo session's title: it says synthetic wherever the session is listed.
pub const SESSION_TITLE: &str = "Demo: laparoscopic cholecystectomy (synthetic)";
/// The demo session's procedure field.
pub const SESSION_PROCEDURE: &str =
    "Laparoscopic cholecystectomy (synthetic demo, no patient data)";
/// The user that publishes the synthetic feeds (the server itself; nobody signs in as it).
pub const FEEDS_USERNAME: &str = "demo-feeds";
/// The feeds user's display name, as the workspace's presence list shows it.
pub const FEEDS_DISPLAY_NAME: &str = "Synthetic feeds (demo)";
/// The device label of the feeds' participant.
const FEEDS_DEVICE: &str = "server: synthetic feeds";
/// Which panel of the default 2x2 layout shows which source; the fourth stays free.
pub const PANEL_SOURCES: [(&str, &str); 3] =
    [("p1", "endoscope"), ("p2", "room-camera"), ("p3", "vitals")];
/// How long a restart waits for the read models to reach the log before looking for the demo.
const CATCH_UP: Duration = Duration::from_secs(60);

/// A demo user: who they are in the organisation and in the demo session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    pub username: &'static str,
    pub display_name: &'static str,
    pub org_role: OrgRole,
    pub session_role: SessionRole,
    /// What to try as this persona, for the banner.
    pub what: &'static str,
}

/// The personas, the host first (it creates the session).
pub const PERSONAS: [Persona; 5] = [
    Persona {
        username: "demo-host",
        display_name: "Dr Demo Host (synthetic)",
        org_role: OrgRole::Surgeon,
        session_role: SessionRole::Host,
        what: "host surgeon: runs the session, moves panels, switches sources",
    },
    Persona {
        username: "demo-surgeon",
        display_name: "Dr Demo Surgeon (synthetic)",
        org_role: OrgRole::Surgeon,
        session_role: SessionRole::Surgeon,
        what: "second surgeon: edits the layout, may publish a camera",
    },
    Persona {
        username: "demo-observer",
        display_name: "Demo Observer (synthetic)",
        org_role: OrgRole::Observer,
        session_role: SessionRole::Observer,
        what: "observer: watches the feeds, read-only",
    },
    Persona {
        username: "demo-reviewer",
        display_name: "Demo Reviewer (synthetic)",
        org_role: OrgRole::Reviewer,
        session_role: SessionRole::Observer,
        what: "compliance reviewer: audit timeline, replay, hash-chain check",
    },
    Persona {
        username: "demo-admin",
        display_name: "Demo Admin (synthetic)",
        org_role: OrgRole::Admin,
        session_role: SessionRole::Host,
        what: "administrator: users, projections, archives",
    },
];

/// Why demo mode cannot start. Each message is one line that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database holds data that demo mode did not make: it is never mixed with demo data.
    #[error(
        "demo mode needs an empty database or one it seeded itself, and this one holds other \
         data (the log is at position {position}, no demo users): start with a fresh database \
         (e.g. --database-url sqlite://data/demo.db) or without --demo"
    )]
    NotADemoDatabase { position: u64 },
    /// A previous demo seed stopped half-way.
    #[error(
        "the demo data in this database is incomplete ({0}): start over with an empty database"
    )]
    Incomplete(String),
    /// The application refused or failed a step.
    #[error("demo mode: {0}")]
    App(#[from] AppError),
    /// The synthetic clips cannot be loaded.
    #[error("demo mode: the synthetic clips: {0:#}")]
    Clips(anyhow::Error),
}

/// What demo mode found in the database, or made in it.
#[derive(Debug)]
pub struct DemoData {
    pub session_id: Uuid,
    /// The user that publishes the feeds.
    pub feeds_user: Uuid,
    pub status: SessionStatus,
    /// The personas' passwords when this start created them (shown once); empty otherwise.
    pub passwords: Vec<(Persona, String)>,
}

/// Seeds an empty database, or finds the demo of an earlier start; refuses any other database.
pub async fn prepare(app: &App) -> Result<DemoData, DemoError> {
    // The credentials table is written before the log at registration, and is no projection:
    // it answers at once, even while the read models catch up.
    match app
        .credentials
        .find(FEEDS_USERNAME)
        .await
        .map_err(AppError::from)?
    {
        Some((feeds_user, _)) => find(app, feeds_user).await,
        None => {
            let position = app.store.head_position().await.map_err(AppError::from)?;
            if position > 0 {
                return Err(DemoError::NotADemoDatabase { position });
            }
            seed(app).await
        }
    }
}

/// A command of the demo, run by `user` (the log's actor).
async fn run(
    app: &App,
    user: (Uuid, OrgRole),
    session_id: Uuid,
    command: SessionCommand,
    correlation_id: Uuid,
) -> Result<(), AppError> {
    let ctx = CommandContext::new(user.0, user.1, Utc::now());
    app.execute_session_command(&ctx, session_id, &command, correlation_id)
        .await?;
    Ok(())
}

/// Creates the users, the session, its members and its sources, in that order.
async fn seed(app: &App) -> Result<DemoData, DemoError> {
    let correlation_id = Uuid::now_v7();
    // As `livesurgery users create` does: the operator, an admin with no user id of their own.
    let operator = CommandContext::new(Uuid::nil(), OrgRole::Admin, Utc::now());
    let register = |username: &str, display_name: &str, role: OrgRole, password: String| {
        let user = NewUser {
            username: username.to_owned(),
            password,
            role,
            display_name: display_name.to_owned(),
        };
        let operator = operator.clone();
        async move {
            let (id, _) = register_user(
                &*app.store,
                &app.credentials,
                &operator,
                correlation_id,
                &user,
            )
            .await?;
            Ok::<_, AppError>(id)
        }
    };
    // The feeds user first: its name is what a later start looks for. Its password is random
    // and dropped at once, so nobody can sign in as it.
    let feeds_user = register(
        FEEDS_USERNAME,
        FEEDS_DISPLAY_NAME,
        OrgRole::Surgeon,
        random_password(),
    )
    .await?;
    let mut people = Vec::with_capacity(PERSONAS.len());
    let mut passwords = Vec::with_capacity(PERSONAS.len());
    for persona in PERSONAS {
        let password = random_password();
        let id = register(
            persona.username,
            persona.display_name,
            persona.org_role,
            password.clone(),
        )
        .await?;
        people.push((persona, id));
        passwords.push((persona, password));
    }
    let (host, host_id) = people[0];
    let host = (host_id, host.org_role);
    let session_id = Uuid::now_v7();
    let create = SessionCommand::CreateSession {
        session_id,
        title: SESSION_TITLE.to_owned(),
        procedure: Some(SESSION_PROCEDURE.to_owned()),
        scheduled_start: None,
    };
    run(app, host, session_id, create, correlation_id).await?;
    let members = people[1..]
        .iter()
        .map(|(persona, id)| (*id, persona.session_role))
        .chain([(feeds_user, SessionRole::Surgeon)]);
    for (user_id, role) in members {
        let add = SessionCommand::AddMember { user_id, role };
        run(app, host, session_id, add, correlation_id).await?;
    }
    run(
        app,
        host,
        session_id,
        SessionCommand::StartSession,
        correlation_id,
    )
    .await?;
    for (panel, source) in PANEL_SOURCES {
        let select = SessionCommand::SelectSource {
            panel_id: panel.to_owned(),
            source_id: Some(source.to_owned()),
        };
        run(app, host, session_id, select, correlation_id).await?;
    }
    tracing::info!(
        session = %session_id,
        users = PERSONAS.len() + 1,
        "demo mode: seeded the synthetic personas and the live demo session"
    );
    Ok(DemoData {
        session_id,
        feeds_user,
        status: SessionStatus::Live,
        passwords,
    })
}

/// The demo session of an earlier start, found through the read models once they have caught
/// up with the log.
async fn find(app: &App, feeds_user: Uuid) -> Result<DemoData, DemoError> {
    let head = app.store.head_position().await.map_err(AppError::from)?;
    if !app.projector.wait_for(head, CATCH_UP).await {
        return Err(AppError::unavailable(
            "not_caught_up",
            format!("the read models did not reach the log's position {head} within {CATCH_UP:?}"),
        )
        .into());
    }
    let filter = SessionFilter {
        member: Some(feeds_user),
        limit: 1000,
        ..SessionFilter::default()
    };
    let sessions = app
        .read_models
        .list_sessions(&filter)
        .await
        .map_err(AppError::from)?;
    let session = sessions
        .items
        .into_iter()
        .find(|s| s.title == SESSION_TITLE)
        .ok_or_else(|| DemoError::Incomplete("the demo session is missing".into()))?;
    if session.status == SessionStatus::Scheduled {
        return Err(DemoError::Incomplete(
            "the demo session was never started".into(),
        ));
    }
    Ok(DemoData {
        session_id: session.session_id,
        feeds_user,
        status: session.status,
        passwords: Vec::new(),
    })
}

/// Demo mode running: the feeds' participant and its publishers, and the banner to print.
pub struct Demo {
    app: Arc<App>,
    data: DemoData,
    /// The feeds' participant of this start (`None` when the session is over).
    participant_id: Option<Uuid>,
    publishers: Vec<SyntheticPublisher>,
    /// Stops the publishers when the log says the session is over (held here: the dispatcher
    /// keeps only a weak reference).
    _session_over: Option<Arc<dyn LogListener>>,
    banner: Option<String>,
}

/// Stops the synthetic feeds once the demo session ends or is cancelled, so they do not
/// publish again into a session that is over (the SFU, which cuts their media then, does not
/// check whether a session is live: the WHIP handler does, and the feeds do not pass through
/// it).
struct SessionOver {
    session_id: Uuid,
    stops: Vec<StopSignal>,
}

impl LogListener for SessionOver {
    fn on_events(&self, batch: &[Dispatched]) {
        let over = batch
            .iter()
            .filter_map(Dispatched::event)
            .any(|event| match event {
                Event::SessionEnded(e) => e.session_id == self.session_id,
                Event::SessionCancelled(e) => e.session_id == self.session_id,
                _ => false,
            });
        if over {
            tracing::info!(session = %self.session_id, "demo mode: the demo session is over; stopping the synthetic feeds");
            self.stops.iter().for_each(StopSignal::send);
        }
    }
}

impl Demo {
    /// Prepares the demo data ([`prepare`]) and, while the session is live, joins the feeds'
    /// participant and starts one synthetic publisher per source into `sfu`. `url` is where a
    /// browser reaches this server, for the banner.
    /// The feeds follow the log through `dispatcher` to stop when the session is over.
    pub async fn start(
        app: Arc<App>,
        sfu: Arc<Sfu>,
        dispatcher: &Dispatcher,
        url: &str,
    ) -> Result<Demo, DemoError> {
        let data = prepare(&app).await?;
        let banner = Some(banner(&data, url));
        let mut demo = Demo {
            app,
            data,
            participant_id: None,
            publishers: Vec::new(),
            _session_over: None,
            banner,
        };
        if demo.data.status != SessionStatus::Live {
            tracing::warn!(
                session = %demo.data.session_id,
                status = ?demo.data.status,
                "demo mode: the demo session is over, so no synthetic feeds are published; \
                 start with an empty database for a new demo"
            );
            return Ok(demo);
        }
        let clips = feeds::builtin().map_err(DemoError::Clips)?;
        demo.leave_stale().await?;
        let participant_id = Uuid::now_v7();
        let join = SessionCommand::JoinParticipant {
            participant_id,
            device: Some(FEEDS_DEVICE.to_owned()),
        };
        let feeds = (demo.data.feeds_user, OrgRole::Surgeon);
        run(&demo.app, feeds, demo.data.session_id, join, Uuid::now_v7()).await?;
        demo.participant_id = Some(participant_id);
        let labels: Vec<String> = clips.iter().map(|(label, _)| label.clone()).collect();
        for (label, clip) in clips {
            let info = PeerInfo {
                resource_id: Uuid::now_v7(),
                session_id: demo.data.session_id,
                participant_id,
                user_id: demo.data.feeds_user,
                org_role: OrgRole::Surgeon,
            };
            demo.publishers
                .push(SyntheticPublisher::start(sfu.clone(), info, label, clip));
        }
        let session_over: Arc<dyn LogListener> = Arc::new(SessionOver {
            session_id: demo.data.session_id,
            stops: demo
                .publishers
                .iter()
                .map(SyntheticPublisher::stop_signal)
                .collect(),
        });
        dispatcher.listen(Arc::downgrade(&session_over));
        demo._session_over = Some(session_over);
        tracing::info!(
            session = %demo.data.session_id,
            participant = %participant_id,
            sources = labels.join(","),
            "demo mode: publishing the synthetic feeds"
        );
        Ok(demo)
    }

    /// The demo session.
    pub fn session_id(&self) -> Uuid {
        self.data.session_id
    }

    /// The banner for standard output, once (it may hold the personas' passwords).
    pub fn take_banner(&mut self) -> Option<String> {
        self.banner.take()
    }

    /// Stops the publishers (the SFU sees them leave), then the feeds' participant leaves.
    pub async fn stop(self) {
        for publisher in self.publishers {
            publisher.stop().await;
        }
        if let Some(participant_id) = self.participant_id {
            let ctx = participant_context(self.data.feeds_user, OrgRole::Surgeon, participant_id);
            let leave = SessionCommand::LeaveParticipant {
                participant_id,
                reason: LeaveReason::Left,
            };
            let left = self
                .app
                .execute_session_command(&ctx, self.data.session_id, &leave, Uuid::now_v7())
                .await;
            if let Err(error) = left {
                tracing::warn!(error = %AppError::from(error), "demo mode: the feeds' participant could not leave");
            }
        }
        tracing::info!("demo mode: synthetic feeds stopped");
    }

    /// Feeds participants an earlier start left present (it was killed): they leave as
    /// disconnected, so the presence list shows one.
    async fn leave_stale(&self) -> Result<(), AppError> {
        let present = self
            .app
            .read_models
            .participants_present(self.data.session_id)
            .await?;
        for stale in present.iter().filter(|p| p.user_id == self.data.feeds_user) {
            let ctx =
                participant_context(self.data.feeds_user, OrgRole::Surgeon, stale.participant_id);
            let leave = SessionCommand::LeaveParticipant {
                participant_id: stale.participant_id,
                reason: LeaveReason::Disconnected,
            };
            self.app
                .execute_session_command(&ctx, self.data.session_id, &leave, Uuid::now_v7())
                .await?;
        }
        Ok(())
    }
}

/// The banner `serve --demo` prints: where to go, who to be, that it is all synthetic.
fn banner(data: &DemoData, url: &str) -> String {
    let rule = "=".repeat(78);
    let mut lines = vec![
        rule.clone(),
        "LiveSurgery DEMO MODE: all media and data are synthetic (no patient data).".to_owned(),
        format!("Open {url}/ and sign in as one of these personas:"),
    ];
    if data.passwords.is_empty() {
        for persona in PERSONAS {
            lines.push(format!("  {:<14} {}", persona.username, persona.what));
        }
        lines.push("Their passwords were printed once, at the start that created them.".to_owned());
    } else {
        for (persona, password) in &data.passwords {
            lines.push(format!(
                "  {:<14} password: {password}  ({})",
                persona.username, persona.what
            ));
        }
        lines.push(
            "These passwords are shown once, now: note them (they are stored only hashed)."
                .to_owned(),
        );
    }
    lines.push(format!(
        "Demo session \"{SESSION_TITLE}\": {url}/sessions/{}/workspace",
        data.session_id
    ));
    if data.status != SessionStatus::Live {
        lines.push(format!(
            "The demo session is {}: no feeds. For a new demo, start with an empty database.",
            status_name(data.status)
        ));
    }
    lines.push(rule);
    lines.join("\n")
}

fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Scheduled => "scheduled",
        SessionStatus::Live => "live",
        SessionStatus::Ended => "ended",
        SessionStatus::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_banner_gives_every_password_and_says_synthetic_and_a_later_one_none() {
        let mut data = DemoData {
            session_id: Uuid::nil(),
            feeds_user: Uuid::nil(),
            status: SessionStatus::Live,
            passwords: PERSONAS
                .iter()
                .map(|p| (*p, format!("pw-of-{}", p.username)))
                .collect(),
        };
        let first = banner(&data, "http://127.0.0.1:8080");
        assert!(
            first.contains("all media and data are synthetic"),
            "{first}"
        );
        assert!(first.contains("http://127.0.0.1:8080/"), "{first}");
        for persona in PERSONAS {
            let line = first
                .lines()
                .find(|l| l.trim_start().starts_with(persona.username))
                .unwrap_or_else(|| panic!("no line for {}: {first}", persona.username));
            assert!(
                line.contains(&format!("password: pw-of-{}", persona.username)),
                "{line}"
            );
        }
        data.passwords.clear();
        data.status = SessionStatus::Ended;
        let later = banner(&data, "http://127.0.0.1:8080");
        assert!(!later.contains("password:"), "{later}");
        assert!(
            later.contains("demo-observer") && later.contains("is ended"),
            "{later}"
        );
    }

    #[test]
    fn every_persona_may_do_what_the_banner_says_and_the_feeds_user_may_publish() {
        use livesurgery_domain::permissions::{Action, authorize};
        let may = |org, role, action| authorize(org, Some(role), action).is_ok();
        assert!(may(
            OrgRole::Surgeon,
            SessionRole::Surgeon,
            Action::PublishMedia
        ));
        let [host, surgeon, observer, reviewer, admin] = PERSONAS;
        assert!(may(
            host.org_role,
            host.session_role,
            Action::KickParticipant
        ));
        assert!(may(
            surgeon.org_role,
            surgeon.session_role,
            Action::UpdateLayout
        ));
        assert!(may(
            observer.org_role,
            observer.session_role,
            Action::SubscribeMedia
        ));
        assert!(!may(
            observer.org_role,
            observer.session_role,
            Action::UpdateLayout
        ));
        assert!(may(
            reviewer.org_role,
            reviewer.session_role,
            Action::ReadAuditTrail
        ));
        assert!(may(
            admin.org_role,
            admin.session_role,
            Action::ManageArchives
        ));
        let usernames: Vec<_> = PERSONAS.iter().map(|p| p.username).collect();
        assert!(
            usernames.iter().all(|u| u.starts_with("demo-"))
                && !usernames.contains(&FEEDS_USERNAME)
        );
    }
}
