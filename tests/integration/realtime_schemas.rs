//! The WebSocket protocol's JSON Schemas (`schemas/ws/<type>.json`, one per message type): the
//! files and the declared message types match one to one, every schema compiles, the protocol's
//! examples pass and malformed messages fail.
//!
//! Other test modules check the server's real messages with [`validate_ws_message`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The messages the server sends (protocol version 1).
pub const SERVER_TO_CLIENT: &[&str] = &[
    "welcome",
    "event",
    "resumed",
    "ack",
    "media.subscribed",
    "media.placed",
    "error",
    "pong",
];
/// The messages a client sends (protocol version 1).
pub const CLIENT_TO_SERVER: &[&str] = &[
    "resume",
    "layout.update",
    "source.select",
    "media.subscribe",
    "media.first_frame",
    "recording.start",
    "recording.stop",
    "annotation.stroke",
    "annotation.clear",
    "pointer.move",
    "chat.post",
    "question.ask",
    "question.answer",
    "hand.raise",
    "hand.lower",
    "teaching.settings",
    "ping",
];

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn all_message_types() -> BTreeSet<&'static str> {
    SERVER_TO_CLIENT
        .iter()
        .chain(CLIENT_TO_SERVER)
        .copied()
        .collect()
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `*.json` files of `schemas/<folder>`, by file name without `.json`.
fn load_folder(folder: &str) -> BTreeMap<String, Value> {
    let dir = schemas_dir().join(folder);
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let stem = name
            .strip_suffix(".json")
            .unwrap_or_else(|| panic!("{}: only *.json files belong here", path.display()));
        out.insert(stem.to_owned(), load_json(&path));
    }
    out
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

fn compile_folder(folder: &str) -> BTreeMap<String, jsonschema::Validator> {
    load_folder(folder)
        .into_iter()
        .map(|(name, schema)| {
            let validator = compile(&schema)
                .unwrap_or_else(|e| panic!("schemas/{folder}/{name}.json does not compile: {e}"));
            (name, validator)
        })
        .collect()
}

fn ws_validators() -> &'static BTreeMap<String, jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<String, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| compile_folder("ws"))
}

/// The event data schemas, with their `x-schema-version`.
fn event_validators() -> &'static BTreeMap<String, (u64, jsonschema::Validator)> {
    static VALIDATORS: OnceLock<BTreeMap<String, (u64, jsonschema::Validator)>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        load_folder("events")
            .into_iter()
            .map(|(name, schema)| {
                let version = schema["x-schema-version"].as_u64().unwrap_or(1);
                let validator = compile(&schema)
                    .unwrap_or_else(|e| panic!("schemas/events/{name}.json does not compile: {e}"));
                (name, (version, validator))
            })
            .collect()
    })
}

