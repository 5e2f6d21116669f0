//! Teaching on live video: strokes, the pointer, chat, questions, raised hands and the host's
//! switches, each command accepted and refused for each of its rules, and what the fold keeps.

use chrono::Duration;
use livesurgery_domain::CommandContext;
use livesurgery_domain::events::*;
use livesurgery_domain::roles::{OrgRole, SessionRole};
use livesurgery_domain::session::{SessionCommand as C, SessionState, evolve_recorded, fold};
use livesurgery_domain::teaching::{MAX_KEPT_CHAT, MAX_KEPT_QUESTIONS, MAX_KEPT_STROKES};
use uuid::Uuid;

use crate::support::*;

/// Org observer who is a session surgeon.
const OBSERVER_SURGEON: Uuid = Uuid::from_u128(7);
const P_OBSERVER_SURGEON: Uuid = Uuid::from_u128(107);
const STROKE: Uuid = Uuid::from_u128(0x5700);
const MESSAGE: Uuid = Uuid::from_u128(0xC4A7);
const QUESTION: Uuid = Uuid::from_u128(0x0A5C);

/// `ctx` coming from participant `participant_id`.
fn from(ctx: CommandContext, participant_id: Uuid) -> CommandContext {
    CommandContext {
        participant_id: Some(participant_id),
        ..ctx
    }
}
fn host_p() -> CommandContext {
    from(host(), P_HOST)
}
fn surgeon_p() -> CommandContext {
    from(surgeon(), P_SURGEON)
}
fn observer_p() -> CommandContext {
    from(observer(), P_OBSERVER)
}
fn observer_surgeon_p() -> CommandContext {
    from(ctx(OBSERVER_SURGEON, OrgRole::Observer), P_OBSERVER_SURGEON)
}

/// Live, with the host, the surgeon, the observer and an org observer who is a session surgeon
/// present.
fn classroom() -> Vec<Event> {
    with(
        live(),
        [
            member_added(OBSERVER_SURGEON, SessionRole::Surgeon),
            joined(P_HOST, HOST, SessionRole::Host),
            joined(P_SURGEON, SURGEON, SessionRole::Surgeon),
            joined(P_OBSERVER, OBSERVER, SessionRole::Observer),
            joined(P_OBSERVER_SURGEON, OBSERVER_SURGEON, SessionRole::Surgeon),
        ],
    )
}

fn settings(annotate: Option<bool>, chat: Option<bool>, fade: Option<u32>) -> Event {
    Event::TeachingSettingsChanged(TeachingSettingsChanged {
        session_id: SESSION,
        observers_may_annotate: annotate,
        observer_chat: chat,
        stroke_fade_ms: fade,
    })
}

fn draw(stroke_id: Uuid, panel: &str, kind: StrokeKind, points: Vec<FramePoint>) -> C {
    C::DrawStroke {
        stroke_id,
        panel_id: panel.into(),
        source_id: Some("endoscope".into()),
        media_time_ms: Some(81_234),
        kind,
        points,
        color: "#FF8800".into(),
        width: 0.004,
        pinned: false,
    }
}

fn arrow() -> C {
    draw(
        STROKE,
        "p1",
        StrokeKind::Arrow,
        vec![[0.25, 0.75], [0.5, 0.5]],
    )
}

/// The stroke event `draw` yields for `user_id` at `participant_id`.
fn stroke(
    stroke_id: Uuid,
    user_id: Uuid,
    participant_id: Uuid,
    panel: &str,
    pinned: bool,
) -> Event {
    Event::AnnotationStroke(AnnotationStroke {
        session_id: SESSION,
        stroke_id,
        user_id,
        participant_id,
        panel_id: panel.into(),
        source_id: Some("endoscope".into()),
        media_time_ms: Some(81_234),
        kind: StrokeKind::Arrow,
        points: vec![[0.25, 0.75], [0.5, 0.5]],
        color: "#ff8800".into(),
        width: 0.004,
        pinned,
    })
}

fn raised(user_id: Uuid) -> Event {
    Event::HandRaised(HandRaised {
        session_id: SESSION,
        user_id,
    })
}

fn asked(question_id: Uuid, user_id: Uuid) -> Event {
    Event::QuestionAsked(QuestionAsked {
        session_id: SESSION,
        question_id,
        user_id,
        text: "Which plane?".into(),
    })
}

// ---- who may, and from where ----

