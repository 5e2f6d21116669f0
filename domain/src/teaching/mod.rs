//! Teaching on live video: the session's strokes, chat, questions and raised hands as the log
//! has them, the rules of the teaching commands, and the stroke simplification that keeps an
//! hour of drawing a small part of the log.
//!
//! Decisions this module makes (the issue left them open):
//! - strokes, the pointer, chat and questions need the session live and the command to come from
//!   a participant of the caller that is present;
//! - "an observer" for the host's switches is an organisation observer or a session observer
//!   (admins are never held back); the annotate switch does not stop an observer from clearing
//!   their own strokes, and the chat switch does not cover questions;
//! - an arrow and a circle have exactly two points; a freehand stroke 2 to 256;
//! - a chat message or question may span lines (`\n`; `\r\n` is stored as `\n`) and is trimmed;
//!   mentions are deduplicated in order and must name members;
//! - answering an answered question changes nothing (`no_change`); lowering a hand that is not
//!   raised is `not_found`;
//! - the fold keeps at most [`MAX_KEPT_STROKES`] strokes (dropping the oldest unpinned one
//!   first), the last [`MAX_KEPT_CHAT`] messages and [`MAX_KEPT_QUESTIONS`] questions (dropping
//!   the oldest answered one first), so a session's state stays small however long it runs;
//! - a removed member's raised hand is lowered with them.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::context::CommandContext;
use crate::error::DomainError;
use crate::events::{
    AnnotationCleared, AnnotationStroke, ChatMessagePosted, ClearScope, Event, FramePoint,
    HandLowered, HandRaised, PointerMoved, PointerSample, QuestionAnswered, QuestionAsked,
    StrokeKind, TeachingSettingsChanged,
};
use crate::layout;
use crate::roles::{OrgRole, SessionRole};
use crate::session::SessionState;

mod simplify;
pub use simplify::{simplify, simplify_to_fit};

/// The most points a stroke may arrive with, before simplification (`stroke_too_large`).
pub const MAX_RAW_STROKE_POINTS: usize = 2048;
/// The most points a stroke is written with, after simplification.
pub const MAX_STROKE_POINTS: usize = 256;
/// The Ramer–Douglas–Peucker tolerance a stroke is simplified with first, in frame units
/// (0.002 of the frame: about 4 pixels of a 1080p picture).
pub const SIMPLIFY_EPSILON: f64 = 0.002;
/// The thinnest and thickest line, as a share of the frame's width.
pub const STROKE_WIDTH_RANGE: (f64, f64) = (0.001, 0.05);
/// The most samples one `PointerMoved` carries.
pub const MAX_POINTER_SAMPLES: usize = 20;
/// The latest a pointer sample may be after the batch's first, in ms.
pub const MAX_POINTER_OFFSET_MS: u32 = 1000;
/// The longest chat message, in characters.
pub const MAX_CHAT_LEN: usize = 1000;
/// The longest question, in characters.
pub const MAX_QUESTION_LEN: usize = 500;
/// The most members one chat message mentions.
pub const MAX_MENTIONS: usize = 20;
/// The shortest and longest time an unpinned stroke stays, in ms.
pub const STROKE_FADE_RANGE_MS: (u32, u32) = (1_000, 600_000);
/// Strokes the session's state keeps (pinned ones first).
pub const MAX_KEPT_STROKES: usize = 500;
/// Chat messages the session's state keeps (the last ones).
pub const MAX_KEPT_CHAT: usize = 200;
/// Questions the session's state keeps (open ones first).
pub const MAX_KEPT_QUESTIONS: usize = 200;

/// The host's switches for a session's teaching tools.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TeachingSettings {
    /// Observers may draw and point.
    pub observers_may_annotate: bool,
    /// Observers may post to the chat.
    pub observer_chat: bool,
    /// How long an unpinned stroke stays, in ms.
    pub stroke_fade_ms: u32,
}

impl Default for TeachingSettings {
    fn default() -> Self {
        TeachingSettings {
            observers_may_annotate: false,
            observer_chat: true,
            stroke_fade_ms: 8_000,
        }
    }
}

