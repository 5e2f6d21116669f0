//! Property-based fuzzing (proptest, stable Rust) of what the domain reads back from the log:
//! event decoding and upcasting ([`Event::from_stored`]), the folds the projections and replay
//! run over decoded events, the hash chain, and the layout decision a WebSocket write reaches.
//!
//! Inputs come two ways: arbitrary JSON (nothing may panic, whatever is stored), and data drawn
//! from each event's JSON Schema in `schemas/events/` (what the schema accepts, the decoder must
//! read, and read back the same after a round trip). `PROPTEST_CASES` raises the case count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use livesurgery_domain::Event;
use livesurgery_domain::envelope::{Actor, RecordedEvent, decode_hash, verify_stream};
use livesurgery_domain::events::{GRID_COLUMNS, GRID_ROWS, Panel};
use livesurgery_domain::layout::{
    LayoutChanges, LayoutState, PanelPatch, decide_update, default_panels, validate_panels,
};
use livesurgery_domain::replay::{MediaView, replay_session};
use livesurgery_domain::session::{SessionState, evolve};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Any JSON value, nested a few levels, with the odd strings and numbers that break parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,24}".prop_map(Value::String),
        Just(json!(Uuid::nil())),
        Just(json!("\u{202e}\u{200b}\u{0000}")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/events")
}

/// Every event type with its JSON Schema, read once.
fn schemas() -> &'static BTreeMap<&'static str, Value> {
    static SCHEMAS: OnceLock<BTreeMap<&'static str, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        Event::TYPES
            .iter()
            .map(|t| {
                let path = schema_dir().join(format!("{t}.json"));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let schema: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (*t, schema)
            })
            .collect()
    })
}

fn validators() -> &'static BTreeMap<&'static str, jsonschema::Validator> {
    static VALIDATORS: OnceLock<BTreeMap<&'static str, jsonschema::Validator>> = OnceLock::new();
    VALIDATORS.get_or_init(|| {
        schemas()
            .iter()
            .map(|(t, schema)| {
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(schema)
                    .expect("schema compiles");
                (*t, validator)
            })
            .collect()
    })
}

/// Values a JSON Schema (the subset `schemas/events/` uses) describes: types, `enum`, formats
/// `uuid` and `date-time`, `pattern`, lengths and bounds (numbers drawn as fractions), arrays
/// and tuples (`prefixItems`), objects with required and optional properties, local `$ref`s.
/// Optional properties are sometimes left out.
fn from_schema(schema: &Value, root: &Value) -> BoxedStrategy<Value> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix("#/")
            .map(|path| path.split('/').fold(root, |node, key| &node[key]))
            .unwrap_or(&Value::Null);
        return from_schema(target, root);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return prop::sample::select(values.clone()).boxed();
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return any_json().boxed(),
    };
    let choices: Vec<BoxedStrategy<Value>> =
        types.iter().map(|t| one_type(t, schema, root)).collect();
    prop::strategy::Union::new(choices).boxed()
}

