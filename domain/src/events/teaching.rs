//! Events of teaching on live video, on the session stream: strokes drawn on a panel's picture
//! (telestration), the laser pointer, chat, questions to the host and raised hands, and the
//! host's switches for them.
//!
//! Coordinates are normalised to the video frame: `x`, `y` in 0..=1 of the displayed picture
//! (letterboxing excluded), origin top-left, so a mark stays on the anatomy whatever the panel's
//! size. Where the session's fold needs to know whose a stroke, message, question or hand is,
//! the user (and participant) is in `data` too, as `LayoutUpdated::changed_by` is: `evolve` sees
//! the event without its envelope. Times are the envelope's `recorded_at`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A point of a stroke: `[x, y]`, each in 0..=1 of the video frame.
pub type FramePoint = [f64; 2];

/// A pointer sample: `[x, y, t_ms]`, `t_ms` the offset from the batch's first sample.
pub type PointerSample = (f64, f64, u32);

/// What a stroke draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrokeKind {
    /// A hand-drawn line through its points.
    Freehand,
    /// An arrow from its first point (tail) to its second (head).
    Arrow,
    /// A circle around its first point (centre) through its second (on the rim).
    Circle,
}

impl StrokeKind {
    /// The snake_case name (`"freehand"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            StrokeKind::Freehand => "freehand",
            StrokeKind::Arrow => "arrow",
            StrokeKind::Circle => "circle",
        }
    }
}

/// Whose strokes a clear removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearScope {
    /// The actor's own strokes.
    Mine,
    /// Everyone's (the host's `clear_annotations`).
    All,
}

/// One finished gesture on a panel's picture, already simplified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationStroke {
    pub session_id: Uuid,
    pub stroke_id: Uuid,
    /// Who drew it (also the envelope's actor; here for the fold).
    pub user_id: Uuid,
    pub participant_id: Uuid,
    pub panel_id: String,
    /// The source the panel showed when drawn.
    pub source_id: Option<String>,
    /// The media time of the frame it was drawn on, when the browser knows it.
    pub media_time_ms: Option<u64>,
    pub kind: StrokeKind,
    /// 2 to 256 points; an arrow or circle has exactly 2.
    pub points: Vec<FramePoint>,
    /// `#rrggbb`.
    pub color: String,
    /// The line width as a share of the frame's width.
    pub width: f64,
    /// A pinned stroke does not fade.
    pub pinned: bool,
}

/// Strokes were cleared: the actor's own (`mine`) or everyone's (`all`), on one panel or all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotationCleared {
    pub session_id: Uuid,
    /// Who cleared (for `mine`: whose strokes go).
    pub user_id: Uuid,
    pub scope: ClearScope,
    /// `None`: every panel.
    pub panel_id: Option<String>,
}

/// The laser pointer's samples over one interval (at most one per 200 ms per participant).
/// Not folded into the session's state: it is in the log for the record only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerMoved {
    pub session_id: Uuid,
    pub panel_id: String,
    pub source_id: Option<String>,
    /// 1 to 20 samples.
    pub points: Vec<PointerSample>,
}

/// A chat message to the whole session. Its text may hold patient data: it belongs in the log
/// and the read models only, never in log lines or metric labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessagePosted {
    pub session_id: Uuid,
    pub message_id: Uuid,
    /// Who posted it.
    pub user_id: Uuid,
    pub text: String,
    /// Members mentioned, at most 20.
    pub mentions: Vec<Uuid>,
}

/// A question to the host. Like chat, its text may hold patient data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionAsked {
    pub session_id: Uuid,
    pub question_id: Uuid,
    /// Who asked it.
    pub user_id: Uuid,
    pub text: String,
}

/// The host marked a question answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionAnswered {
    pub session_id: Uuid,
    pub question_id: Uuid,
}

/// A member raised their hand (the actor's user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandRaised {
    pub session_id: Uuid,
    /// Whose hand (the actor's; here for the fold).
    pub user_id: Uuid,
}

/// A raised hand was lowered, by its owner or the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandLowered {
    pub session_id: Uuid,
    /// Whose hand.
    pub user_id: Uuid,
}

/// The host changed the session's teaching switches; only the fields that changed are present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeachingSettingsChanged {
    pub session_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observers_may_annotate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observer_chat: Option<bool>,
    /// How long an unpinned stroke stays, in ms (1000..=600000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stroke_fade_ms: Option<u32>,
}