/// A stroke not cleared yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stroke {
    pub stroke_id: Uuid,
    pub user_id: Uuid,
    pub participant_id: Uuid,
    /// When it was written (`None` in a fold without envelope times: the command path's).
    pub drawn_at: Option<DateTime<Utc>>,
    pub panel_id: String,
    pub source_id: Option<String>,
    pub media_time_ms: Option<u64>,
    pub kind: StrokeKind,
    pub points: Vec<FramePoint>,
    pub color: String,
    pub width: f64,
    pub pinned: bool,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub text: String,
    pub mentions: Vec<Uuid>,
    pub posted_at: Option<DateTime<Utc>>,
}

/// A question to the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub question_id: Uuid,
    pub user_id: Uuid,
    pub text: String,
    pub asked_at: Option<DateTime<Utc>>,
    /// `None` while open (and in a fold without envelope times).
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether it was answered (what the rules read; times may be unknown).
    #[serde(skip)]
    pub answered: bool,
}

/// A raised hand.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hand {
    pub user_id: Uuid,
    pub raised_at: Option<DateTime<Utc>>,
}

/// The teaching part of a session's state, bounded (see the module's decisions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TeachingState {
    pub settings: TeachingSettings,
    /// In drawing order.
    pub strokes: Vec<Stroke>,
    /// In posting order.
    pub chat: VecDeque<ChatMessage>,
    /// In asking order.
    pub questions: Vec<Question>,
    /// In the order raised: the host's queue.
    pub hands: Vec<Hand>,
}

/// The teaching part of a session as people see it at a time: faded strokes left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeachingView {
    pub settings: TeachingSettings,
    pub strokes: Vec<Stroke>,
    pub chat: Vec<ChatMessage>,
    pub questions: Vec<Question>,
    pub hands: Vec<Hand>,
}

impl TeachingState {
    /// Folds one event recorded at `at` (`None` when the fold has no envelope times); events
    /// that are not about teaching change nothing.
    pub fn apply(&mut self, event: &Event, at: Option<DateTime<Utc>>) {
        match event {
            Event::AnnotationStroke(e) => {
                self.strokes.push(Stroke {
                    stroke_id: e.stroke_id,
                    user_id: e.user_id,
                    participant_id: e.participant_id,
                    drawn_at: at,
                    panel_id: e.panel_id.clone(),
                    source_id: e.source_id.clone(),
                    media_time_ms: e.media_time_ms,
                    kind: e.kind,
                    points: e.points.clone(),
                    color: e.color.clone(),
                    width: e.width,
                    pinned: e.pinned,
                });
                if self.strokes.len() > MAX_KEPT_STROKES {
                    let oldest = self.strokes.iter().position(|s| !s.pinned).unwrap_or(0);
                    self.strokes.remove(oldest);
                }
            }
            Event::AnnotationCleared(e) => self.strokes.retain(|s| {
                let on_panel = e.panel_id.as_ref().is_none_or(|p| *p == s.panel_id);
                let whose = e.scope == ClearScope::All || s.user_id == e.user_id;
                !(on_panel && whose)
            }),
            Event::ChatMessagePosted(e) => {
                self.chat.push_back(ChatMessage {
                    message_id: e.message_id,
                    user_id: e.user_id,
                    text: e.text.clone(),
                    mentions: e.mentions.clone(),
                    posted_at: at,
                });
                if self.chat.len() > MAX_KEPT_CHAT {
                    self.chat.pop_front();
                }
            }
            Event::QuestionAsked(e) => {
                self.questions.push(Question {
                    question_id: e.question_id,
                    user_id: e.user_id,
                    text: e.text.clone(),
                    asked_at: at,
                    answered_at: None,
                    answered: false,
                });
                if self.questions.len() > MAX_KEPT_QUESTIONS {
                    let oldest = self.questions.iter().position(|q| q.answered).unwrap_or(0);
                    self.questions.remove(oldest);
                }
            }
            Event::QuestionAnswered(e) => {
                if let Some(q) = self
                    .questions
                    .iter_mut()
                    .find(|q| q.question_id == e.question_id)
                {
                    q.answered = true;
                    q.answered_at = at;
                }
            }
            Event::HandRaised(e) if !self.hands.iter().any(|h| h.user_id == e.user_id) => {
                self.hands.push(Hand {
                    user_id: e.user_id,
                    raised_at: at,
                });
            }
            Event::HandLowered(e) => self.hands.retain(|h| h.user_id != e.user_id),
            Event::MemberRemoved(e) => self.hands.retain(|h| h.user_id != e.user_id),
            Event::TeachingSettingsChanged(e) => {
                let s = &mut self.settings;
                s.observers_may_annotate =
                    e.observers_may_annotate.unwrap_or(s.observers_may_annotate);
                s.observer_chat = e.observer_chat.unwrap_or(s.observer_chat);
                s.stroke_fade_ms = e.stroke_fade_ms.unwrap_or(s.stroke_fade_ms);
            }
            _ => {}
        }
    }

