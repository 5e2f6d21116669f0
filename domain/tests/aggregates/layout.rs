use livesurgery_domain::events::*;
use livesurgery_domain::layout::{LayoutChanges, MAX_PANELS, PanelPatch};
use livesurgery_domain::roles::SessionRole;
use livesurgery_domain::session::{SessionCommand as C, fold};

use crate::support::*;

fn patch(panel_id: &str, p: PanelPatch) -> LayoutChanges {
    LayoutChanges {
        panels: [(panel_id.to_owned(), p)].into(),
        ..LayoutChanges::default()
    }
}

fn x(v: u32) -> PanelPatch {
    PanelPatch {
        x: Some(v),
        w: Some(3),
        ..PanelPatch::default()
    }
}

fn panel(id: &str, x: u32, y: u32, w: u32, h: u32) -> Panel {
    Panel {
        id: id.into(),
        x,
        y,
        w,
        h,
        z: 1,
        source_id: None,
        name: None,
    }
}

fn update(base_version: u64, changes: LayoutChanges) -> C {
    C::UpdateLayout {
        base_version,
        changes,
    }
}

fn only_update(events: Vec<Event>) -> LayoutUpdated {
    match <[Event; 1]>::try_from(events) {
        Ok([Event::LayoutUpdated(u)]) => u,
        other => panic!("expected one LayoutUpdated, got {other:?}"),
    }
}

#[test]
fn an_accepted_write_makes_the_next_version_with_the_whole_panel_set() {
    let u = only_update(
        given(live())
            .by(surgeon())
            .when(update(1, patch("p1", x(2))))
            .events(),
    );
    assert_eq!(u.version, 2);
    assert_eq!(u.base_version, 1);
    assert_eq!(u.changed_by, surgeon().actor());
    assert!(u.conflicts.is_empty());
    let fields: Vec<_> = u
        .changes
        .iter()
        .map(|c| (c.panel_id.as_deref(), c.field.as_str(), c.value.clone()))
        .collect();
    assert_eq!(
        fields,
        [(Some("p1"), "x", 2.into()), (Some("p1"), "w", 3.into())]
    );
    assert_eq!(u.panels.len(), 4);
    assert_eq!((u.panels[0].x, u.panels[0].w), (2, 3));
    let state = fold(&with(live(), [Event::LayoutUpdated(u)]));
    assert_eq!(state.layout.version, 2);
    assert_eq!(state.layout.panel("p1").map(|p| p.x), Some(2));
}

#[test]
fn a_stale_write_to_a_field_changed_since_wins_and_records_the_conflict() {
    let first = only_update(given(live()).when(update(1, patch("p1", x(1)))).events());
    let history = with(live(), [Event::LayoutUpdated(first)]);
    // The surgeon still sees version 1 and writes the same field.
    let u = only_update(
        given(history)
            .by(surgeon())
            .when(update(1, patch("p1", x(2))))
            .events(),
    );
    assert_eq!(u.version, 3);
    assert_eq!(u.panels[0].x, 2, "last write wins");
    assert_eq!(
        u.conflicts,
        vec![LayoutConflict {
            panel_id: Some("p1".into()),
            field: "x".into(),
            winner: surgeon().actor(),
            loser: host().actor(),
            loser_version: 2,
        }],
        "w was set to 3 by both, so only x changed and only x is contested"
    );
}

#[test]
fn concurrent_writes_to_different_fields_do_not_conflict() {
    let first = only_update(
        given(live())
            .when(update(
                1,
                patch(
                    "p1",
                    PanelPatch {
                        x: Some(1),
                        w: Some(5),
                        ..Default::default()
                    },
                ),
            ))
            .events(),
    );
    let history = with(live(), [Event::LayoutUpdated(first)]);
    let u = only_update(
        given(history.clone())
            .by(surgeon())
            .when(update(
                1,
                patch(
                    "p1",
                    PanelPatch {
                        y: Some(2),
                        h: Some(3),
                        ..Default::default()
                    },
                ),
            ))
            .events(),
    );
    assert!(u.conflicts.is_empty());
    assert_eq!(
        (u.panels[0].x, u.panels[0].w, u.panels[0].y, u.panels[0].h),
        (1, 5, 2, 3)
    );
    // Another panel is another set of fields too.
    let other = only_update(
        given(history)
            .by(surgeon())
            .when(update(1, patch("p2", x(7))))
            .events(),
    );
    assert!(other.conflicts.is_empty());
}

#[test]
fn the_same_writer_overwriting_their_own_change_is_not_a_conflict() {
    let first = only_update(given(live()).when(update(1, patch("p1", x(1)))).events());
    let u = only_update(
        given(with(live(), [Event::LayoutUpdated(first)]))
            .when(update(1, patch("p1", x(4))))
            .events(),
    );
    assert!(u.conflicts.is_empty());
}

