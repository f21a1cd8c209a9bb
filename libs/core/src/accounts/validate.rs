//! Validation of user, group and API key input: every problem reported together, each with its
//! field.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{NewUser, User};
use crate::error::{Error, FieldViolation};
use crate::identity::Role;

/// Longest accepted username.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest accepted group or key name, first or last name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest accepted email address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Unvalidated user input, as it arrives from the API or the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDraft {
    /// Login name.
    pub username: String,
    /// `administrator`, `publisher` or `viewer`.
    pub role: String,
    /// Email address; empty = none.
    pub email: Option<String>,
    /// Given name; empty = none.
    pub first_name: Option<String>,
    /// Family name; empty = none.
    pub last_name: Option<String>,
}

/// A change to a user: each field present replaces the stored one (for the text fields, an
/// empty value clears it); absent fields are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New email (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// New given name (`Some(None)` clears it).
    pub first_name: Option<Option<String>>,
    /// New family name (`Some(None)` clears it).
    pub last_name: Option<Option<String>>,
}

impl UserUpdate {
    /// Validates an update: the role and the text fields as for a new user. InvalidArgument
    /// when nothing would change.
    pub fn validate(
        role: Option<&str>,
        disabled: Option<bool>,
        email: Option<&str>,
        first_name: Option<&str>,
        last_name: Option<&str>,
    ) -> Result<UserUpdate, Error> {
        let mut v = Vec::new();
        let update = UserUpdate {
            role: role.and_then(|r| check_role(r, &mut v)),
            disabled,
            email: email.map(|e| check_email(e, &mut v)),
            first_name: first_name.map(|n| check_person_name("first_name", n, &mut v)),
            last_name: last_name.map(|n| check_person_name("last_name", n, &mut v)),
        };
        if !v.is_empty() {
            return Err(Error::invalid(v));
        }
        if update == UserUpdate::default() {
            return Err(Error::invalid_field(
                "update",
                "nothing to update: give a role, disabled, email, first_name or last_name",
            ));
        }
        Ok(update)
    }

    /// `user` with this update applied (the caller sets `updated_time`).
    pub fn apply(&self, user: &User) -> User {
        let mut after = user.clone();
        if let Some(role) = self.role {
            after.role = role;
        }
        if let Some(disabled) = self.disabled {
            after.disabled = disabled;
        }
        if let Some(email) = &self.email {
            after.email.clone_from(email);
        }
        if let Some(first) = &self.first_name {
            after.first_name.clone_from(first);
        }
        if let Some(last) = &self.last_name {
            after.last_name.clone_from(last);
        }
        after
    }
}

/// Validates a new user, to be created with `guid`.
pub fn validate_new_user(draft: &UserDraft, guid: Uuid) -> Result<NewUser, Error> {
    let mut v = Vec::new();
    check_username(&draft.username, &mut v);
    let role = if draft.role.trim().is_empty() {
        v.push(FieldViolation::new(
            "role",
            "is required: administrator, publisher or viewer",
        ));
        None
    } else {
        check_role(&draft.role, &mut v)
    };
    let email = draft.email.as_deref().and_then(|e| check_email(e, &mut v));
    let first_name = draft
        .first_name
        .as_deref()
        .and_then(|n| check_person_name("first_name", n, &mut v));
    let last_name = draft
        .last_name
        .as_deref()
        .and_then(|n| check_person_name("last_name", n, &mut v));
    match role {
        Some(role) if v.is_empty() => Ok(NewUser {
            guid,
            username: draft.username.clone(),
            email,
            first_name,
            last_name,
            role,
        }),
        _ => Err(Error::invalid(v)),
    }
}

/// Validates a group name: 1–128 characters, no control characters, no surrounding blanks, not
/// a UUID (which would be read as a group guid).
pub fn validate_group_name(name: &str) -> Result<(), Error> {
    let mut v = Vec::new();
    check_display_name("name", name, &mut v);
    if Uuid::parse_str(name).is_ok() {
        v.push(FieldViolation::new(
            "name",
            format!("{name:?} is a UUID, which would be read as a group guid; choose a name"),
        ));
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(v))
    }
}

/// Validates an API key's name: 1–128 characters, no control characters, no surrounding blanks.
pub fn validate_key_name(name: &str) -> Result<(), Error> {
    let mut v = Vec::new();
    check_display_name("name", name, &mut v);
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(v))
    }
}

/// 1–64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit, and
/// not a UUID (which would be read as a user guid).
fn check_username(username: &str, v: &mut Vec<FieldViolation>) {
    let field = "username";
    if username.is_empty() {
        v.push(FieldViolation::new(field, "is required"));
        return;
    }
    let len = username.chars().count();
    if len > MAX_USERNAME_LEN {
        v.push(FieldViolation::new(
            field,
            format!("is {len} characters long; the limit is {MAX_USERNAME_LEN}"),
        ));
    }
    if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        v.push(FieldViolation::new(
            field,
            format!("{username:?} must start with a letter or a digit"),
        ));
    }
    let bad: String = username
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .collect();
    if !bad.is_empty() {
        v.push(FieldViolation::new(
            field,
            format!("{username:?} contains {bad:?}; use only letters, digits, '.', '_' and '-'"),
        ));
    }
    if Uuid::parse_str(username).is_ok() {
        v.push(FieldViolation::new(
            field,
            format!("{username:?} is a UUID, which would be read as a user guid; choose a name"),
        ));
    }
}

fn check_role(role: &str, v: &mut Vec<FieldViolation>) -> Option<Role> {
    let parsed = Role::parse(role.trim());
    if parsed.is_none() {
        v.push(FieldViolation::new(
            "role",
            format!("{role:?} is not a role; use administrator, publisher or viewer"),
        ));
    }
    parsed
}

/// An email address, or `None` when empty: one '@' between a non-empty local part and a domain
/// with a dot, no blanks. (Deliverability is the mail server's business.)
fn check_email(email: &str, v: &mut Vec<FieldViolation>) -> Option<String> {
    let email = email.trim();
    if email.is_empty() {
        return None;
    }
    let len = email.chars().count();
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        v.push(FieldViolation::new(
            "email",
            format!("{email:?} is not an email address such as alice@example.com"),
        ));
    } else if len > MAX_EMAIL_LEN {
        v.push(FieldViolation::new(
            "email",
            format!("is {len} characters long; the limit is {MAX_EMAIL_LEN}"),
        ));
    }
    Some(email.to_owned())
}

/// A first or last name, or `None` when empty.
fn check_person_name(field: &str, name: &str, v: &mut Vec<FieldViolation>) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    check_display_name(field, name, v);
    Some(name.to_owned())
}

fn check_display_name(field: &str, name: &str, v: &mut Vec<FieldViolation>) {
    if name.trim().is_empty() {
        v.push(FieldViolation::new(field, "is required"));
        return;
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        v.push(FieldViolation::new(
            field,
            format!("is {len} characters long; the limit is {MAX_NAME_LEN}"),
        ));
    }
    if name.trim() != name {
        v.push(FieldViolation::new(
            field,
            format!("{name:?} starts or ends with blanks; remove them"),
        ));
    }
    if name.chars().any(char::is_control) {
        v.push(FieldViolation::new(
            field,
            "contains control characters (such as a newline); remove them",
        ));
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