    /// What people see at `now` (`None`: every stroke kept): pinned strokes and unpinned ones
    /// younger than the fade time; a stroke of unknown time is kept.
    pub fn view(&self, now: Option<DateTime<Utc>>) -> TeachingView {
        let fade = chrono::Duration::milliseconds(i64::from(self.settings.stroke_fade_ms));
        let shown = |s: &&Stroke| match (s.pinned, s.drawn_at, now) {
            (false, Some(drawn_at), Some(now)) => drawn_at + fade > now,
            _ => true,
        };
        TeachingView {
            settings: self.settings,
            strokes: self.strokes.iter().filter(shown).cloned().collect(),
            chat: self.chat.iter().cloned().collect(),
            questions: self.questions.clone(),
            hands: self.hands.clone(),
        }
    }
}

// ---- the rules ----

/// A stroke as a client asks for it (after [`simplify_to_fit`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StrokeRequest<'a> {
    pub stroke_id: Uuid,
    pub panel_id: &'a str,
    pub source_id: Option<&'a str>,
    pub media_time_ms: Option<u64>,
    pub kind: StrokeKind,
    pub points: &'a [FramePoint],
    pub color: &'a str,
    pub width: f64,
    pub pinned: bool,
}

/// Who is asking, as the teaching rules need it: their present participant and whether the
/// host's observer switches apply to them.
pub(crate) struct Teacher {
    pub user_id: Uuid,
    pub participant_id: Uuid,
    pub observer: bool,
}

impl Teacher {
    /// The caller, if the command comes from a participant of theirs present in the session.
    pub(crate) fn of(
        state: &SessionState,
        ctx: &CommandContext,
        session_role: Option<SessionRole>,
    ) -> Result<Teacher, DomainError> {
        let participant_id = ctx.participant_id.ok_or_else(|| DomainError::Forbidden {
            reason: "teaching tools are used from a participant present in the session".into(),
        })?;
        match state.participants.get(&participant_id) {
            Some(p) if p.user_id == ctx.user_id => {}
            _ => return Err(DomainError::NotPresent { participant_id }),
        }
        let observer = ctx.org_role != OrgRole::Admin
            && (ctx.org_role == OrgRole::Observer || session_role == Some(SessionRole::Observer));
        Ok(Teacher {
            user_id: ctx.user_id,
            participant_id,
            observer,
        })
    }

    fn may_annotate(&self, state: &SessionState) -> Result<(), DomainError> {
        if self.observer && !state.teaching.settings.observers_may_annotate {
            return Err(DomainError::Forbidden {
                reason: "the host has not allowed observers to annotate".into(),
            });
        }
        Ok(())
    }
}

fn panel_exists(state: &SessionState, panel_id: &str) -> Result<(), DomainError> {
    state
        .layout
        .panel(panel_id)
        .map(|_| ())
        .ok_or_else(|| DomainError::not_found(format!("panel {panel_id}")))
}

fn in_frame(x: f64) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

/// Refuses a point that is not finite or outside the frame (0..=1 on both axes).
pub fn check_frame_points(field: &'static str, points: &[FramePoint]) -> Result<(), DomainError> {
    if let Some(i) = points
        .iter()
        .position(|[x, y]| !in_frame(*x) || !in_frame(*y))
    {
        return Err(DomainError::validation(
            field,
            format!("point {i} is outside the frame: x and y must be numbers in 0..=1"),
        ));
    }
    Ok(())
}

/// Checks a colour: `#rrggbb`; returns it in lower case.
fn check_color(color: &str) -> Result<String, DomainError> {
    let hex = color.strip_prefix('#').unwrap_or("");
    if color.len() == 7 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(color.to_ascii_lowercase())
    } else {
        Err(DomainError::validation("color", "must be #rrggbb"))
    }
}