#[test]
fn a_present_surgeon_draws_an_arrow_written_with_who_drew_it_and_the_colour_in_lower_case() {
    given(classroom())
        .by(surgeon_p())
        .when(arrow())
        .then(vec![stroke(STROKE, SURGEON, P_SURGEON, "p1", false)]);
}

#[test]
fn teaching_commands_come_from_a_present_participant_of_the_caller() {
    let commands = [
        arrow(),
        C::PostChatMessage {
            message_id: MESSAGE,
            text: "hi".into(),
            mentions: vec![],
        },
        C::RaiseHand,
    ];
    for cmd in commands {
        // No participant at all: not from a device in the session.
        given(classroom())
            .by(surgeon())
            .when(cmd.clone())
            .then_error("forbidden");
        // A participant that is not present, or is someone else's.
        given(classroom())
            .by(from(surgeon(), Uuid::from_u128(999)))
            .when(cmd.clone())
            .then_error("not_present");
        given(classroom())
            .by(from(surgeon(), P_HOST))
            .when(cmd.clone())
            .then_error("not_present");
        // Gone since.
        given(with(
            classroom(),
            [left(P_SURGEON, SURGEON, LeaveReason::Left)],
        ))
        .by(surgeon_p())
        .when(cmd)
        .then_error("not_present");
    }
}

#[test]
fn reviewers_and_outsiders_never_teach() {
    for cmd in [
        arrow(),
        C::RaiseHand,
        C::AskQuestion {
            question_id: QUESTION,
            text: "?".into(),
        },
    ] {
        for who in [reviewer(), outsider()] {
            given(classroom())
                .by(from(who, Uuid::from_u128(998)))
                .when(cmd.clone())
                .then_error("forbidden");
        }
    }
}

#[test]
fn observers_annotate_only_once_the_host_allows_it() {
    let pointer = C::MovePointer {
        panel_id: "p1".into(),
        source_id: None,
        points: vec![(0.5, 0.5, 0)],
    };
    // A session observer, and an org observer whatever their session role.
    for who in [observer_p(), observer_surgeon_p()] {
        for cmd in [arrow(), pointer.clone()] {
            let refused = given(classroom()).by(who.clone()).when(cmd.clone()).0;
            let error = refused.expect_err("observers may not annotate by default");
            assert_eq!(error.code(), "forbidden");
            assert!(
                error.to_string().contains("not allowed observers"),
                "{error}"
            );
            let allowed = with(classroom(), [settings(Some(true), None, None)]);
            assert!(given(allowed).by(who.clone()).when(cmd).0.is_ok());
        }
    }
    // Switched off again.
    let off = with(
        classroom(),
        [
            settings(Some(true), None, None),
            settings(Some(false), None, None),
        ],
    );
    given(off)
        .by(observer_p())
        .when(arrow())
        .then_error("forbidden");
}

#[test]
fn teaching_needs_the_session_live() {
    for events in [scheduled(), ended()] {
        given(events)
            .by(admin())
            .when(C::RaiseHand)
            .then_error("invalid_transition");
    }
}

// ---- strokes ----