#[test]
fn a_write_based_on_a_version_not_yet_reached_is_refused() {
    given(live())
        .when(update(2, patch("p1", x(1))))
        .then_error("base_version_ahead");
    given(live())
        .when(update(0, patch("p1", x(1))))
        .then_error("validation_failed");
}

#[test]
fn an_empty_or_no_op_write_is_refused() {
    given(live())
        .when(update(1, LayoutChanges::default()))
        .then_error("no_change");
    given(live())
        .when(update(
            1,
            patch(
                "p1",
                PanelPatch {
                    x: Some(0),
                    w: Some(6),
                    ..Default::default()
                },
            ),
        ))
        .then_error("no_change");
    given(live())
        .when(update(1, patch("p1", PanelPatch::default())))
        .then_error("no_change");
}

#[test]
fn panels_must_stay_on_the_grid() {
    for bad in [
        PanelPatch {
            x: Some(7),
            ..Default::default()
        },
        PanelPatch {
            w: Some(13),
            ..Default::default()
        },
        PanelPatch {
            w: Some(0),
            ..Default::default()
        },
        PanelPatch {
            h: Some(0),
            ..Default::default()
        },
        PanelPatch {
            y: Some(u32::MAX),
            ..Default::default()
        },
    ] {
        given(live())
            .when(update(1, patch("p1", bad)))
            .then_error("validation_failed");
    }
    // Exactly on the edge is fine.
    given(live())
        .when(update(
            1,
            patch(
                "p4",
                PanelPatch {
                    x: Some(11),
                    w: Some(1),
                    y: Some(0),
                    h: Some(12),
                    ..Default::default()
                },
            ),
        ))
        .events();
}

#[test]
fn adding_and_removing_panels_changes_the_panel_set_field() {
    let changes = LayoutChanges {
        add: vec![panel("pip", 9, 9, 3, 3)],
        remove: vec!["p4".into()],
        ..Default::default()
    };
    let u = only_update(given(live()).when(update(1, changes)).events());
    let ids: Vec<_> = u.panels.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3", "pip"]);
    assert_eq!(u.changes.len(), 1);
    assert_eq!(u.changes[0].panel_id, None);
    assert_eq!(u.changes[0].field, "panels");
    assert_eq!(u.changes[0].value["removed"], serde_json::json!(["p4"]));
    assert_eq!(u.changes[0].value["added"][0]["id"], "pip");
    let state = fold(&with(live(), [Event::LayoutUpdated(u)]));
    assert!(state.layout.panel("p4").is_none());
    assert!(state.layout.removed.contains_key("p4"));
}

#[test]
fn invalid_panel_set_changes_are_refused() {
    let add = |panels: Vec<Panel>| LayoutChanges {
        add: panels,
        ..Default::default()
    };
    given(live())
        .when(update(1, add(vec![panel("p1", 0, 0, 1, 1)])))
        .then_error("already_exists");
    given(live())
        .when(update(
            1,
            add(vec![panel("n", 0, 0, 1, 1), panel("n", 1, 1, 1, 1)]),
        ))
        .then_error("validation_failed");
    given(live())
        .when(update(1, add(vec![panel("bad id", 0, 0, 1, 1)])))
        .then_error("validation_failed");
    given(live())
        .when(update(1, add(vec![panel("big", 6, 6, 7, 1)])))
        .then_error("validation_failed");
    given(live())
        .when(update(
            1,
            LayoutChanges {
                remove: vec!["nope".into()],
                ..Default::default()
            },
        ))
        .then_error("not_found");
    given(live())
        .when(update(1, patch("nope", x(1))))
        .then_error("not_found");
    given(live())
        .when(update(
            1,
            LayoutChanges {
                panels: [("p1".into(), x(1))].into(),
                remove: vec!["p1".into()],
                ..Default::default()
            },
        ))
        .then_error("validation_failed");
}

#[test]
fn the_number_of_panels_is_bounded() {
    let many: Vec<Panel> = (0..MAX_PANELS as u32 - 4)
        .map(|i| panel(&format!("n{i}"), i % 12, i / 12, 1, 1))
        .collect();
    given(live())
        .when(update(
            1,
            LayoutChanges {
                add: many.clone(),
                ..Default::default()
            },
        ))
        .events();
    let mut too_many = many;
    too_many.push(panel("last", 11, 11, 1, 1));
    given(live())
        .when(update(
            1,
            LayoutChanges {
                add: too_many,
                ..Default::default()
            },
        ))
        .then_error("validation_failed");
}