/// Checks text that may span lines (chat, questions): 1 to `max` characters once trimmed, no
/// control character but `\n`, no spoofing characters. Returns it trimmed, `\r\n` as `\n`.
fn check_multiline_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, DomainError> {
    let text = value.replace("\r\n", "\n").trim().to_owned();
    if text.is_empty() || text.chars().count() > max {
        return Err(DomainError::validation(
            field,
            format!("must be 1-{max} characters, not blank"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(DomainError::validation(
            field,
            "must not contain control characters other than line breaks",
        ));
    }
    crate::text::check_not_spoofing(field, &text)?;
    Ok(text)
}

pub(crate) fn draw_stroke(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
    r: &StrokeRequest<'_>,
) -> Result<Vec<Event>, DomainError> {
    who.may_annotate(state)?;
    panel_exists(state, r.panel_id)?;
    if let Some(s) = r.source_id {
        layout::validate_source_id(s)?;
    }
    let count = r.points.len();
    match r.kind {
        StrokeKind::Arrow if count != 2 => {
            return Err(DomainError::validation(
                "points",
                "an arrow has exactly 2 points: tail and head",
            ));
        }
        StrokeKind::Circle if count != 2 => {
            return Err(DomainError::validation(
                "points",
                "a circle has exactly 2 points: centre and a point on the rim",
            ));
        }
        _ if !(2..=MAX_STROKE_POINTS).contains(&count) => {
            return Err(DomainError::validation(
                "points",
                format!("a stroke has 2-{MAX_STROKE_POINTS} points once simplified"),
            ));
        }
        _ => {}
    }
    check_frame_points("points", r.points)?;
    let color = check_color(r.color)?;
    let (thinnest, thickest) = STROKE_WIDTH_RANGE;
    if !(r.width.is_finite() && (thinnest..=thickest).contains(&r.width)) {
        return Err(DomainError::validation(
            "width",
            format!("must be {thinnest}..={thickest} of the frame's width"),
        ));
    }
    if state
        .teaching
        .strokes
        .iter()
        .any(|s| s.stroke_id == r.stroke_id)
    {
        return Err(DomainError::AlreadyExists {
            what: format!("stroke {}", r.stroke_id),
        });
    }
    Ok(vec![Event::AnnotationStroke(AnnotationStroke {
        session_id,
        stroke_id: r.stroke_id,
        user_id: who.user_id,
        participant_id: who.participant_id,
        panel_id: r.panel_id.to_owned(),
        source_id: r.source_id.map(str::to_owned),
        media_time_ms: r.media_time_ms,
        kind: r.kind,
        points: r.points.to_vec(),
        color,
        width: r.width,
        pinned: r.pinned,
    })])
}

pub(crate) fn clear_annotations(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
    scope: ClearScope,
    panel_id: Option<&str>,
) -> Result<Vec<Event>, DomainError> {
    if let Some(panel_id) = panel_id {
        panel_exists(state, panel_id)?;
    }
    Ok(vec![Event::AnnotationCleared(AnnotationCleared {
        session_id,
        user_id: who.user_id,
        scope,
        panel_id: panel_id.map(str::to_owned),
    })])
}

pub(crate) fn move_pointer(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
    panel_id: &str,
    source_id: Option<&str>,
    points: &[PointerSample],
) -> Result<Vec<Event>, DomainError> {
    who.may_annotate(state)?;
    panel_exists(state, panel_id)?;
    if let Some(s) = source_id {
        layout::validate_source_id(s)?;
    }
    if !(1..=MAX_POINTER_SAMPLES).contains(&points.len()) {
        return Err(DomainError::validation(
            "points",
            format!("a pointer batch has 1-{MAX_POINTER_SAMPLES} samples"),
        ));
    }
    if let Some(i) = points
        .iter()
        .position(|(x, y, t)| !in_frame(*x) || !in_frame(*y) || *t > MAX_POINTER_OFFSET_MS)
    {
        return Err(DomainError::validation(
            "points",
            format!(
                "sample {i}: x and y must be numbers in 0..=1 and t_ms at most \
                 {MAX_POINTER_OFFSET_MS}"
            ),
        ));
    }
    Ok(vec![Event::PointerMoved(PointerMoved {
        session_id,
        panel_id: panel_id.to_owned(),
        source_id: source_id.map(str::to_owned),
        points: points.to_vec(),
    })])
}

pub(crate) fn post_chat(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
    message_id: Uuid,
    text: &str,
    mentions: &[Uuid],
) -> Result<Vec<Event>, DomainError> {
    if who.observer && !state.teaching.settings.observer_chat {
        return Err(DomainError::Forbidden {
            reason: "the host has switched observer chat off".into(),
        });
    }
    let text = check_multiline_text("text", text, MAX_CHAT_LEN)?;
    let mut named = Vec::with_capacity(mentions.len());
    for user_id in mentions {
        if !named.contains(user_id) {
            named.push(*user_id);
        }
    }
    if named.len() > MAX_MENTIONS {
        return Err(DomainError::validation(
            "mentions",
            format!("at most {MAX_MENTIONS} members"),
        ));
    }
    if let Some(stranger) = named.iter().find(|u| !state.members.contains_key(*u)) {
        return Err(DomainError::validation(
            "mentions",
            format!("{stranger} is not a member of the session"),
        ));
    }
    if state
        .teaching
        .chat
        .iter()
        .any(|m| m.message_id == message_id)
    {
        return Err(DomainError::AlreadyExists {
            what: format!("message {message_id}"),
        });
    }
    Ok(vec![Event::ChatMessagePosted(ChatMessagePosted {
        session_id,
        message_id,
        user_id: who.user_id,
        text,
        mentions: named,
    })])
}

pub(crate) fn ask_question(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
    question_id: Uuid,
    text: &str,
) -> Result<Vec<Event>, DomainError> {
    let text = check_multiline_text("text", text, MAX_QUESTION_LEN)?;
    if state
        .teaching
        .questions
        .iter()
        .any(|q| q.question_id == question_id)
    {
        return Err(DomainError::AlreadyExists {
            what: format!("question {question_id}"),
        });
    }
    Ok(vec![Event::QuestionAsked(QuestionAsked {
        session_id,
        question_id,
        user_id: who.user_id,
        text,
    })])
}

pub(crate) fn answer_question(
    state: &SessionState,
    session_id: Uuid,
    question_id: Uuid,
) -> Result<Vec<Event>, DomainError> {
    let question = state
        .teaching
        .questions
        .iter()
        .find(|q| q.question_id == question_id)
        .ok_or_else(|| DomainError::not_found(format!("question {question_id}")))?;
    if question.answered {
        return Err(DomainError::no_change("the question is answered already"));
    }
    Ok(vec![Event::QuestionAnswered(QuestionAnswered {
        session_id,
        question_id,
    })])
}

pub(crate) fn raise_hand(
    state: &SessionState,
    session_id: Uuid,
    who: &Teacher,
) -> Result<Vec<Event>, DomainError> {
    if state
        .teaching
        .hands
        .iter()
        .any(|h| h.user_id == who.user_id)
    {
        return Err(DomainError::AlreadyRaised);
    }
    Ok(vec![Event::HandRaised(HandRaised {
        session_id,
        user_id: who.user_id,
    })])
}

pub(crate) fn lower_hand(
    state: &SessionState,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<Event>, DomainError> {
    if !state.teaching.hands.iter().any(|h| h.user_id == user_id) {
        return Err(DomainError::not_found(format!("raised hand of {user_id}")));
    }
    Ok(vec![Event::HandLowered(HandLowered {
        session_id,
        user_id,
    })])
}

pub(crate) fn change_settings(
    state: &SessionState,
    session_id: Uuid,
    observers_may_annotate: Option<bool>,
    observer_chat: Option<bool>,
    stroke_fade_ms: Option<u32>,
) -> Result<Vec<Event>, DomainError> {
    let (shortest, longest) = STROKE_FADE_RANGE_MS;
    if stroke_fade_ms.is_some_and(|ms| !(shortest..=longest).contains(&ms)) {
        return Err(DomainError::validation(
            "stroke_fade_ms",
            format!("must be {shortest}..={longest}"),
        ));
    }
    let now = state.teaching.settings;
    let event = TeachingSettingsChanged {
        session_id,
        observers_may_annotate: observers_may_annotate.filter(|v| *v != now.observers_may_annotate),
        observer_chat: observer_chat.filter(|v| *v != now.observer_chat),
        stroke_fade_ms: stroke_fade_ms.filter(|v| *v != now.stroke_fade_ms),
    };
    if event.observers_may_annotate.is_none()
        && event.observer_chat.is_none()
        && event.stroke_fade_ms.is_none()
    {
        return Err(DomainError::no_change(
            "the teaching settings are already so",
        ));
    }
    Ok(vec![Event::TeachingSettingsChanged(event)])
}