#[test]
fn a_stroke_with_a_bad_field_is_refused_naming_the_field() {
    let line = |points: Vec<FramePoint>| draw(STROKE, "p1", StrokeKind::Freehand, points);
    let with_field = |edit: fn(&mut C)| {
        let mut cmd = arrow();
        edit(&mut cmd);
        cmd
    };
    let cases: Vec<(&str, C)> = vec![
        ("points", line(vec![[0.1, 0.1], [1.01, 0.5]])),
        ("points", line(vec![[-0.001, 0.1], [0.5, 0.5]])),
        ("points", line(vec![[f64::NAN, 0.1], [0.5, 0.5]])),
        ("points", line(vec![[0.1, f64::INFINITY], [0.5, 0.5]])),
        ("points", line(vec![[0.1, 0.1]])),
        ("points", line(vec![[0.5, 0.5]; 257])),
        (
            "points",
            draw(STROKE, "p1", StrokeKind::Arrow, vec![[0.1, 0.1]; 3]),
        ),
        (
            "points",
            draw(STROKE, "p1", StrokeKind::Circle, vec![[0.1, 0.1]]),
        ),
        (
            "color",
            with_field(|c| {
                if let C::DrawStroke { color, .. } = c {
                    *color = "red".into()
                }
            }),
        ),
        (
            "color",
            with_field(|c| {
                if let C::DrawStroke { color, .. } = c {
                    *color = "#12345g".into()
                }
            }),
        ),
        (
            "color",
            with_field(|c| {
                if let C::DrawStroke { color, .. } = c {
                    *color = "#1234567".into()
                }
            }),
        ),
        (
            "width",
            with_field(|c| {
                if let C::DrawStroke { width, .. } = c {
                    *width = 0.0009
                }
            }),
        ),
        (
            "width",
            with_field(|c| {
                if let C::DrawStroke { width, .. } = c {
                    *width = 0.051
                }
            }),
        ),
        (
            "width",
            with_field(|c| {
                if let C::DrawStroke { width, .. } = c {
                    *width = f64::NAN
                }
            }),
        ),
        (
            "source_id",
            with_field(|c| {
                if let C::DrawStroke { source_id, .. } = c {
                    *source_id = Some("s".repeat(129))
                }
            }),
        ),
    ];
    for (field, cmd) in cases {
        let error = given(classroom()).by(surgeon_p()).when(cmd.clone()).0;
        match error {
            Err(livesurgery_domain::DomainError::ValidationFailed { field: f, .. }) => {
                assert_eq!(f, field, "{cmd:?}")
            }
            other => panic!("{cmd:?}: expected a validation error on {field}, got {other:?}"),
        }
    }
    // The bounds themselves are accepted.
    for cmd in [
        line(vec![[0.0, 0.0], [1.0, 1.0]]),
        line(vec![[0.5, 0.5]; 256]),
        with_field(|c| {
            if let C::DrawStroke { width, .. } = c {
                *width = 0.05
            }
        }),
    ] {
        assert!(given(classroom()).by(surgeon_p()).when(cmd).0.is_ok());
    }
}

#[test]
fn a_stroke_on_an_unknown_panel_is_not_found_and_a_stroke_id_is_used_once() {
    given(classroom())
        .by(surgeon_p())
        .when(draw(STROKE, "p9", StrokeKind::Arrow, vec![[0.1, 0.1]; 2]))
        .then_error("not_found");
    given(with(
        classroom(),
        [stroke(STROKE, SURGEON, P_SURGEON, "p1", false)],
    ))
    .by(surgeon_p())
    .when(arrow())
    .then_error("already_exists");
}

#[test]
fn clearing_mine_removes_only_my_strokes_and_clearing_all_is_the_hosts() {
    let s1 = Uuid::from_u128(0x51);
    let s2 = Uuid::from_u128(0x52);
    let s3 = Uuid::from_u128(0x53);
    let drawn = with(
        classroom(),
        [
            stroke(s1, SURGEON, P_SURGEON, "p1", false),
            stroke(s2, HOST, P_HOST, "p1", true),
            stroke(s3, SURGEON, P_SURGEON, "p2", false),
        ],
    );
    let mine_on_p1 = given(drawn.clone())
        .by(surgeon_p())
        .when(C::ClearAnnotations {
            scope: ClearScope::Mine,
            panel_id: Some("p1".into()),
        })
        .events();
    assert_eq!(
        mine_on_p1,
        vec![Event::AnnotationCleared(AnnotationCleared {
            session_id: SESSION,
            user_id: SURGEON,
            scope: ClearScope::Mine,
            panel_id: Some("p1".into()),
        })]
    );
    let ids = |state: &SessionState| -> Vec<Uuid> {
        state.teaching.strokes.iter().map(|s| s.stroke_id).collect()
    };
    assert_eq!(ids(&fold(&with(drawn.clone(), mine_on_p1))), [s2, s3]);

    let all = C::ClearAnnotations {
        scope: ClearScope::All,
        panel_id: None,
    };
    given(drawn.clone())
        .by(surgeon_p())
        .when(all.clone())
        .then_error("forbidden");
    let cleared = given(drawn.clone()).by(host_p()).when(all).events();
    assert!(ids(&fold(&with(drawn.clone(), cleared))).is_empty());

    given(drawn)
        .by(host_p())
        .when(C::ClearAnnotations {
            scope: ClearScope::All,
            panel_id: Some("p9".into()),
        })
        .then_error("not_found");
}

#[test]
fn an_observer_clears_their_own_strokes_even_after_annotation_is_switched_off() {
    let events = with(
        classroom(),
        [
            settings(Some(true), None, None),
            stroke(STROKE, OBSERVER, P_OBSERVER, "p1", true),
            settings(Some(false), None, None),
        ],
    );
    let cleared = given(events.clone())
        .by(observer_p())
        .when(C::ClearAnnotations {
            scope: ClearScope::Mine,
            panel_id: None,
        })
        .events();
    assert!(fold(&with(events, cleared)).teaching.strokes.is_empty());
}

