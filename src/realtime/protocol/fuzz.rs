//! Property-based fuzzing of the WebSocket message parser: whatever text a client sends, the
//! server reads a [`ClientMessage`] or answers an `error` that is itself valid JSON, never a
//! panic; what it accepts is exactly what the protocol allows.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{CLIENT_TYPES, ClientMessage, MAX_REF_LEN, Ref, ServerMessage};

/// The connection's two steps: any text to JSON, then JSON to a message; a refusal is the
/// `error` the client would get, with the `ref` read as the connection reads it.
fn parse(text: &str) -> Result<ClientMessage, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ServerMessage::error(None, "invalid_message", format!("not a JSON message: {e}")).to_text()
    })?;
    let reference = value
        .get("ref")
        .and_then(|r| r.as_str())
        .and_then(|r| Ref::try_from(r.to_owned()).ok());
    serde_json::from_value(value)
        .map_err(|e| ServerMessage::error(reference, "invalid_message", e.to_string()).to_text())
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        (-1e300f64..1e300).prop_map(|f| json!(f)),
        ".{0,80}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,14}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A `ref`: mostly valid, sometimes empty, too long, or not a string.
fn reference() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => ".{1,64}".prop_map(Value::String),
        1 => ".{65,90}".prop_map(Value::String),
        1 => Just(json!("")),
        1 => any_json(),
    ]
}

/// A number field: mostly a valid u64, sometimes negative, fractional, huge or not a number.
fn count() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => any::<u64>().prop_map(|n| json!(n)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => Just(json!(1.5)),
        1 => Just(json!(1e40)),
        1 => any_json(),
    ]
}

fn layout_changes() -> impl Strategy<Value = Value> {
    let patch = prop::collection::btree_map(
        prop::sample::select(vec!["x", "y", "w", "h", "z", "source_id", "colour"]),
        prop_oneof![
            count(),
            Just(Value::Null),
            ".{0,40}".prop_map(Value::String)
        ],
        0..5,
    )
    .prop_map(|m| {
        Value::Object(
            m.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Map<_, _>>(),
        )
    });
    (
        prop::collection::btree_map("[a-z0-9_-]{0,70}", patch, 0..4),
        prop::collection::vec(any_json(), 0..3),
        prop::collection::vec(".{0,70}", 0..3),
    )
        .prop_map(|(panels, add, remove)| json!({"panels": panels, "add": add, "remove": remove}))
}

/// A uuid field: mostly a uuid, sometimes anything.
fn uuid() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n))),
        1 => any_json(),
    ]
}

/// A coordinate: mostly in the frame, sometimes outside it or not a number.
fn coordinate() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => (0.0..=1.0f64).prop_map(|f| json!(f)),
        1 => (-1e6..1e6f64).prop_map(|f| json!(f)),
        1 => any_json(),
    ]
}

/// Points of a stroke (`[x, y]`) or of the pointer (`[x, y, t_ms]`), sometimes malformed.
fn points() -> impl Strategy<Value = Value> {
    let point = prop_oneof![
        6 => (coordinate(), coordinate()).prop_map(|(x, y)| json!([x, y])),
        2 => (coordinate(), coordinate(), count()).prop_map(|(x, y, t)| json!([x, y, t])),
        1 => any_json(),
    ];
    prop::collection::vec(point, 0..30).prop_map(Value::Array)
}

/// The fields of a teaching message, shaped like `kind`'s.
fn teaching_fields() -> impl Strategy<Value = Value> {
    (
        uuid(),
        points(),
        prop::sample::select(vec!["freehand", "arrow", "circle", "square", "mine", "all"]),
        prop_oneof![".{0,40}", "#[0-9a-fA-F]{6}"],
        (-1.0..1.0f64, any::<bool>(), prop::option::of(any::<u32>())),
    )
        .prop_map(|(id, points, word, text, (width, flag, number))| {
            json!({"id": id, "points": points, "word": word, "text": text, "width": width,
                   "flag": flag, "number": number})
        })
}