fn one_type(kind: &str, schema: &Value, root: &Value) -> BoxedStrategy<Value> {
    let int = |key: &str| schema.get(key).and_then(Value::as_i64);
    match kind {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "number" => {
            // Fractions (a point's coordinates, a stroke's width): any number in the bounds.
            let float = |key: &str| schema.get(key).and_then(Value::as_f64);
            let low = float("minimum").unwrap_or(-1e9);
            let high = float("maximum").unwrap_or(1e9);
            prop_oneof![Just(low), Just(high), low..=high]
                .prop_map(|n| json!(n))
                .boxed()
        }
        "integer" => {
            let low = int("minimum").unwrap_or(i64::from(i32::MIN));
            let high = int("maximum").unwrap_or(i64::MAX);
            prop_oneof![Just(low), Just(high), low..=high]
                .prop_map(|n| json!(n))
                .boxed()
        }
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => any::<u128>()
                .prop_map(|n| json!(Uuid::from_u128(n)))
                .boxed(),
            Some("date-time") => (0i64..4_102_444_800)
                .prop_map(|s| json!(Utc.timestamp_opt(s, 0).single().map(|t| t.to_rfc3339())))
                .boxed(),
            _ => {
                let pattern = match schema.get("pattern").and_then(Value::as_str) {
                    Some(p) => p.trim_start_matches('^').trim_end_matches('$').to_owned(),
                    None => {
                        let min = int("minLength").unwrap_or(0);
                        let max = int("maxLength").unwrap_or(40).min(40).max(min);
                        format!("\\PC{{{min},{max}}}")
                    }
                };
                prop::string::string_regex(&pattern)
                    .unwrap_or_else(|e| panic!("pattern {pattern}: {e}"))
                    .prop_map(Value::String)
                    .boxed()
            }
        },
        "array" if schema.get("prefixItems").is_some() => {
            // A tuple (a point `[x, y]`): one value per position.
            let positions: Vec<BoxedStrategy<Value>> = schema["prefixItems"]
                .as_array()
                .map(|items| items.iter().map(|s| from_schema(s, root)).collect())
                .unwrap_or_default();
            positions.prop_map(Value::Array).boxed()
        }
        "array" => {
            let items = schema
                .get("items")
                .map(|s| from_schema(s, root))
                .unwrap_or_else(|| any_json().boxed());
            let min = int("minItems").unwrap_or(0) as usize;
            let max = (int("maxItems").unwrap_or(6) as usize).min(6).max(min);
            prop::collection::vec(items, min..=max)
                .prop_map(Value::Array)
                .boxed()
        }
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
                .as_object()
                .map(|props| {
                    props
                        .iter()
                        .map(|(name, sub)| {
                            let name = name.clone();
                            let value = from_schema(sub, root);
                            if required.contains(&name.as_str()) {
                                value.prop_map(move |v| Some((name.clone(), v))).boxed()
                            } else {
                                prop::option::of(value.prop_map(move |v| (name.clone(), v))).boxed()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            fields
                .prop_map(|fields| {
                    Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>())
                })
                .boxed()
        }
        _ => any_json().boxed(),
    }
}

/// An event type and data drawn from its schema.
fn schema_shaped_event() -> impl Strategy<Value = (&'static str, Value)> {
    let per_type: Vec<BoxedStrategy<(&'static str, Value)>> = schemas()
        .iter()
        .map(|(t, schema)| {
            let t: &'static str = t;
            from_schema(schema, schema)
                .prop_map(move |data| (t, data))
                .boxed()
        })
        .collect();
    prop::strategy::Union::new(per_type)
}

/// One change to a JSON object: a field dropped, replaced by anything, or added.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Replace(usize, Value),
    Add(String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        ("[a-z_]{1,12}", any_json()).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

fn mutate(data: &mut Value, mutation: &Mutation) {
    let Some(object) = data.as_object_mut() else {
        return;
    };
    let keys: Vec<String> = object.keys().cloned().collect();
    match mutation {
        Mutation::Drop(i) if !keys.is_empty() => {
            object.remove(&keys[i % keys.len()]);
        }
        Mutation::Replace(i, v) if !keys.is_empty() => {
            object.insert(keys[i % keys.len()].clone(), v.clone());
        }
        Mutation::Add(k, v) => {
            object.insert(k.clone(), v.clone());
        }
        _ => {}
    }
}

/// Seals decoded events into one session stream, as the store would.
fn seal(events: &[Event]) -> Vec<RecordedEvent> {
    let mut prev = [0u8; 32];
    let start = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .expect("a valid time");
    events
        .iter()
        .zip(1u64..)
        .map(|(event, version)| {
            let new = event.clone().into_new_event(
                Uuid::from_u128(u128::from(version)),
                Actor::system(),
                Uuid::nil(),
                None,
            );
            let recorded = RecordedEvent::seal(
                new,
                "session-00000000-0000-0000-0000-000000000000",
                version,
                version,
                start + chrono::Duration::seconds(version as i64),
                &prev,
            );
            prev = recorded.hash_bytes().expect("a sealed event has a hash");
            recorded
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever a row holds (a known or unknown type, any schema version, any JSON), decoding
    /// answers an event or an error, never a panic; an event it answers reads back the same.
    #[test]
    fn stored_events_of_any_shape_decode_or_fail_without_panicking(
        known in prop::sample::select(Event::TYPES),
        unknown in ".{0,20}",
        pick_known in any::<bool>(),
        schema_version in prop_oneof![Just(1u32), Just(0u32), Just(2u32), any::<u32>()],
        data in any_json(),
    ) {
        let event_type = if pick_known { known.to_owned() } else { unknown };
        if let Ok(event) = Event::from_stored(&event_type, schema_version, &data) {
            prop_assert_eq!(event.event_type(), event_type.as_str());
            let again = Event::from_stored(event.event_type(), event.schema_version(), &event.data());
            prop_assert_eq!(again.ok(), Some(event));
        }
    }

    /// What an event's schema accepts, the decoder reads (the schema is the contract with
    /// readers outside this build), and the decoded event survives a round trip through storage.
    #[test]
    fn schema_valid_event_data_decodes_and_round_trips((event_type, data) in schema_shaped_event()) {
        prop_assume!(validators()[event_type].is_valid(&data));
        let decoded = Event::from_stored(event_type, 1, &data);
        prop_assert!(decoded.is_ok(), "{event_type} {data}: {decoded:?}");
        let event = decoded.expect("checked");
        let written = event.data();
        prop_assert!(validators()[event_type].is_valid(&written), "{event_type} writes {written}");
        prop_assert_eq!(Event::from_stored(event_type, event.schema_version(), &written).ok(), Some(event));
    }

    /// A stored event one edit away from a valid one (a field dropped, replaced by anything,
    /// added) decodes or fails cleanly; older and unknown schema versions are refused, not
    /// guessed at.
    #[test]
    fn mutated_event_data_decodes_or_fails_cleanly(
        (event_type, mut data) in schema_shaped_event(),
        mutations in prop::collection::vec(mutation(), 1..4),
        schema_version in prop_oneof![Just(1u32), any::<u32>()],
    ) {
        for m in &mutations {
            mutate(&mut data, m);
        }
        let decoded = Event::from_stored(event_type, schema_version, &data);
        if schema_version != 1 {
            prop_assert!(decoded.is_err());
        }
        if let Ok(event) = decoded {
            prop_assert_eq!(event.event_type(), event_type);
        }
    }

    /// The folds the projector, the command side and replay run over a session stream take any
    /// sequence of decodable events, in any order, without panicking; the sealed chain of those
    /// events verifies, and replay reads it.
    #[test]
    fn folding_any_sequence_of_decoded_events_never_panics(
        drawn in prop::collection::vec(schema_shaped_event(), 0..24),
    ) {
        let events: Vec<Event> = drawn
            .iter()
            .filter_map(|(t, data)| Event::from_stored(t, 1, data).ok())
            .collect();
        let mut state = SessionState::default();
        let mut media = MediaView::default();
        let mut user = livesurgery_domain::user::UserState::default();
        for event in &events {
            state = evolve(state, event);
            media.apply(event);
            user = livesurgery_domain::user::evolve(user, event);
        }
        let recorded = seal(&events);
        prop_assert!(verify_stream(&recorded).is_ok());
        prop_assert!(replay_session(&recorded, None).is_ok());
    }

    /// Any single edit of a sealed event (its data, hash, prev_hash or version) breaks the chain
    /// at that event or before it.
    #[test]
    fn any_edit_of_a_sealed_event_breaks_the_chain(
        drawn in prop::collection::vec(schema_shaped_event(), 1..8),
        at in any::<prop::sample::Index>(),
        edit in 0u8..4,
        replacement in any_json(),
        hex_text in "[0-9a-f]{0,70}",
    ) {
        let events: Vec<Event> = drawn
            .iter()
            .filter_map(|(t, data)| Event::from_stored(t, 1, data).ok())
            .collect();
        prop_assume!(!events.is_empty());
        let mut recorded = seal(&events);
        let i = at.index(recorded.len());
        let before = recorded[i].clone();
        match edit {
            0 => recorded[i].data = json!({"edited": replacement}),
            1 => recorded[i].hash = hex_text.clone(),
            2 => recorded[i].prev_hash = hex_text.clone(),
            _ => recorded[i].version = recorded[i].version.wrapping_add(1 + u64::from(edit)),
        }
        prop_assume!(recorded[i] != before);
        let broken = verify_stream(&recorded);
        prop_assert!(broken.is_err(), "edit {edit} of event {i} went unnoticed");
        let at_version = broken.err().map(|b| b.version).unwrap_or_default();
        prop_assert!(at_version <= recorded[i].version.max(before.version));
        // A hash of any text decodes to 32 bytes or to nothing.
        let _ = decode_hash(&hex_text);
    }

    /// The layout decision behind `layout.update` and `PATCH .../layout`: for any change based on
    /// any version, it refuses or answers an event whose panel set is valid, one version on; the
    /// event folds into exactly that panel set and survives the log's round trip.
    #[test]
    fn layout_decisions_keep_the_layout_valid(
        steps in prop::collection::vec((0u64..6, layout_changes()), 1..12),
    ) {
        let session_id = Uuid::nil();
        let actor = Actor { user_id: Some(Uuid::from_u128(7)), role: Some("surgeon".into()), participant_id: None };
        let mut layout = LayoutState { version: 1, panels: default_panels(), ..LayoutState::default() };
        for (lag, changes) in &steps {
            let base = layout.version.saturating_sub(*lag);
            match decide_update(session_id, &layout, base, changes, &actor) {
                Ok(updated) => {
                    prop_assert!(validate_panels(&updated.panels).is_ok());
                    prop_assert_eq!(updated.version, layout.version + 1);
                    let event = Event::LayoutUpdated(updated.clone());
                    prop_assert_eq!(Event::from_stored(event.event_type(), 1, &event.data()).ok(), Some(event));
                    layout.apply_updated(&updated);
                    prop_assert_eq!(&layout.panels, &updated.panels);
                }
                Err(_) => prop_assert!(validate_panels(&layout.panels).is_ok()),
            }
        }
    }
}

/// Panel ids from a small pool (so patches, adds and removes meet existing panels) and now and
/// then a malformed one.
fn panel_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["p1", "p2", "p3", "p4", "p5", "x"]).prop_map(str::to_owned),
        1 => ".{0,70}",
    ]
}

fn coordinate() -> impl Strategy<Value = u32> {
    prop_oneof![0..=GRID_COLUMNS.max(GRID_ROWS) + 1, any::<u32>()]
}

fn panel() -> impl Strategy<Value = Panel> {
    (
        panel_id(),
        coordinate(),
        coordinate(),
        coordinate(),
        coordinate(),
        any::<i32>(),
        prop::option::of(".{0,140}"),
        prop::option::of(".{0,70}"),
    )
        .prop_map(|(id, x, y, w, h, z, source_id, name)| Panel {
            id,
            x,
            y,
            w,
            h,
            z,
            source_id,
            name,
        })
}

fn layout_changes() -> impl Strategy<Value = LayoutChanges> {
    let patch = (
        prop::option::of(coordinate()),
        prop::option::of(coordinate()),
        prop::option::of(coordinate()),
        prop::option::of(coordinate()),
        prop::option::of(any::<i32>()),
        prop::option::of(prop::option::of(".{0,140}")),
        prop::option::of(prop::option::of(".{0,70}")),
    )
        .prop_map(|(x, y, w, h, z, source_id, name)| PanelPatch {
            x,
            y,
            w,
            h,
            z,
            source_id,
            name,
        });
    (
        prop::collection::btree_map(panel_id(), patch, 0..4),
        prop::collection::vec(panel(), 0..3),
        prop::collection::vec(panel_id(), 0..3),
    )
        .prop_map(|(panels, add, remove)| LayoutChanges {
            panels,
            add,
            remove,
        })
}

/// Found by `folding_any_sequence_of_decoded_events_never_panics`: a stored
/// `SubscriberConnected` with `video_slots` near `u32::MAX` made replay allocate ~48 GB and
/// abort the process.
#[test]
fn replaying_a_subscriber_with_an_absurd_slot_count_does_not_abort() {
    let data = json!({
        "session_id": Uuid::nil(), "resource_id": Uuid::from_u128(1),
        "participant_id": Uuid::from_u128(2), "user_id": Uuid::from_u128(3),
        "video_slots": u32::MAX, "audio_slots": u32::MAX,
    });
    let event =
        Event::from_stored("SubscriberConnected", 1, &data).expect("schema-valid data decodes");
    let mut media = MediaView::default();
    media.apply(&event);
    assert_eq!(media.subscribers.len(), 1);
    assert!(media.subscribers[0].slots.len() <= livesurgery_domain::replay::MAX_REPLAYED_SLOTS);
    let view = replay_session(&seal(&[event]), None).expect("replay reads it");
    assert_eq!(view.media.subscribers.len(), 1);
}