// ---- the pointer ----

#[test]
fn a_pointer_batch_is_written_but_not_kept_in_the_state() {
    let points = vec![(0.5, 0.5, 0), (0.52, 0.49, 100), (0.55, 0.47, 200)];
    let events = given(classroom())
        .by(surgeon_p())
        .when(C::MovePointer {
            panel_id: "p2".into(),
            source_id: None,
            points: points.clone(),
        })
        .events();
    assert_eq!(
        events,
        vec![Event::PointerMoved(PointerMoved {
            session_id: SESSION,
            panel_id: "p2".into(),
            source_id: None,
            points,
        })]
    );
    assert_eq!(fold(&with(classroom(), events)), fold(&classroom()));
}

#[test]
fn a_pointer_batch_out_of_bounds_is_refused() {
    for points in [
        vec![],
        vec![(0.5, 0.5, 0); 21],
        vec![(0.5, 0.5, 0), (0.5, 0.5, 1001)],
        vec![(1.5, 0.5, 0)],
        vec![(0.5, f64::NAN, 0)],
    ] {
        given(classroom())
            .by(surgeon_p())
            .when(C::MovePointer {
                panel_id: "p1".into(),
                source_id: None,
                points,
            })
            .then_error("validation_failed");
    }
}

// ---- chat ----

fn chat(text: &str, mentions: Vec<Uuid>) -> C {
    C::PostChatMessage {
        message_id: MESSAGE,
        text: text.into(),
        mentions,
    }
}

#[test]
fn a_chat_message_keeps_its_lines_trimmed_and_its_mentions_once_each() {
    given(classroom())
        .by(observer_p())
        .when(chat(
            "  Look at the\r\ncystic duct \n",
            vec![HOST, SURGEON, HOST],
        ))
        .then(vec![Event::ChatMessagePosted(ChatMessagePosted {
            session_id: SESSION,
            message_id: MESSAGE,
            user_id: OBSERVER,
            text: "Look at the\ncystic duct".into(),
            mentions: vec![HOST, SURGEON],
        })]);
}

#[test]
fn a_chat_message_with_bad_text_or_mentions_is_refused() {
    let many: Vec<Uuid> = (0..21).map(|i| Uuid::from_u128(5000 + i)).collect();
    for cmd in [
        chat("", vec![]),
        chat(" \n ", vec![]),
        chat("\u{200B}", vec![]),
        chat(&"x".repeat(1001), vec![]),
        chat("bell\u{7}", vec![]),
        chat("tab\tseparated", vec![]),
        chat("abc\u{202E}cba", vec![]),
        chat("hi", vec![OUTSIDER]),
        chat("hi", many),
    ] {
        given(classroom())
            .by(surgeon_p())
            .when(cmd.clone())
            .then_error("validation_failed");
    }
    assert!(
        given(classroom())
            .by(surgeon_p())
            .when(chat(&"x".repeat(1000), vec![]))
            .0
            .is_ok()
    );
}

#[test]
fn observers_chat_until_the_host_switches_observer_chat_off() {
    for who in [observer_p(), observer_surgeon_p()] {
        assert!(
            given(classroom())
                .by(who.clone())
                .when(chat("hi", vec![]))
                .0
                .is_ok()
        );
        let off = with(classroom(), [settings(None, Some(false), None)]);
        given(off.clone())
            .by(who.clone())
            .when(chat("hi", vec![]))
            .then_error("forbidden");
        // Questions and hands are not chat.
        assert!(
            given(off.clone())
                .by(who.clone())
                .when(C::RaiseHand)
                .0
                .is_ok()
        );
        assert!(
            given(off)
                .by(who)
                .when(C::AskQuestion {
                    question_id: QUESTION,
                    text: "May I?".into(),
                })
                .0
                .is_ok()
        );
    }
    let off = with(classroom(), [settings(None, Some(false), None)]);
    assert!(
        given(off)
            .by(surgeon_p())
            .when(chat("hi", vec![]))
            .0
            .is_ok()
    );
}

#[test]
fn a_message_id_is_used_once() {
    let posted = given(classroom())
        .by(surgeon_p())
        .when(chat("hi", vec![]))
        .events();
    given(with(classroom(), posted))
        .by(host_p())
        .when(chat("again", vec![]))
        .then_error("already_exists");
}

// ---- questions ----

