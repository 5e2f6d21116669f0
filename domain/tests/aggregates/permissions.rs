use livesurgery_domain::permissions::{Action, authorize, markdown_table, table};
use livesurgery_domain::roles::{OrgRole, SessionRole};

const SESSION_ROLES: [Option<SessionRole>; 4] = [
    None,
    Some(SessionRole::Host),
    Some(SessionRole::Surgeon),
    Some(SessionRole::Observer),
];

#[test]
fn an_admin_may_do_everything() {
    for action in Action::ALL {
        for s in SESSION_ROLES {
            assert!(authorize(OrgRole::Admin, s, action).is_ok(), "{action}");
        }
    }
}

#[test]
fn a_reviewer_reads_every_audit_trail_but_never_joins_or_writes() {
    for action in [
        Action::ReadAuditTrail,
        Action::VerifyAudit,
        Action::ReplaySession,
        Action::ReadSession,
    ] {
        assert!(
            authorize(OrgRole::Reviewer, None, action).is_ok(),
            "{action}"
        );
    }
    for action in Action::ALL {
        let reads = matches!(
            action,
            Action::ReadAuditTrail
                | Action::VerifyAudit
                | Action::ReplaySession
                | Action::ReadSession
                | Action::ReadArchives
                | Action::ChangeOwnDisplayName
        );
        for s in SESSION_ROLES {
            assert_eq!(
                authorize(OrgRole::Reviewer, s, action).is_ok(),
                reads,
                "{action} as {s:?}"
            );
        }
    }
}

#[test]
fn an_org_observer_only_joins_leaves_watches_reads_and_takes_part_whatever_their_session_role() {
    for action in Action::ALL {
        for s in SESSION_ROLES.into_iter().flatten() {
            let allowed = matches!(
                action,
                Action::JoinParticipant
                    | Action::LeaveParticipant
                    | Action::SubscribeMedia
                    | Action::ReadSession
                    | Action::ReadArchives
                    | Action::ChangeOwnDisplayName
                    // Taking part in the teaching changes neither layout nor media.
                    | Action::Annotate
                    | Action::PostChat
                    | Action::AskQuestion
                    | Action::RaiseHand
            );
            assert_eq!(
                authorize(OrgRole::Observer, Some(s), action).is_ok(),
                allowed,
                "{action} as {s}"
            );
        }
    }
}

#[test]
fn in_a_session_the_host_manages_surgeons_edit_the_layout_and_publish_and_members_watch() {
    use Action::*;
    let host_only = [
        ChangeSessionDetails,
        StartSession,
        EndSession,
        CancelSession,
        AddMember,
        ChangeMemberRole,
        RemoveMember,
        KickParticipant,
        RequestRecording,
        ClearAnnotations,
        AnswerQuestion,
        LowerHands,
        ChangeTeachingSettings,
    ];
    let s = OrgRole::Surgeon;
    for action in host_only {
        assert!(authorize(s, Some(SessionRole::Host), action).is_ok());
        assert!(authorize(s, Some(SessionRole::Surgeon), action).is_err());
        assert!(authorize(s, Some(SessionRole::Observer), action).is_err());
        assert!(authorize(s, None, action).is_err());
    }
    for action in [
        UpdateLayout,
        SelectSource,
        PublishMedia,
        StartRecording,
        StopRecording,
    ] {
        assert!(authorize(s, Some(SessionRole::Host), action).is_ok());
        assert!(authorize(s, Some(SessionRole::Surgeon), action).is_ok());
        assert!(authorize(s, Some(SessionRole::Observer), action).is_err());
    }
    for action in [
        JoinParticipant,
        LeaveParticipant,
        SubscribeMedia,
        ReadSession,
        ReadArchives,
        Annotate,
        PostChat,
        AskQuestion,
        RaiseHand,
    ] {
        assert!(authorize(s, Some(SessionRole::Observer), action).is_ok());
        assert!(authorize(s, None, action).is_err());
    }
}

