#![allow(clippy::unwrap_used)]

use chrono::DateTime;

use super::*;
use crate::error::ErrorKind;

fn draft(username: &str, role: &str) -> UserDraft {
    UserDraft {
        username: username.to_owned(),
        role: role.to_owned(),
        ..UserDraft::default()
    }
}

fn fields(e: &Error) -> Vec<&str> {
    e.violations.iter().map(|v| v.field.as_str()).collect()
}

#[test]
fn a_valid_user_is_accepted_with_empty_names_as_none() {
    let guid = Uuid::new_v4();
    let user = validate_new_user(
        &UserDraft {
            email: Some(" alice@example.com ".to_owned()),
            first_name: Some("Alice".to_owned()),
            last_name: Some(String::new()),
            ..draft("alice.smith_2-x", "publisher")
        },
        guid,
    )
    .unwrap();
    assert_eq!(user.guid, guid);
    assert_eq!(user.username, "alice.smith_2-x");
    assert_eq!(user.role, Role::Publisher);
    assert_eq!(user.email.as_deref(), Some("alice@example.com"));
    assert_eq!(user.first_name.as_deref(), Some("Alice"));
    assert_eq!(user.last_name, None);
}

#[test]
fn every_problem_of_a_new_user_is_reported_at_once() {
    let e = validate_new_user(
        &UserDraft {
            email: Some("not-an-email".to_owned()),
            ..draft("_bad name", "owner")
        },
        Uuid::new_v4(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(fields(&e), ["username", "username", "role", "email"]);
    assert!(
        e.message.contains("must start with a letter or a digit"),
        "{}",
        e.message
    );
    assert!(e.message.contains("contains \" \""), "{}", e.message);
    assert!(
        e.message.contains("\"owner\" is not a role"),
        "{}",
        e.message
    );
    assert!(e.message.contains("alice@example.com"), "{}", e.message);
}

#[test]
fn usernames_are_one_to_sixty_four_characters() {
    assert!(validate_new_user(&draft("a", "viewer"), Uuid::new_v4()).is_ok());
    assert!(validate_new_user(&draft(&"a".repeat(64), "viewer"), Uuid::new_v4()).is_ok());
    let e = validate_new_user(&draft(&"a".repeat(65), "viewer"), Uuid::new_v4()).unwrap_err();
    assert!(e.message.contains("the limit is 64"), "{}", e.message);
    let e = validate_new_user(&draft("", "viewer"), Uuid::new_v4()).unwrap_err();
    assert_eq!(fields(&e), ["username"]);
}

#[test]
fn a_username_may_not_be_a_uuid() {
    let e = validate_new_user(
        &draft(&Uuid::new_v4().to_string(), "viewer"),
        Uuid::new_v4(),
    )
    .unwrap_err();
    assert!(e.message.contains("read as a user guid"), "{}", e.message);
}

#[test]
fn the_role_is_required() {
    let e = validate_new_user(&draft("bob", ""), Uuid::new_v4()).unwrap_err();
    assert_eq!(fields(&e), ["role"]);
    assert!(e.message.contains("is required"), "{}", e.message);
}

#[test]
fn emails_need_a_local_part_and_a_dotted_domain() {
    for bad in ["a@", "@b.c", "a@b", "a@.b", "a@b.", "a b@c.d", "a@b@c.d"] {
        let e = validate_new_user(
            &UserDraft {
                email: Some(bad.to_owned()),
                ..draft("bob", "viewer")
            },
            Uuid::new_v4(),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["email"], "{bad}");
    }
}

#[test]
fn group_and_key_names_reject_blanks_control_characters_and_length() {
    assert!(validate_group_name("Data Science").is_ok());
    assert!(validate_key_name("laptop").is_ok());
    for bad in ["", " x", "a\nb", &"g".repeat(129)] {
        assert!(validate_group_name(bad).is_err(), "{bad:?}");
        assert!(validate_key_name(bad).is_err(), "{bad:?}");
    }
    let e = validate_group_name(&Uuid::new_v4().to_string()).unwrap_err();
    assert!(e.message.contains("read as a group guid"), "{}", e.message);
}

#[test]
fn an_update_must_change_something() {
    let e = UserUpdate::validate(None, None, None, None, None).unwrap_err();
    assert!(e.message.contains("nothing to update"), "{}", e.message);
}

#[test]
fn an_update_reports_every_problem() {
    let e = UserUpdate::validate(Some("root"), None, Some("x"), Some("a\u{7}"), None).unwrap_err();
    assert_eq!(fields(&e), ["role", "email", "first_name"]);
}

#[test]
fn an_update_replaces_given_fields_and_clears_empty_ones() {
    let user = User {
        guid: Uuid::new_v4(),
        username: "alice".to_owned(),
        email: Some("a@example.com".to_owned()),
        first_name: Some("Alice".to_owned()),
        last_name: Some("Smith".to_owned()),
        role: Role::Viewer,
        group_guids: vec![],
        disabled: false,
        created_time: DateTime::UNIX_EPOCH,
        updated_time: DateTime::UNIX_EPOCH,
    };
    let update =
        UserUpdate::validate(Some("publisher"), Some(true), Some(""), None, Some("Jones")).unwrap();
    let after = update.apply(&user);
    assert_eq!(after.role, Role::Publisher);
    assert!(after.disabled);
    assert_eq!(after.email, None);
    assert_eq!(after.first_name.as_deref(), Some("Alice"));
    assert_eq!(after.last_name.as_deref(), Some("Jones"));
}