#[test]
fn a_question_is_asked_by_any_member_and_answered_once_by_the_host() {
    let asked_events = given(classroom())
        .by(observer_p())
        .when(C::AskQuestion {
            question_id: QUESTION,
            text: " Which plane? ".into(),
        })
        .events();
    assert_eq!(asked_events, vec![asked(QUESTION, OBSERVER)]);
    let events = with(classroom(), asked_events);
    let answer = C::AnswerQuestion {
        question_id: QUESTION,
    };
    given(events.clone())
        .by(surgeon_p())
        .when(answer.clone())
        .then_error("forbidden");
    given(events.clone())
        .by(host_p())
        .when(C::AnswerQuestion {
            question_id: Uuid::from_u128(404),
        })
        .then_error("not_found");
    let answered = given(events.clone())
        .by(host_p())
        .when(answer.clone())
        .events();
    assert_eq!(
        answered,
        vec![Event::QuestionAnswered(QuestionAnswered {
            session_id: SESSION,
            question_id: QUESTION,
        })]
    );
    let events = with(events, answered);
    assert!(fold(&events).teaching.questions[0].answered);
    given(events.clone())
        .by(host_p())
        .when(answer)
        .then_error("no_change");
    given(events)
        .by(surgeon_p())
        .when(C::AskQuestion {
            question_id: QUESTION,
            text: "again".into(),
        })
        .then_error("already_exists");
}

#[test]
fn a_question_past_500_characters_is_refused() {
    given(classroom())
        .by(surgeon_p())
        .when(C::AskQuestion {
            question_id: QUESTION,
            text: "?".repeat(501),
        })
        .then_error("validation_failed");
}

// ---- hands ----

#[test]
fn a_hand_is_raised_once_and_lowered_by_its_owner_or_the_host() {
    given(classroom())
        .by(observer_p())
        .when(C::RaiseHand)
        .then(vec![raised(OBSERVER)]);
    let up = with(classroom(), [raised(OBSERVER), raised(SURGEON)]);
    given(up.clone())
        .by(observer_p())
        .when(C::RaiseHand)
        .then_error("already_raised");
    let lowered = Event::HandLowered(HandLowered {
        session_id: SESSION,
        user_id: OBSERVER,
    });
    given(up.clone())
        .by(observer_p())
        .when(C::LowerHand { user_id: None })
        .then(vec![lowered.clone()]);
    given(up.clone())
        .by(observer_p())
        .when(C::LowerHand {
            user_id: Some(OBSERVER),
        })
        .then(vec![lowered.clone()]);
    // Someone else's: the host only.
    given(up.clone())
        .by(surgeon_p())
        .when(C::LowerHand {
            user_id: Some(OBSERVER),
        })
        .then_error("forbidden");
    given(up.clone())
        .by(host_p())
        .when(C::LowerHand {
            user_id: Some(OBSERVER),
        })
        .then(vec![lowered.clone()]);
    // Not raised.
    given(up.clone())
        .by(host_p())
        .when(C::LowerHand { user_id: None })
        .then_error("not_found");
    let queue = |events: &[Event]| -> Vec<Uuid> {
        fold(events)
            .teaching
            .hands
            .iter()
            .map(|h| h.user_id)
            .collect()
    };
    assert_eq!(queue(&up), [OBSERVER, SURGEON]);
    assert_eq!(queue(&with(up.clone(), [lowered])), [SURGEON]);
    let removed = Event::MemberRemoved(MemberRemoved {
        session_id: SESSION,
        user_id: SURGEON,
    });
    assert_eq!(queue(&with(up, [removed])), [OBSERVER]);
}

// ---- settings ----

#[test]
fn the_host_changes_only_the_switches_that_differ() {
    given(classroom())
        .by(host_p())
        .when(C::ChangeTeachingSettings {
            observers_may_annotate: Some(true),
            observer_chat: Some(true),
            stroke_fade_ms: Some(8_000),
        })
        .then(vec![settings(Some(true), None, None)]);
    given(classroom())
        .by(host_p())
        .when(C::ChangeTeachingSettings {
            observers_may_annotate: Some(false),
            observer_chat: None,
            stroke_fade_ms: Some(8_000),
        })
        .then_error("no_change");
    for fade in [999, 600_001] {
        given(classroom())
            .by(host_p())
            .when(C::ChangeTeachingSettings {
                observers_may_annotate: None,
                observer_chat: None,
                stroke_fade_ms: Some(fade),
            })
            .then_error("validation_failed");
    }
    let change = C::ChangeTeachingSettings {
        observers_may_annotate: None,
        observer_chat: Some(false),
        stroke_fade_ms: None,
    };
    given(classroom())
        .by(surgeon_p())
        .when(change.clone())
        .then_error("forbidden");
    // An org observer who is the session's host still does not set the switches.
    let observer_host = with(
        classroom(),
        [Event::MemberRoleChanged(MemberRoleChanged {
            session_id: SESSION,
            user_id: OBSERVER_SURGEON,
            from: SessionRole::Surgeon,
            to: SessionRole::Host,
        })],
    );
    given(observer_host)
        .by(observer_surgeon_p())
        .when(change)
        .then_error("forbidden");
    let state = fold(&with(
        classroom(),
        [settings(None, Some(false), Some(20_000))],
    ));
    assert!(!state.teaching.settings.observer_chat);
    assert!(!state.teaching.settings.observers_may_annotate);
    assert_eq!(state.teaching.settings.stroke_fade_ms, 20_000);
}