#[test]
fn a_patch_of_a_panel_removed_meanwhile_is_dropped_and_recorded_as_lost_to_the_remover() {
    let removal = only_update(
        given(live())
            .when(update(
                1,
                LayoutChanges {
                    remove: vec!["p4".into()],
                    ..Default::default()
                },
            ))
            .events(),
    );
    let history = with(live(), [Event::LayoutUpdated(removal)]);
    let changes = LayoutChanges {
        panels: [
            ("p1".into(), x(1)),
            (
                "p4".into(),
                PanelPatch {
                    z: Some(5),
                    ..Default::default()
                },
            ),
        ]
        .into(),
        ..Default::default()
    };
    let u = only_update(
        given(history.clone())
            .by(surgeon())
            .when(update(1, changes))
            .events(),
    );
    assert_eq!(u.version, 3);
    assert!(
        u.changes
            .iter()
            .all(|c| c.panel_id.as_deref() == Some("p1"))
    );
    assert_eq!(
        u.conflicts,
        vec![LayoutConflict {
            panel_id: Some("p4".into()),
            field: "z".into(),
            winner: host().actor(),
            loser: surgeon().actor(),
            loser_version: 3,
        }]
    );
    // With nothing else in the write, it fails instead.
    given(history)
        .by(surgeon())
        .when(update(1, patch("p4", x(1))))
        .then_error("not_found");
}

#[test]
fn removing_a_panel_someone_else_changed_since_the_base_records_their_loss() {
    let edit = only_update(
        given(live())
            .by(surgeon())
            .when(update(1, patch("p4", x(8))))
            .events(),
    );
    let u = only_update(
        given(with(live(), [Event::LayoutUpdated(edit)]))
            .when(update(
                1,
                LayoutChanges {
                    remove: vec!["p4".into()],
                    ..Default::default()
                },
            ))
            .events(),
    );
    let lost: Vec<_> = u
        .conflicts
        .iter()
        .map(|c| (c.field.as_str(), c.loser.clone(), c.winner.clone()))
        .collect();
    assert_eq!(
        lost,
        [
            ("w", surgeon().actor(), host().actor()),
            ("x", surgeon().actor(), host().actor())
        ]
    );
}

#[test]
fn a_stale_panel_set_change_conflicts_with_the_previous_one() {
    let first = only_update(
        given(live())
            .when(update(
                1,
                LayoutChanges {
                    add: vec![panel("a", 0, 0, 1, 1)],
                    ..Default::default()
                },
            ))
            .events(),
    );
    let u = only_update(
        given(with(live(), [Event::LayoutUpdated(first)]))
            .by(surgeon())
            .when(update(
                1,
                LayoutChanges {
                    add: vec![panel("b", 1, 1, 1, 1)],
                    ..Default::default()
                },
            ))
            .events(),
    );
    assert_eq!(u.conflicts.len(), 1);
    assert_eq!(
        (
            u.conflicts[0].panel_id.clone(),
            u.conflicts[0].field.as_str()
        ),
        (None, "panels")
    );
    assert_eq!(u.conflicts[0].loser_version, 2);
    assert_eq!(u.panels.len(), 6);
}

#[test]
fn a_patch_of_a_panel_added_after_the_base_conflicts_with_the_adder() {
    let add = only_update(
        given(live())
            .when(update(
                1,
                LayoutChanges {
                    add: vec![panel("a", 0, 0, 1, 1)],
                    ..Default::default()
                },
            ))
            .events(),
    );
    let u = only_update(
        given(with(live(), [Event::LayoutUpdated(add)]))
            .by(surgeon())
            .when(update(
                1,
                patch(
                    "a",
                    PanelPatch {
                        z: Some(9),
                        ..Default::default()
                    },
                ),
            ))
            .events(),
    );
    assert_eq!(u.conflicts.len(), 1);
    assert_eq!(u.conflicts[0].loser, host().actor());
}