/// Every error of `instance` against `validator`, one per line, paths prefixed with `prefix`.
fn check(validator: &jsonschema::Validator, instance: &Value, prefix: &str) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let path = format!("{prefix}{}", e.instance_path);
            let path = if path.is_empty() { "/" } else { &path };
            format!("at {path}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Checks one WebSocket message (either direction) against `schemas/ws/<type>.json`, picked by
/// its `type`; for an `event`, also its `data` against `schemas/events/<event_type>.json`.
/// The error lists every violation with its JSON pointer.
pub fn validate_ws_message(msg: &Value) -> Result<(), String> {
    let Some(message_type) = msg.get("type").and_then(Value::as_str) else {
        return Err(format!("no string `type` in {msg}"));
    };
    let Some(validator) = ws_validators().get(message_type) else {
        return Err(format!(
            "unknown message type {message_type:?} (no schemas/ws/{message_type}.json)"
        ));
    };
    check(validator, msg, "").map_err(|e| format!("{message_type}: {e}"))?;
    if message_type == "event" {
        // The schema guarantees a string event_type and an integer schema_version.
        let event_type = msg["event_type"].as_str().unwrap_or_default();
        let Some((version, validator)) = event_validators().get(event_type) else {
            return Err(format!(
                "event: no schemas/events/{event_type}.json for the event's data"
            ));
        };
        if msg["schema_version"].as_u64() != Some(*version) {
            return Err(format!(
                "event: {event_type} has schema_version {}, schemas/events/{event_type}.json \
                 describes version {version}",
                msg["schema_version"]
            ));
        }
        check(validator, &msg["data"], "/data").map_err(|e| format!("event {event_type}: {e}"))?;
    }
    Ok(())
}

const SESSION: &str = "0190d7a2-8c4e-7b3a-9f10-5e5500000001";
const USER: &str = "0190d7a2-8c4e-7b3a-9f10-000000000001";
const HOST: &str = "0190d7a2-8c4e-7b3a-9f10-000000000002";
const PARTICIPANT: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000a1";
const EVENT_ID: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000e1";
const CORRELATION: &str = "0190d7a2-8c4e-7b3a-9f10-0000000000c1";

fn actor() -> Value {
    json!({"user_id": USER, "role": "surgeon", "participant_id": PARTICIPANT})
}

fn panel(id: &str, x: u32, y: u32, source_id: Option<&str>) -> Value {
    json!({"id": id, "x": x, "y": y, "w": 6, "h": 6, "z": 0, "source_id": source_id})
}

/// One valid message per type, as in the protocol's examples.
fn examples() -> BTreeMap<&'static str, Value> {
    let panels = json!([
        panel("p1", 2, 0, Some("endoscope")),
        panel("p2", 6, 0, None),
        panel("p3", 0, 6, None),
        panel("p4", 6, 6, None),
    ]);
    BTreeMap::from([
        (
            "welcome",
            json!({
                "type": "welcome", "protocol": 1, "reason": "connect",
                "participant_id": PARTICIPANT, "user_id": USER, "role": "surgeon",
                "permissions": ["publish", "subscribe", "edit_layout"],
                "position": 123,
                "heartbeat_interval_ms": 10000, "heartbeat_timeout_ms": 30000,
                "session": {
                    "session_id": SESSION, "title": "Lap chole", "status": "live",
                    "members": [
                        {"user_id": HOST, "role": "host"},
                        {"user_id": USER, "role": "surgeon"},
                    ],
                    "participants": [
                        {"participant_id": PARTICIPANT, "user_id": USER, "role": "surgeon",
                         "device": null},
                    ],
                    "layout": {"version": 7, "panels": [panel("p1", 0, 0, None)]},
                    "sources": [{"panel_id": "p1", "source_id": "endoscope"}],
                    "recording": {"status": "idle", "recording_id": null},
                    "media": {"node_id": "0190d7a2-8c4e-7b3a-9f10-0000000000f1",
                              "whip_url": format!("https://node-a.or.example.org/v1/sessions/{SESSION}/whip"),
                              "whep_url": format!("https://node-a.or.example.org/v1/sessions/{SESSION}/whep")},
                    "teaching": {
                        "settings": {"observers_may_annotate": false, "observer_chat": true,
                                     "stroke_fade_ms": 8000},
                        "strokes": [{
                            "stroke_id": EVENT_ID, "user_id": USER,
                            "participant_id": PARTICIPANT,
                            "drawn_at": "2026-11-25T11:59:58.5Z", "panel_id": "p1",
                            "source_id": "endoscope", "media_time_ms": 81234, "kind": "arrow",
                            "points": [[0.25, 0.75], [0.5, 0.5]], "color": "#ff8800",
                            "width": 0.004, "pinned": false,
                        }],
                        "chat": [{"message_id": CORRELATION, "user_id": HOST,
                                  "text": "Look at the\ncystic duct", "mentions": [USER],
                                  "posted_at": "2026-11-25T11:59:00Z"}],
                        "questions": [{"question_id": EVENT_ID, "user_id": USER,
                                       "text": "Which plane?",
                                       "asked_at": "2026-11-25T11:58:00Z",
                                       "answered_at": null}],
                        "hands": [{"user_id": USER, "raised_at": "2026-11-25T11:58:30Z"}],
                    },
                },
                "recording": {"active": false, "recording_id": null},
            }),
        ),
        (
            "event",
            json!({
                "type": "event", "position": 124, "stream": format!("session-{SESSION}"),
                "version": 57, "id": EVENT_ID, "event_type": "LayoutUpdated",
                "schema_version": 1,
                "data": {
                    "session_id": SESSION, "version": 8, "base_version": 7,
                    "changes": [
                        {"panel_id": "p1", "field": "x", "value": 2},
                        {"panel_id": "p1", "field": "source_id", "value": "endoscope"},
                    ],
                    "conflicts": [],
                    "panels": panels,
                    "changed_by": actor(),
                },
                "actor": actor(),
                "time": "2026-11-25T12:00:00.123456Z",
                "correlation_id": CORRELATION,
            }),
        ),
        (
            "resumed",
            json!({"type": "resumed", "after_position": 100, "position": 124, "replayed": 3}),
        ),
        (
            "ack",
            json!({"type": "ack", "ref": "c1", "layout_version": 8, "position": 125}),
        ),
        (
            "error",
            json!({"type": "error", "ref": "c1", "code": "base_version_ahead",
                   "message": "base_version 9 is ahead of the layout (version 8)",
                   "current_version": 8}),
        ),
        (
            "pong",
            json!({"type": "pong", "ref": null, "time": "2026-11-25T12:00:00.123456Z"}),
        ),
        (
            "media.placed",
            json!({"type": "media.placed", "position": 130, "reason": "node_gone",
                   "node_id": "0190d7a2-8c4e-7b3a-9f10-0000000000f2",
                   "whip_url": format!("https://node-b.or.example.org/v1/sessions/{SESSION}/whip"),
                   "whep_url": format!("https://node-b.or.example.org/v1/sessions/{SESSION}/whep")}),
        ),
        ("resume", json!({"type": "resume", "after_position": 123})),
        (
            "layout.update",
            json!({
                "type": "layout.update", "ref": "c1", "base_version": 7,
                "changes": {
                    "panels": {"p1": {"x": 2, "w": 4, "source_id": "endoscope", "name": null},
                               "p2": {"name": "Main view"}},
                    "add": [{"id": "p5", "x": 0, "y": 0, "w": 3, "h": 3, "z": 1,
                             "source_id": null, "name": "Vitals"}],
                    "remove": ["p4"],
                },
            }),
        ),
        (
            "source.select",
            json!({"type": "source.select", "ref": "c2", "panel_id": "p1",
                   "source_id": "endoscope"}),
        ),
        (
            "media.subscribe",
            json!({"type": "media.subscribe", "ref": "m1", "slots": ["room-cam", null]}),
        ),
        (
            "media.first_frame",
            json!({"type": "media.first_frame", "ref": "f1", "source_id": "endoscope",
                   "join_to_first_frame_ms": 840}),
        ),
        (
            "media.subscribed",
            json!({"type": "media.subscribed", "ref": "m1", "resources": [
                {"resource_id": CORRELATION, "participant_id": CORRELATION,
                 "user_id": CORRELATION, "slots": ["room-cam", null]}]}),
        ),
        ("ping", json!({"type": "ping", "ref": "k-1"})),
        (
            "recording.start",
            json!({"type": "recording.start", "ref": "r1"}),
        ),
        (
            "recording.stop",
            json!({"type": "recording.stop", "ref": "r2"}),
        ),
        (
            "annotation.stroke",
            json!({"type": "annotation.stroke", "ref": "s1", "stroke_id": EVENT_ID,
                   "panel_id": "p1", "source_id": "endoscope", "media_time_ms": 81234,
                   "kind": "freehand", "points": [[0.1, 0.2], [0.15, 0.22], [0.2, 0.3]],
                   "color": "#FF8800", "width": 0.004, "pinned": false}),
        ),
        (
            "annotation.clear",
            json!({"type": "annotation.clear", "ref": "s2", "scope": "all", "panel_id": null}),
        ),
        (
            "pointer.move",
            json!({"type": "pointer.move", "ref": "pt1", "panel_id": "p1",
                   "source_id": "endoscope", "points": [[0.5, 0.5, 0], [0.52, 0.49, 100]]}),
        ),
        (
            "chat.post",
            json!({"type": "chat.post", "ref": "c9", "message_id": CORRELATION,
                   "text": "Look at the\ncystic duct", "mentions": [HOST]}),
        ),
        (
            "question.ask",
            json!({"type": "question.ask", "ref": "q1", "question_id": EVENT_ID,
                   "text": "Which plane?"}),
        ),
        (
            "question.answer",
            json!({"type": "question.answer", "ref": "q2", "question_id": EVENT_ID}),
        ),
        ("hand.raise", json!({"type": "hand.raise", "ref": "h1"})),
        (
            "hand.lower",
            json!({"type": "hand.lower", "ref": "h2", "user_id": USER}),
        ),
        (
            "teaching.settings",
            json!({"type": "teaching.settings", "ref": "t1", "observers_may_annotate": true,
                   "observer_chat": false, "stroke_fade_ms": 20000}),
        ),
    ])
}