// ---- what the fold keeps ----

#[test]
fn the_fold_keeps_at_most_500_strokes_dropping_the_oldest_unpinned_first() {
    let pinned = Uuid::from_u128(0x1000);
    let mut events = with(classroom(), [stroke(pinned, HOST, P_HOST, "p1", true)]);
    for i in 0..MAX_KEPT_STROKES as u128 {
        events.push(stroke(
            Uuid::from_u128(0x2000 + i),
            SURGEON,
            P_SURGEON,
            "p1",
            false,
        ));
    }
    let state = fold(&events);
    assert_eq!(state.teaching.strokes.len(), MAX_KEPT_STROKES);
    assert_eq!(
        state.teaching.strokes[0].stroke_id, pinned,
        "the pinned one stays"
    );
    assert_eq!(state.teaching.strokes[1].stroke_id, Uuid::from_u128(0x2001));
}

#[test]
fn the_fold_keeps_the_last_200_messages_and_200_questions_dropping_answered_ones_first() {
    let mut events = classroom();
    for i in 0..=MAX_KEPT_CHAT as u128 {
        events.push(Event::ChatMessagePosted(ChatMessagePosted {
            session_id: SESSION,
            message_id: Uuid::from_u128(0x3000 + i),
            user_id: SURGEON,
            text: format!("message {i}"),
            mentions: vec![],
        }));
    }
    events.push(asked(Uuid::from_u128(0x4000), OBSERVER));
    events.push(Event::QuestionAnswered(QuestionAnswered {
        session_id: SESSION,
        question_id: Uuid::from_u128(0x4000),
    }));
    for i in 1..=MAX_KEPT_QUESTIONS as u128 {
        events.push(asked(Uuid::from_u128(0x4000 + i), OBSERVER));
    }
    let state = fold(&events);
    assert_eq!(state.teaching.chat.len(), MAX_KEPT_CHAT);
    assert_eq!(state.teaching.chat[0].text, "message 1");
    assert_eq!(state.teaching.questions.len(), MAX_KEPT_QUESTIONS);
    assert_eq!(
        state.teaching.questions[0].question_id,
        Uuid::from_u128(0x4001),
        "the answered question went first"
    );
}

#[test]
fn unpinned_strokes_fade_from_the_view_after_the_fade_time_and_pinned_ones_stay() {
    let t = t0();
    let mut state = SessionState::default();
    for (event, at) in [
        (settings(None, None, Some(5_000)), t),
        (stroke(Uuid::from_u128(1), HOST, P_HOST, "p1", false), t),
        (
            stroke(Uuid::from_u128(2), HOST, P_HOST, "p1", true),
            t + Duration::seconds(1),
        ),
    ] {
        state = evolve_recorded(state, &event, at);
    }
    let shown = |at| -> Vec<u128> {
        state
            .teaching
            .view(Some(at))
            .strokes
            .iter()
            .map(|s| s.stroke_id.as_u128())
            .collect()
    };
    assert_eq!(shown(t + Duration::milliseconds(4_999)), [1, 2]);
    assert_eq!(shown(t + Duration::seconds(5)), [2]);
    assert_eq!(shown(t + Duration::hours(3)), [2]);
    assert_eq!(state.teaching.strokes[0].drawn_at, Some(t));
    // Without envelope times (the command path's fold) nothing is known to have faded.
    let timeless = fold(&with(
        classroom(),
        [stroke(Uuid::from_u128(1), HOST, P_HOST, "p1", false)],
    ));
    assert_eq!(
        timeless
            .teaching
            .view(Some(t + Duration::hours(3)))
            .strokes
            .len(),
        1
    );
}
