//! The application layer, under every transport (REST in `api/`, the WebSocket gateway in
//! `realtime/`, WHIP/WHEP media in `sfu/`): who is calling ([`identity`]), may they
//! ([`access`]), carry out their command through the domain ([`commands`]), record what they
//! were refused and what media did ([`App::record_session_facts`]), and let a read wait for a
//! write ([`App::wait_until_visible`]). Recordings and archives (who may play what, and the
//! playback URLs) are in [`archives`].
//!
//! It knows no transport: no actix, tungstenite or str0m type appears here. Its errors are
//! [`AppError`]s, which each transport turns into its own answer.

pub mod access;
pub mod archives;
mod cache;
pub mod commands;
pub mod dispatch;
pub mod error;
pub mod identity;
pub mod joins;
pub mod limits;
pub mod media;
pub mod names;
pub mod nodes;
pub mod placement;
pub mod recovery;
pub mod setup;
pub mod teaching;
pub mod users;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livesurgery_domain::envelope::Actor;
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::SessionCommand;
use livesurgery_domain::user::UserCommand;
use livesurgery_domain::{CommandContext, Event};
use livesurgery_projections::{ReadModels, SessionRow, UserRow};
use uuid::Uuid;

use crate::auth::{Credentials, Keys, LoginLimiter};
use crate::projector::ProjectorHandle;
use crate::settings::ApiSettings;
use crate::store::{AppendResult, EventStore};
use cache::EpochCache;
use commands::{Accepted, CommandError, Executor};

pub use access::{Caller, Operation};
pub use archives::{ArchiveProgress, PlaybackSigner, PlaybackTarget, RecordingChange};
pub use error::{AppError, ErrorKind};
pub use identity::{JoinChannel, Participant};

/// The application service of a server process, shared by every transport.
pub struct App {
    pub store: Arc<dyn EventStore>,
    pub projector: ProjectorHandle,
    pub read_models: ReadModels,
    pub credentials: Credentials,
    pub keys: Keys,
    pub settings: ApiSettings,
    pub login_limiter: LoginLimiter,
    /// Write rate limits per user and per address, shared by REST and the WebSocket.
    pub write_limiter: limits::WriteLimiter,
    /// Joins whose WebSocket has not connected yet (see [`joins`]).
    join_watch: joins::JoinWatch,
    /// The first-start setup token, while no admin exists (see [`setup`]).
    first_start: setup::FirstStart,
    /// Projections being rebuilt now.
    pub rebuilding: Arc<Mutex<HashSet<String>>>,
    /// The progress of archives being made playable (see [`App::archive_progress`]); the
    /// recorder's processing jobs write it.
    pub processing_progress: ArchiveProgress,
    /// Where archives are played from; `None` until an archive store is wired in.
    playback: Option<Arc<dyn PlaybackSigner>>,
    executor: Executor,
    users: EpochCache<Uuid, Option<UserRow>>,
    /// Read-model rows of sessions and memberships, valid while their session's change
    /// counter stands still (see `ProjectorHandle::session_epochs`).
    session_rows: EpochCache<Uuid, Option<SessionRow>>,
    member_roles: EpochCache<(Uuid, Uuid), Option<SessionRole>>,
    known_sessions: EpochCache<Uuid, bool>,
    /// Which participants have connected media (presence beyond the WebSocket).
    pub media_presence: media::MediaPresence,
    /// This process as a media node, and where sessions' media is placed (see [`placement`]).
    pub placements: Arc<placement::Placements>,
}

impl App {
    /// The application over this log, read models and signing keys, as media node `node`.
    pub fn new(
        store: Arc<dyn EventStore>,
        projector: ProjectorHandle,
        read_models: ReadModels,
        keys: Keys,
        settings: ApiSettings,
        node: nodes::MediaNode,
    ) -> App {
        let placements = placement::Placements::new(
            node,
            nodes::MediaNodes::new(read_models.pool().clone()),
            Duration::from_millis(settings.node_heartbeat_ms),
        );
        let login_limiter = LoginLimiter::new(
            settings.login_per_username_per_minute,
            settings.login_per_address_per_minute,
        );
        let write_limiter = limits::WriteLimiter::new(
            settings.writes_per_user_per_minute,
            settings.writes_per_address_per_minute,
        );
        let first_start = setup::FirstStart::new(
            settings.login_per_username_per_minute,
            settings.login_per_address_per_minute,
        );
        App {
            store,
            projector,
            credentials: Credentials::new(read_models.pool().clone()),
            read_models,
            keys,
            settings,
            login_limiter,
            write_limiter,
            join_watch: joins::JoinWatch::default(),
            first_start,
            rebuilding: Arc::new(Mutex::new(HashSet::new())),
            processing_progress: ArchiveProgress::default(),
            playback: None,
            executor: Executor::default(),
            users: EpochCache::default(),
            session_rows: EpochCache::default(),
            member_roles: EpochCache::default(),
            known_sessions: EpochCache::default(),
            media_presence: media::MediaPresence::default(),
            placements,
        }
    }