/// `example` of type `message_type` with `edit` applied.
fn edited(message_type: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut msg = examples()[message_type].clone();
    edit(&mut msg);
    msg
}

#[test]
fn every_message_type_has_exactly_one_schema_and_every_schema_compiles() {
    let schemas = load_folder("ws");
    let files: BTreeSet<&str> = schemas.keys().map(String::as_str).collect();
    assert_eq!(
        files,
        all_message_types(),
        "schemas/ws/ holds one <type>.json per message type"
    );
    for (name, schema) in &schemas {
        let direction = if SERVER_TO_CLIENT.contains(&name.as_str()) {
            "server-to-client"
        } else {
            "client-to-server"
        };
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(schema["title"], *name);
        assert!(
            schema["description"].as_str().is_some_and(|d| d.len() > 20),
            "{name} documents the message in its description"
        );
        assert_eq!(schema["x-direction"], direction, "{name}");
        assert_eq!(schema["x-protocol-version"], 1, "{name}");
        assert_eq!(schema["type"], "object", "{name}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
        assert_eq!(
            schema["properties"]["type"],
            json!({"const": name}),
            "{name}"
        );
        assert!(
            schema["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!("type"))),
            "{name} requires `type`"
        );
        jsonschema::meta::validate(schema)
            .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"));
        compile(schema).unwrap_or_else(|e| panic!("{name} does not compile: {e}"));
    }
}

#[test]
fn the_event_types_of_the_event_message_have_data_schemas() {
    let event_schema = &load_folder("ws")["event"];
    let event_types = event_schema["properties"]["event_type"]["enum"]
        .as_array()
        .expect("event_type is an enum");
    assert!(!event_types.is_empty());
    for event_type in event_types {
        let event_type = event_type.as_str().expect("event types are strings");
        assert!(
            event_validators().contains_key(event_type),
            "no schemas/events/{event_type}.json"
        );
    }
}

#[test]
fn the_protocol_examples_are_valid() {
    let examples = examples();
    let covered: BTreeSet<&str> = examples.keys().copied().collect();
    assert_eq!(covered, all_message_types(), "one example per message type");
    for (name, msg) in &examples {
        validate_ws_message(msg).unwrap_or_else(|e| panic!("{name}: {e}\n{msg:#}"));
    }
    let more = [
        json!({"type": "ping"}),
        json!({"type": "pong", "ref": "k-1", "time": "2026-11-25T12:00:00Z"}),
        json!({"type": "resume", "after_position": 0}),
        json!({"type": "ack", "ref": "f1", "position": 12}),
        json!({"type": "media.first_frame", "ref": "f2", "join_to_first_frame_ms": 0}),
        json!({"type": "error", "ref": null, "code": "invalid_message",
               "message": "not JSON"}),
        json!({"type": "source.select", "ref": "c3", "panel_id": "p_2-b",
               "source_id": null}),
        json!({"type": "layout.update", "ref": "x", "base_version": 1,
               "changes": {"panels": {"p1": {"z": -3, "source_id": null}}}}),
        json!({"type": "layout.update", "ref": "x", "base_version": 1,
               "changes": {"remove": ["p1", "p2"]}}),
        edited("welcome", |m| {
            m["reason"] = json!("resume_too_far_behind");
            m["role"] = json!("observer");
            m["permissions"] = json!(["subscribe"]);
            m["session"]["participants"][0]["device"] = json!("OR-3 tablet");
            m["session"]["recording"] = json!({"status": "recording", "recording_id": CORRELATION});
            m["recording"] = json!({"active": true, "recording_id": CORRELATION});
        }),
        edited("welcome", |m| m["session"]["media"] = Value::Null),
        edited("media.placed", |m| m["reason"] = json!("first_join")),
        json!({"type": "ack", "ref": "r1", "recording_id": CORRELATION, "position": 13}),
        json!({"type": "hand.lower", "ref": "h3"}),
        json!({"type": "teaching.settings", "ref": "t2"}),
        json!({"type": "annotation.clear", "ref": "s3", "scope": "mine", "panel_id": "p2"}),
        json!({"type": "error", "ref": "s1", "code": "stroke_too_large",
               "message": "a stroke has at most 2048 points"}),
        json!({"type": "error", "ref": "h1", "code": "already_raised",
               "message": "your hand is raised already"}),
        edited("event", |m| {
            m["event_type"] = json!("PointerMoved");
            m["data"] = json!({"session_id": SESSION, "panel_id": "p1", "source_id": null,
                               "points": [[0.5, 0.5, 0], [1, 0, 1000]]});
        }),
        edited("event", |m| {
            m["event_type"] = json!("HandRaised");
            m["data"] = json!({"session_id": SESSION, "user_id": USER});
        }),
        edited("event", |m| {
            m["event_type"] = json!("ArchiveAccessed");
            m["data"] = json!({"session_id": SESSION, "archive_id": CORRELATION, "user_id": USER,
                               "url_expires_at": "2026-11-25T12:05:00Z"});
        }),
        edited("event", |m| {
            m["event_type"] = json!("SourceSelected");
            m["data"] = json!({"session_id": SESSION, "panel_id": "p1", "source_id": null,
                               "layout_version": 9, "changed_by": actor()});
            m["actor"] = json!({"user_id": null, "role": "system", "participant_id": null});
        }),
    ];
    for msg in &more {
        validate_ws_message(msg).unwrap_or_else(|e| panic!("{e}\n{msg:#}"));
    }
}

#[test]
fn malformed_messages_are_refused() {
    let cases: Vec<(&str, Value)> = vec![
        ("no type", json!({"ref": "c1"})),
        (
            "unknown type",
            json!({"type": "layout_update", "ref": "c1"}),
        ),
        (
            "layout.update without ref",
            edited("layout.update", |m| {
                m.as_object_mut().unwrap().remove("ref");
            }),
        ),
        (
            "empty ref",
            edited("source.select", |m| m["ref"] = json!("")),
        ),
        (
            "ref of 65 characters",
            edited("source.select", |m| m["ref"] = json!("r".repeat(65))),
        ),
        (
            "unknown top-level field",
            edited("ping", |m| m["extra"] = json!(true)),
        ),
        (
            "media.placed without its WHEP URL",
            edited("media.placed", |m| {
                m.as_object_mut().unwrap().remove("whep_url");
            }),
        ),
        (
            "media.placed for an unknown reason",
            edited("media.placed", |m| m["reason"] = json!("load")),
        ),
        (
            "unknown field in a panel patch",
            edited("layout.update", |m| {
                m["changes"]["panels"]["p1"]["colour"] = json!("red")
            }),
        ),
        (
            "unknown part of changes",
            edited("layout.update", |m| m["changes"]["move"] = json!([])),
        ),
        (
            "negative base_version",
            edited("layout.update", |m| m["base_version"] = json!(-1)),
        ),
        (
            "base_version 0",
            edited("layout.update", |m| m["base_version"] = json!(0)),
        ),
        (
            "added panel with w = 0",
            edited("layout.update", |m| m["changes"]["add"][0]["w"] = json!(0)),
        ),
        (
            "patch with h = 0",
            edited("layout.update", |m| {
                m["changes"]["panels"]["p1"]["h"] = json!(0)
            }),
        ),
        (
            "patch with a fractional x",
            edited("layout.update", |m| {
                m["changes"]["panels"]["p1"]["x"] = json!(1.5)
            }),
        ),
        (
            "patch of a malformed panel id",
            edited("layout.update", |m| {
                m["changes"]["panels"] = json!({"p 1": {"x": 1}})
            }),
        ),
        (
            "removal of a malformed panel id",
            edited("layout.update", |m| m["changes"]["remove"] = json!(["p/4"])),
        ),
        (
            "source_id of 129 characters",
            edited("source.select", |m| m["source_id"] = json!("s".repeat(129))),
        ),
        (
            "source.select without source_id",
            edited("source.select", |m| {
                m.as_object_mut().unwrap().remove("source_id");
            }),
        ),
        (
            "negative after_position",
            edited("resume", |m| m["after_position"] = json!(-1)),
        ),
        (
            "welcome with an org role",
            edited("welcome", |m| m["role"] = json!("admin")),
        ),
        (
            "welcome with an unknown reason",
            edited("welcome", |m| m["reason"] = json!("reconnect")),
        ),
        (
            "welcome with a permission twice",
            edited("welcome", |m| {
                m["permissions"] = json!(["subscribe", "subscribe"])
            }),
        ),
        (
            "welcome with a malformed uuid",
            edited("welcome", |m| m["user_id"] = json!("not-a-uuid")),
        ),
        (
            "welcome with an unknown session status",
            edited("welcome", |m| m["session"]["status"] = json!("paused")),
        ),
        (
            "welcome with a panel of w = 0",
            edited("welcome", |m| {
                m["session"]["layout"]["panels"][0]["w"] = json!(0)
            }),
        ),
        (
            "welcome with an unknown recording status",
            edited("welcome", |m| {
                m["session"]["recording"]["status"] = json!("paused")
            }),
        ),
        (
            "event of another stream",
            edited("event", |m| m["stream"] = json!(format!("user-{USER}"))),
        ),
        (
            "event of a type without a session stream",
            edited("event", |m| m["event_type"] = json!("UserRegistered")),
        ),
        (
            "event whose data does not match its event schema",
            edited("event", |m| m["data"]["panels"][0]["w"] = json!(0)),
        ),
        (
            "event of an unknown schema version",
            edited("event", |m| m["schema_version"] = json!(2)),
        ),
        (
            "event with a malformed time",
            edited("event", |m| m["time"] = json!("yesterday")),
        ),
        (
            "error with an unknown code",
            edited("error", |m| m["code"] = json!("oops")),
        ),
        (
            "base_version_ahead without current_version",
            edited("error", |m| {
                m.as_object_mut().unwrap().remove("current_version");
            }),
        ),
        (
            "error without ref",
            edited("error", |m| {
                m.as_object_mut().unwrap().remove("ref");
            }),
        ),
        (
            "ack with a null ref",
            edited("ack", |m| m["ref"] = json!(null)),
        ),
        (
            "ack with a malformed recording_id",
            edited("ack", |m| m["recording_id"] = json!("rec-1")),
        ),
        (
            "recording.start without ref",
            json!({"type": "recording.start"}),
        ),
        (
            "recording.stop naming a recording",
            edited("recording.stop", |m| m["recording_id"] = json!(CORRELATION)),
        ),
        (
            "welcome without the recording flag",
            edited("welcome", |m| {
                m.as_object_mut().unwrap().remove("recording");
            }),
        ),
        (
            "welcome with a recording flag that is not a boolean",
            edited("welcome", |m| m["recording"]["active"] = json!("yes")),
        ),
        (
            "pong with a malformed time",
            edited("pong", |m| m["time"] = json!("12:00")),
        ),
        (
            "resumed with a negative count",
            edited("resumed", |m| m["replayed"] = json!(-1)),
        ),
        (
            "stroke with a point of one number",
            edited("annotation.stroke", |m| m["points"][0] = json!([0.1])),
        ),
        (
            "stroke with 2049 points",
            edited("annotation.stroke", |m| {
                m["points"] = json!(vec![[0.5, 0.5]; 2049])
            }),
        ),
        (
            "stroke of an unknown kind",
            edited("annotation.stroke", |m| m["kind"] = json!("square")),
        ),
        (
            "stroke in a named colour",
            edited("annotation.stroke", |m| m["color"] = json!("red")),
        ),
        (
            "stroke without pinned",
            edited("annotation.stroke", |m| {
                m.as_object_mut().unwrap().remove("pinned");
            }),
        ),
        (
            "clear of an unknown scope",
            edited("annotation.clear", |m| m["scope"] = json!("theirs")),
        ),
        (
            "pointer batch of 21 samples",
            edited("pointer.move", |m| {
                m["points"] = json!(vec![json!([0.5, 0.5, 0]); 21])
            }),
        ),
        (
            "pointer sample past 1000 ms",
            edited("pointer.move", |m| m["points"][1][2] = json!(1001)),
        ),
        (
            "chat text of 1001 characters",
            edited("chat.post", |m| m["text"] = json!("x".repeat(1001))),
        ),
        (
            "chat mentioning a name, not an id",
            edited("chat.post", |m| m["mentions"] = json!(["Dr Who"])),
        ),
        (
            "question of 501 characters",
            edited("question.ask", |m| m["text"] = json!("?".repeat(501))),
        ),
        (
            "hand.raise for someone else",
            edited("hand.raise", |m| m["user_id"] = json!(HOST)),
        ),
        (
            "fade time under a second",
            edited("teaching.settings", |m| m["stroke_fade_ms"] = json!(999)),
        ),
        (
            "welcome without teaching",
            edited("welcome", |m| {
                m["session"].as_object_mut().unwrap().remove("teaching");
            }),
        ),
        (
            "welcome with a stroke outside the frame",
            edited("welcome", |m| {
                m["session"]["teaching"]["strokes"][0]["points"][0][0] = json!(1.5)
            }),
        ),
    ];
    for (case, msg) in &cases {
        assert!(
            validate_ws_message(msg).is_err(),
            "{case}: accepted\n{msg:#}"
        );
    }

    // Each schema pins its own `type`: a message checked against another type's schema fails.
    let validators = ws_validators();
    for (name, msg) in examples() {
        for (other, validator) in validators {
            if other != name {
                assert!(
                    !validator.is_valid(&msg),
                    "schemas/ws/{other}.json accepts a {name} message"
                );
            }
        }
    }
}

#[test]
fn the_error_names_the_offending_field() {
    let msg = edited("layout.update", |m| m["changes"]["add"][0]["w"] = json!(0));
    let err = validate_ws_message(&msg).unwrap_err();
    assert!(err.contains("/changes/add/0/w"), "{err}");
    let msg = edited("event", |m| m["data"]["version"] = json!(1));
    let err = validate_ws_message(&msg).unwrap_err();
    assert!(err.contains("/data/version"), "{err}");
}