#[test]
fn only_admins_administer_and_surgeons_create_sessions() {
    use Action::*;
    for action in [
        RegisterUser,
        ChangeUserRole,
        ChangeDisplayName,
        DeactivateUser,
        ReactivateUser,
        ManageUsers,
        RebuildProjections,
    ] {
        for role in [OrgRole::Surgeon, OrgRole::Observer, OrgRole::Reviewer] {
            let denied = authorize(role, None, action).unwrap_err();
            assert!(denied.reason.contains("only admins"), "{}", denied.reason);
        }
    }
    assert!(authorize(OrgRole::Surgeon, None, CreateSession).is_ok());
    assert!(authorize(OrgRole::Observer, None, CreateSession).is_err());
    assert!(authorize(OrgRole::Surgeon, None, ReadAuditTrail).is_err());
}

#[test]
fn the_table_lists_every_combination_once_and_agrees_with_authorize() {
    let rows = table();
    assert_eq!(rows.len(), Action::ALL.len() * OrgRole::ALL.len() * 4);
    for (action, org, session, allowed) in rows {
        assert_eq!(authorize(org, session, action).is_ok(), allowed);
    }
}

#[test]
fn the_markdown_table_has_a_row_per_action() {
    let md = markdown_table();
    assert_eq!(md.lines().count(), 2 + Action::ALL.len());
    assert!(
        md.contains("| `update_layout` | admin; surgeon as session host/surgeon |"),
        "{md}"
    );
    assert!(
        md.contains("| `read_audit_trail` | admin; reviewer |"),
        "{md}"
    );
    assert!(
        md.contains("| `publish_media` | admin; surgeon as session host/surgeon |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| `subscribe_media` | admin; surgeon as session host/surgeon/observer; \
             observer as session host/surgeon/observer |"
        ),
        "{md}"
    );
}

#[test]
fn media_is_published_by_session_hosts_and_surgeons_and_received_by_every_member() {
    for s in SESSION_ROLES {
        assert!(authorize(OrgRole::Admin, s, Action::PublishMedia).is_ok());
        assert!(authorize(OrgRole::Reviewer, s, Action::SubscribeMedia).is_err());
        assert!(authorize(OrgRole::Reviewer, s, Action::PublishMedia).is_err());
        assert!(authorize(OrgRole::Observer, s, Action::PublishMedia).is_err());
        assert_eq!(
            authorize(OrgRole::Observer, s, Action::SubscribeMedia).is_ok(),
            s.is_some(),
            "{s:?}"
        );
        assert_eq!(
            authorize(OrgRole::Surgeon, s, Action::SubscribeMedia).is_ok(),
            s.is_some(),
            "{s:?}"
        );
    }
    let denied = authorize(
        OrgRole::Surgeon,
        Some(SessionRole::Observer),
        Action::PublishMedia,
    )
    .unwrap_err();
    assert!(denied.reason.contains("publish media"), "{}", denied.reason);
}

#[test]
fn the_markdown_table_lists_the_teaching_actions_for_members_and_hosts() {
    let md = markdown_table();
    for line in [
        "| `annotate` | admin; surgeon as session host/surgeon/observer; observer as session \
         host/surgeon/observer |",
        "| `post_chat` | admin; surgeon as session host/surgeon/observer; observer as session \
         host/surgeon/observer |",
        "| `answer_question` | admin; surgeon as session host |",
        "| `lower_hands` | admin; surgeon as session host |",
        "| `clear_annotations` | admin; surgeon as session host |",
        "| `change_teaching_settings` | admin; surgeon as session host |",
    ] {
        assert!(md.contains(line), "{line}\n{md}");
    }
}

#[test]
fn actions_read_back_from_their_snake_case_names() {
    for action in Action::ALL {
        let json = serde_json::to_value(action).unwrap();
        assert_eq!(json, action.as_str());
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), action);
    }
    assert!(serde_json::from_value::<Action>("PublishMedia".into()).is_err());
}