    /// A user as the read models know them, cached until an event of theirs is projected.
    pub async fn user(&self, user_id: Uuid) -> Result<Option<UserRow>, AppError> {
        let epoch = self.projector.user_epochs().get(&user_id);
        self.users
            .get_or_load(user_id, epoch, || self.read_models.get_user(user_id))
            .await
    }

    /// A session's read-model row, from the cache while the session has not changed.
    pub async fn session_row(&self, session_id: Uuid) -> Result<Option<SessionRow>, AppError> {
        let epoch = self.projector.session_epochs().get(&session_id);
        self.session_rows
            .get_or_load(session_id, epoch, || {
                self.read_models.get_session(session_id)
            })
            .await
    }

    /// Whether a session exists (in the read models), cached while its membership events,
    /// creation included, stand still.
    pub async fn session_exists(&self, session_id: Uuid) -> Result<bool, AppError> {
        let epoch = self.projector.member_epochs().get(&session_id);
        self.known_sessions
            .get_or_load(session_id, epoch, || async move {
                let row = self.read_models.get_session(session_id).await?;
                Ok::<_, AppError>(row.is_some())
            })
            .await
    }

    /// A user's role in a session (`None`: not a member), cached while the session's
    /// membership has not changed.
    pub async fn member_role(
        &self,
        session_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<SessionRole>, AppError> {
        let epoch = self.projector.member_epochs().get(&session_id);
        self.member_roles
            .get_or_load((session_id, user_id), epoch, || {
                self.read_models.member_role(session_id, user_id)
            })
            .await
    }

    /// Runs a session command with this context: the write path of REST callers and of
    /// WebSocket participants (whose context names the participant, so it is in the actor).
    pub async fn execute_session_command(
        &self,
        ctx: &CommandContext,
        session_id: Uuid,
        command: &SessionCommand,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError> {
        self.executor
            .execute::<livesurgery_domain::aggregate::Session>(
                &*self.store,
                session_id,
                command,
                ctx,
                correlation_id,
            )
            .await
    }

    /// Runs a user command with this context.
    pub async fn execute_user_command(
        &self,
        ctx: &CommandContext,
        user_id: Uuid,
        command: &UserCommand,
        correlation_id: Uuid,
    ) -> Result<Accepted, CommandError> {
        self.executor
            .execute::<livesurgery_domain::aggregate::User>(
                &*self.store,
                user_id,
                command,
                ctx,
                correlation_id,
            )
            .await
    }

    /// Appends facts to a session's stream (media events, first frames), in turn with its
    /// commands. Each fact's actor comes from its [`CommandContext`], the one actor rule of
    /// the log: the user, their organisation role, and the participant when there is one.
    pub async fn record_session_facts(
        &self,
        session_id: Uuid,
        facts: &[(Event, CommandContext)],
        correlation_id: Uuid,
    ) -> Result<AppendResult, CommandError> {
        let facts: Vec<(Event, Actor)> = facts
            .iter()
            .map(|(event, ctx)| (event.clone(), ctx.actor()))
            .collect();
        self.executor
            .record::<livesurgery_domain::aggregate::Session>(
                &*self.store,
                session_id,
                &facts,
                correlation_id,
            )
            .await
    }

    /// Appends facts of the server itself (the recorder's archive events) to a session's
    /// stream, with the system actor, in turn with the stream's commands.
    pub async fn record_system_facts(
        &self,
        session_id: Uuid,
        facts: Vec<Event>,
    ) -> Result<AppendResult, CommandError> {
        let facts: Vec<(Event, Actor)> = facts.into_iter().map(|e| (e, Actor::system())).collect();
        self.executor
            .record::<livesurgery_domain::aggregate::Session>(
                &*self.store,
                session_id,
                &facts,
                Uuid::now_v7(),
            )
            .await
    }

    /// Waits, bounded by the read wait, until the read models reach `position`; false when
    /// they did not in time.
    pub async fn wait_for(&self, position: u64) -> bool {
        let wait = Duration::from_millis(self.settings.read_wait_ms);
        self.projector.wait_for(position, wait).await
    }

    /// Read-your-writes: returns once the read models show position `wanted`; `invalid` for a
    /// position past the log's end (it names no write), `unavailable` (`not_caught_up`) when
    /// the read models do not get there within the read wait.
    pub async fn wait_until_visible(&self, wanted: u64) -> Result<(), AppError> {
        if wanted <= self.projector.position() {
            return Ok(());
        }
        let head = self.store.head_position().await?;
        if wanted > head {
            return Err(AppError::invalid(
                "invalid_min_position",
                format!("position {wanted} is past the end of the log ({head})"),
            ));
        }
        if self.wait_for(wanted).await {
            Ok(())
        } else {
            Err(AppError::unavailable(
                "not_caught_up",
                format!(
                    "the read models have not reached position {wanted} yet (at {})",
                    self.projector.position()
                ),
            ))
        }
    }
}

/// Locks a mutex, taking over a poisoned one: every value kept under these locks stays valid
/// whatever a panicking holder was doing (caches, registries).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