#[test]
fn selecting_a_source_is_a_new_layout_version_that_later_stale_writes_contest() {
    let events = given(live())
        .by(surgeon())
        .when(C::SelectSource {
            panel_id: "p2".into(),
            source_id: Some("endoscope".into()),
        })
        .events();
    assert_eq!(
        events,
        vec![Event::SourceSelected(SourceSelected {
            session_id: SESSION,
            panel_id: "p2".into(),
            source_id: Some("endoscope".into()),
            layout_version: 2,
            changed_by: surgeon().actor(),
        })]
    );
    let history = with(live(), events);
    let state = fold(&history);
    assert_eq!(state.layout.version, 2);
    assert_eq!(
        state
            .layout
            .panel("p2")
            .and_then(|p| p.source_id.clone())
            .as_deref(),
        Some("endoscope")
    );
    let u = only_update(
        given(history.clone())
            .when(update(
                1,
                patch(
                    "p2",
                    PanelPatch {
                        source_id: Some(None),
                        ..Default::default()
                    },
                ),
            ))
            .events(),
    );
    assert_eq!(u.version, 3);
    assert_eq!(u.panels[1].source_id, None);
    assert_eq!(u.conflicts.len(), 1);
    assert_eq!(u.conflicts[0].field, "source_id");
    assert_eq!(u.conflicts[0].loser, surgeon().actor());
    given(history.clone())
        .when(C::SelectSource {
            panel_id: "p2".into(),
            source_id: Some("endoscope".into()),
        })
        .then_error("no_change");
    given(history.clone())
        .when(C::SelectSource {
            panel_id: "p9".into(),
            source_id: None,
        })
        .then_error("not_found");
    given(history.clone())
        .when(C::SelectSource {
            panel_id: "p1".into(),
            source_id: Some(String::new()),
        })
        .then_error("validation_failed");
    given(with(
        history,
        [joined(P_OBSERVER, OBSERVER, SessionRole::Observer)],
    ))
    .by(observer())
    .when(C::SelectSource {
        panel_id: "p1".into(),
        source_id: None,
    })
    .then_error("forbidden");
}

#[test]
fn layout_changes_read_the_documented_json() {
    let changes: LayoutChanges = serde_json::from_value(serde_json::json!({
        "panels": {"p1": {"x": 3, "source_id": null}, "p2": {"source_id": "cam"}},
    }))
    .unwrap();
    assert_eq!(changes.panels["p1"].x, Some(3));
    assert_eq!(changes.panels["p1"].source_id, Some(None));
    assert_eq!(changes.panels["p2"].source_id, Some(Some("cam".into())));
    assert_eq!(changes.panels["p2"].x, None);
    assert!(changes.add.is_empty() && changes.remove.is_empty());
    let unknown = serde_json::from_value::<LayoutChanges>(
        serde_json::json!({"panels": {"p1": {"colour": 1}}}),
    );
    assert!(unknown.is_err());
}

fn name(v: Option<&str>) -> PanelPatch {
    PanelPatch {
        name: Some(v.map(str::to_owned)),
        ..PanelPatch::default()
    }
}

#[test]
fn an_editor_names_a_panel_and_clears_the_name() {
    let u = only_update(
        given(live())
            .by(surgeon())
            .when(update(1, patch("p1", name(Some("Endoscope – main")))))
            .events(),
    );
    assert_eq!(u.changes.len(), 1);
    assert_eq!(u.changes[0].field, "name");
    assert_eq!(u.changes[0].value, "Endoscope – main");
    assert_eq!(u.panels[0].name.as_deref(), Some("Endoscope – main"));
    let history = with(live(), [Event::LayoutUpdated(u)]);
    let cleared = only_update(
        given(history)
            .by(surgeon())
            .when(update(2, patch("p1", name(None))))
            .events(),
    );
    assert_eq!(cleared.panels[0].name, None);
    assert_eq!(cleared.changes[0].value, serde_json::Value::Null);
}

#[test]
fn a_panel_name_is_checked_like_other_free_text() {
    let too_long = "n".repeat(61);
    for bad in [
        "",
        " \u{200B} ",
        "Main\u{202E}weiv",
        "a\u{0007}b",
        too_long.as_str(),
    ] {
        given(live())
            .by(surgeon())
            .when(update(1, patch("p1", name(Some(bad)))))
            .then_error("validation_failed");
    }
    let mut added = panel("p5", 0, 0, 1, 1);
    added.name = Some("\u{2066}x\u{2069}".into());
    given(live())
        .by(surgeon())
        .when(update(
            1,
            LayoutChanges {
                remove: vec!["p1".into()],
                add: vec![added],
                ..LayoutChanges::default()
            },
        ))
        .then_error("validation_failed");
}

#[test]
fn an_observer_cannot_name_a_panel() {
    given(with(
        live(),
        [joined(P_OBSERVER, OBSERVER, SessionRole::Observer)],
    ))
    .by(observer())
    .when(update(1, patch("p1", name(Some("Mine")))))
    .then_error("forbidden");
}

#[test]
fn a_panel_without_a_name_reads_and_writes_the_json_it_had_before_names() {
    let old =
        serde_json::json!({"id": "p1", "x": 0, "y": 0, "w": 6, "h": 6, "z": 0, "source_id": null});
    let p: Panel = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(p.name, None);
    assert_eq!(serde_json::to_value(&p).unwrap(), old);
}