/// A message shaped like one of the protocol's types, its fields drawn wide.
fn message() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        8 => prop::sample::select(CLIENT_TYPES.to_vec()).prop_map(str::to_owned),
        1 => ".{0,20}",
    ];
    (
        kind,
        reference(),
        count(),
        layout_changes(),
        prop::option::of(".{0,140}"),
        prop::collection::vec(prop::option::of("[a-z0-9._-]{0,70}"), 0..40),
        teaching_fields(),
    )
        .prop_map(|(kind, reference, number, changes, text, slots, t)| {
            let mut m = json!({"type": kind, "ref": reference});
            match kind.as_str() {
                "resume" => m = json!({"type": kind, "after_position": number}),
                "layout.update" => {
                    m["base_version"] = number;
                    m["changes"] = changes;
                }
                "source.select" => {
                    m["panel_id"] = json!(text.clone().unwrap_or_default());
                    m["source_id"] = json!(text);
                }
                "media.subscribe" => m["slots"] = json!(slots),
                "media.first_frame" => {
                    m["source_id"] = json!(text);
                    m["join_to_first_frame_ms"] = number;
                }
                "annotation.stroke" => {
                    m["stroke_id"] = t["id"].clone();
                    m["panel_id"] = json!(text.clone().unwrap_or_default());
                    m["source_id"] = json!(text);
                    m["media_time_ms"] = t["number"].clone();
                    m["kind"] = t["word"].clone();
                    m["points"] = t["points"].clone();
                    m["color"] = t["text"].clone();
                    m["width"] = t["width"].clone();
                    m["pinned"] = t["flag"].clone();
                }
                "annotation.clear" => {
                    m["scope"] = t["word"].clone();
                    m["panel_id"] = json!(text);
                }
                "pointer.move" => {
                    m["panel_id"] = json!(text.clone().unwrap_or_default());
                    m["source_id"] = json!(text);
                    m["points"] = t["points"].clone();
                }
                "chat.post" => {
                    m["message_id"] = t["id"].clone();
                    m["text"] = t["text"].clone();
                    m["mentions"] = json!([t["id"].clone()]);
                }
                "question.ask" => {
                    m["question_id"] = t["id"].clone();
                    m["text"] = t["text"].clone();
                }
                "question.answer" => m["question_id"] = t["id"].clone(),
                "hand.lower" if t["flag"] == true => m["user_id"] = t["id"].clone(),
                "teaching.settings" => {
                    m["observer_chat"] = t["flag"].clone();
                    m["stroke_fade_ms"] = t["number"].clone();
                }
                _ => {}
            }
            m
        })
}

fn check_refusal(refusal: &str) -> Result<(), TestCaseError> {
    let reply: Value = serde_json::from_str(refusal)
        .map_err(|e| TestCaseError::fail(format!("the error reply is not JSON: {e}")))?;
    prop_assert_eq!(&reply["type"], "error");
    prop_assert_eq!(&reply["code"], "invalid_message");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Any text at all: a message, or an `error` reply that is valid JSON.
    #[test]
    fn any_text_is_read_or_refused_with_a_json_error(
        text in prop_oneof![".{0,300}", "\\{\"type\":\"[a-z.]{0,20}\".{0,200}", any_json().prop_map(|v| v.to_string())],
    ) {
        if let Err(refusal) = parse(&text) {
            check_refusal(&refusal)?;
        }
    }

    /// A message of the protocol's shape with fields of any value: what is accepted has the
    /// `type` it was sent with and a `ref` of 1 to 64 characters; a refusal is a JSON `error`.
    #[test]
    fn accepted_messages_keep_their_type_and_a_bounded_ref(value in message()) {
        match parse(&value.to_string()) {
            Ok(message) => {
                prop_assert_eq!(Some(message.kind()), value["type"].as_str());
                let reference = match &message {
                    ClientMessage::LayoutUpdate { reference, .. }
                    | ClientMessage::SourceSelect { reference, .. }
                    | ClientMessage::MediaSubscribe { reference, .. }
                    | ClientMessage::MediaFirstFrame { reference, .. }
                    | ClientMessage::RecordingStart { reference }
                    | ClientMessage::RecordingStop { reference }
                    | ClientMessage::AnnotationStroke { reference, .. }
                    | ClientMessage::AnnotationClear { reference, .. }
                    | ClientMessage::PointerMove { reference, .. }
                    | ClientMessage::ChatPost { reference, .. }
                    | ClientMessage::QuestionAsk { reference, .. }
                    | ClientMessage::QuestionAnswer { reference, .. }
                    | ClientMessage::HandRaise { reference }
                    | ClientMessage::HandLower { reference, .. }
                    | ClientMessage::TeachingSettings { reference, .. } => Some(reference),
                    ClientMessage::Ping { reference } => reference.as_ref(),
                    ClientMessage::Resume { .. } => None,
                };
                if let Some(Ref(r)) = reference {
                    prop_assert!(!r.is_empty() && r.chars().count() <= MAX_REF_LEN);
                }
            }
            Err(refusal) => check_refusal(&refusal)?,
        }
    }

    /// A field the protocol does not name is refused, whatever the message.
    #[test]
    fn unknown_fields_are_refused(value in message(), field in "[a-z_]{1,12}", extra in any_json()) {
        prop_assume!(!["type", "ref", "after_position", "base_version", "changes", "panel_id",
            "source_id", "slots", "join_to_first_frame_ms", "stroke_id", "media_time_ms", "kind",
            "points", "color", "width", "pinned", "scope", "message_id", "text", "mentions",
            "question_id", "user_id", "observers_may_annotate", "observer_chat",
            "stroke_fade_ms"].contains(&field.as_str()));
        let mut value = value;
        value[field.as_str()] = extra;
        let parsed = parse(&value.to_string());
        prop_assert!(parsed.is_err(), "accepted {value}");
        check_refusal(&parsed.err().unwrap_or_default())?;
    }
}
