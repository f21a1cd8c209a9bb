//! Translating list requests into store queries, and opaque page tokens.
//!
//! A page token records the offset of the next page and a fingerprint of the filters and sort it
//! was issued for (`v1:<offset>:<fingerprint>`, a shape the API document can state), so a token
//! reused with other filters is refused (a conflict: FAILED_PRECONDITION) instead of paging
//! silently through a different list; a string of another shape is invalid.

use chrono::{DateTime, Utc};
use execenv_core::query::{ChangeFilter, DEFAULT_PAGE_SIZE, ListQuery, MAX_PAGE_SIZE, SortField};
use execenv_core::security::{SecurityEventFilter, SecurityEventKind};
use execenv_core::validate::require_guid;
use execenv_core::{Error, ErrorKind, FieldViolation, Language, Matching};
use execenv_proto::identity::v1 as id;
use execenv_proto::registry::v1 as reg;
use sha2::{Digest, Sha256};

/// The store query for a list request (without the publisher restriction, which the caller adds).
pub fn list_query(req: &reg::ListEnvironmentsRequest) -> Result<ListQuery, Error> {
    let mut violations = Vec::new();
    let matching = match req.matching.as_deref() {
        None | Some("") => None,
        Some(m) => Matching::parse(m).or_else(|| {
            violations.push(FieldViolation::new(
                "matching",
                format!("{m:?} is not a matching mode; use any, exact or none"),
            ));
            None
        }),
    };
    let language = match req.language.as_deref() {
        None | Some("") => None,
        Some(l) => Language::parse(l).or_else(|| {
            violations.push(FieldViolation::new(
                "language",
                format!("{l:?} is not a language; use python, r, quarto or tensorflow"),
            ));
            None
        }),
    };
    let language_version = req.language_version.clone().filter(|v| !v.is_empty());
    if language_version.is_some() && req.language.as_deref().unwrap_or("").is_empty() {
        violations.push(FieldViolation::new(
            "language_version",
            "needs a language (e.g. language=python)",
        ));
    }
    let sort = match reg::SortField::try_from(req.sort) {
        Ok(reg::SortField::Unspecified | reg::SortField::Created) => SortField::Created,
        Ok(reg::SortField::Title) => SortField::Title,
        Ok(reg::SortField::Name) => SortField::Name,
        Ok(reg::SortField::Updated) => SortField::Updated,
        Ok(reg::SortField::Matching) => SortField::Matching,
        Ok(reg::SortField::PythonVersion) => SortField::PythonVersion,
        Ok(reg::SortField::RVersion) => SortField::RVersion,
        Ok(reg::SortField::QuartoVersion) => SortField::QuartoVersion,
        Err(_) => {
            violations.push(FieldViolation::new(
                "sort",
                format!("{} is not a sort field", req.sort),
            ));
            SortField::Created
        }
    };
    let limit = page_size(req.page_size, &mut violations);
    let mut query = ListQuery {
        search: Some(req.search.trim().to_owned()).filter(|s| !s.is_empty()),
        name: req.name.clone().filter(|n| !n.is_empty()),
        matching,
        managed: req.managed,
        language,
        language_version,
        visible_to: None,
        sort,
        descending: req.descending,
        offset: 0,
        limit,
    };
    let mut conflict = None;
    if !req.page_token.is_empty() {
        match decode_token(&req.page_token, &fingerprint(&query)) {
            Ok(offset) => query.offset = offset,
            Err(e) => e.record(&mut violations, &mut conflict),
        }
    }
    finish(violations, conflict).map(|()| query)
}

/// Why a page token was refused.
enum TokenError {
    /// Not a token of this shape at all (invalid input).
    Malformed(String),
    /// A token, but of a listing with other filters (a conflict with the request).
    OtherFilters(String),
}

impl TokenError {
    fn record(self, violations: &mut Vec<FieldViolation>, conflict: &mut Option<String>) {
        match self {
            TokenError::Malformed(d) => violations.push(FieldViolation::new("page_token", d)),
            TokenError::OtherFilters(d) => *conflict = Some(format!("page_token {d}")),
        }
    }
}

/// Invalid input first (every violation), then a page token of other filters.
fn finish(violations: Vec<FieldViolation>, conflict: Option<String>) -> Result<(), Error> {
    if !violations.is_empty() {
        return Err(Error::invalid(violations));
    }
    match conflict {
        Some(message) => Err(Error::new(ErrorKind::FailedPrecondition, message)),
        None => Ok(()),
    }
}

/// The token of the page after the one `query` returned, if more remain.
pub fn next_page_token(query: &ListQuery, returned: usize, total: u64) -> String {
    let next = query.offset + returned as u64;
    if returned == 0 || next >= total {
        return String::new();
    }
    encode_token(next, &fingerprint(query))
}

/// The store filter for an audit-trail request, and the offset-free paging it implies.
pub fn change_filter(req: &reg::ListChangesRequest) -> Result<ChangeFilter, Error> {
    let mut violations = Vec::new();
    let environment_guid = match req.environment_guid.as_deref().filter(|g| !g.is_empty()) {
        Some(g) => match require_guid("environment_guid", g) {
            Ok(u) => Some(u),
            Err(e) => {
                violations.extend(e.violations);
                None
            }
        },
        None => None,
    };
    let since = wire_time(req.since.as_ref(), "since", &mut violations);
    let until = wire_time(req.until.as_ref(), "until", &mut violations);
    let limit = page_size(req.page_size, &mut violations);
    let mut after_revision = req.after_revision.max(0);
    let mut conflict = None;
    if !req.page_token.is_empty() {
        // A change page token is the last revision returned: the audit trail is append-only, so
        // paging by revision is stable under concurrent writes.
        match decode_token(&req.page_token, "changes") {
            Ok(rev) => after_revision = after_revision.max(i64::try_from(rev).unwrap_or(i64::MAX)),
            Err(e) => e.record(&mut violations, &mut conflict),
        }
    }
    finish(violations, conflict).map(|()| ChangeFilter {
        environment_guid,
        since,
        until,
        after_revision,
        limit,
    })
}

/// The store filter for a security-events request; paged like the audit trail, by the last id
/// returned.
pub fn security_event_filter(
    req: &id::ListSecurityEventsRequest,
) -> Result<SecurityEventFilter, Error> {
    let mut violations = Vec::new();
    let mut kinds = Vec::new();
    for (i, k) in req.kinds.iter().enumerate() {
        match SecurityEventKind::parse(k.trim()) {
            Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
            Some(_) => {}
            None => violations.push(FieldViolation::new(
                format!("kinds[{i}]"),
                format!(
                    "{k:?} is not a kind of security event; use {}",
                    SecurityEventKind::spellings()
                ),
            )),
        }
    }
    let since = wire_time(req.since.as_ref(), "since", &mut violations);
    let until = wire_time(req.until.as_ref(), "until", &mut violations);
    let limit = page_size(req.page_size, &mut violations);
    let mut after_id = req.after_id.max(0);
    let mut conflict = None;
    if !req.page_token.is_empty() {
        match decode_token(&req.page_token, SECURITY_EVENTS) {
            Ok(id) => after_id = after_id.max(i64::try_from(id).unwrap_or(i64::MAX)),
            Err(e) => e.record(&mut violations, &mut conflict),
        }
    }
    finish(violations, conflict).map(|()| SecurityEventFilter {
        kinds,
        since,
        until,
        after_id,
        limit,
    })
}

/// The token for the security-events page after one that ended at `last_id`.
pub fn next_security_event_token(last_id: Option<i64>, returned: usize, limit: u32) -> String {
    match last_id {
        Some(id) if returned as u64 >= u64::from(limit) => {
            encode_token(u64::try_from(id).unwrap_or(0), SECURITY_EVENTS)
        }
        _ => String::new(),
    }
}

/// What a security-events page token is issued for (a token of another list is refused).
const SECURITY_EVENTS: &str = "security-events";

/// A wire timestamp, or a violation of `field`.
fn wire_time(
    t: Option<&prost_types::Timestamp>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<DateTime<Utc>> {
    t.and_then(|t| {
        let parsed = u32::try_from(t.nanos)
            .ok()
            .and_then(|n| DateTime::from_timestamp(t.seconds, n));
        if parsed.is_none() {
            violations.push(FieldViolation::new(field, "is not a valid timestamp"));
        }
        parsed
    })
}

/// The token for the audit-trail page after one that ended at `last_revision`.
pub fn next_change_token(last_revision: Option<i64>, returned: usize, limit: u32) -> String {
    match last_revision {
        Some(rev) if returned as u64 >= u64::from(limit) => {
            encode_token(u64::try_from(rev).unwrap_or(0), "changes")
        }
        _ => String::new(),
    }
}

fn page_size(requested: u32, violations: &mut Vec<FieldViolation>) -> u32 {
    match requested {
        0 => DEFAULT_PAGE_SIZE,
        n if n > MAX_PAGE_SIZE => {
            violations.push(FieldViolation::new(
                "page_size",
                format!("{n} is larger than the maximum {MAX_PAGE_SIZE}"),
            ));
            MAX_PAGE_SIZE
        }
        n => n,
    }
}

fn fingerprint(query: &ListQuery) -> String {
    let key = ListQuery {
        offset: 0,
        limit: 0,
        ..query.clone()
    };
    let json = serde_json::to_vec(&key).unwrap_or_default();
    let digest = Sha256::digest(json);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn encode_token(offset: u64, fingerprint: &str) -> String {
    format!("v1:{offset}:{fingerprint}")
}

fn decode_token(token: &str, fingerprint: &str) -> Result<u64, TokenError> {
    let malformed = || {
        TokenError::Malformed(
            "is not a page token returned by this list; start again without it".to_owned(),
        )
    };
    let mut parts = token.splitn(3, ':');
    let (Some("v1"), Some(offset), Some(fp)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let offset = offset.parse().map_err(|_| malformed())?;
    if fp != fingerprint {
        return Err(TokenError::OtherFilters(
            "was issued for other filters or another sort order; start again without it".to_owned(),
        ));
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req() -> reg::ListEnvironmentsRequest {
        reg::ListEnvironmentsRequest {
            page_size: 2,
            ..Default::default()
        }
    }

    #[test]
    fn page_token_resumes_at_the_next_offset() {
        let q = list_query(&req()).unwrap();
        let token = next_page_token(&q, 2, 5);
        let q2 = list_query(&reg::ListEnvironmentsRequest {
            page_token: token,
            ..req()
        })
        .unwrap();
        assert_eq!(q2.offset, 2);
    }

    #[test]
    fn last_page_has_no_token() {
        let q = list_query(&req()).unwrap();
        assert_eq!(next_page_token(&q, 2, 2), "");
    }

    #[test]
    fn page_token_for_other_filters_is_refused() {
        let q = list_query(&req()).unwrap();
        let token = next_page_token(&q, 2, 5);
        let err = list_query(&reg::ListEnvironmentsRequest {
            page_token: token,
            search: "x".into(),
            ..req()
        })
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::FailedPrecondition);
        assert!(
            err.message
                .starts_with("page_token was issued for other filters")
        );
    }

    #[test]
    fn a_string_that_is_no_page_token_is_invalid() {
        for token in ["nope", "v1:x:changes", "djE6MjpjaGFuZ2Vz"] {
            let err = change_filter(&reg::ListChangesRequest {
                page_token: token.into(),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.violations[0].field, "page_token", "{token}");
        }
        let filter = change_filter(&reg::ListChangesRequest {
            page_token: "v1:7:changes".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(filter.after_revision, 7);
    }

    #[test]
    fn every_bad_filter_is_reported_together() {
        let err = list_query(&reg::ListEnvironmentsRequest {
            matching: Some("sometimes".into()),
            language: Some("julia".into()),
            page_size: 5000,
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["matching", "language", "page_size"]);
    }

    #[test]
    fn security_event_filters_are_checked_together_and_pages_resume_after_the_last_id() {
        let err = security_event_filter(&id::ListSecurityEventsRequest {
            kinds: vec!["api_key_created".into(), "key_stolen".into()],
            page_size: 1001,
            page_token: "not a token".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["kinds[1]", "page_size", "page_token"]);
        // A token of another list is a conflict (409), not a malformed one.
        let err = security_event_filter(&id::ListSecurityEventsRequest {
            page_token: next_page_token(&list_query(&req()).unwrap(), 2, 5),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::FailedPrecondition, "{err:?}");
        let token = next_security_event_token(Some(42), 2, 2);
        let filter = security_event_filter(&id::ListSecurityEventsRequest {
            kinds: vec!["sign_in_failures".into(), "sign_in_failures".into()],
            page_size: 2,
            page_token: token,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(filter.after_id, 42);
        assert_eq!(filter.kinds, vec![SecurityEventKind::SignInFailures]);
        assert_eq!(next_security_event_token(Some(42), 1, 2), "");
    }

    #[test]
    fn language_version_needs_a_language() {
        let err = list_query(&reg::ListEnvironmentsRequest {
            language_version: Some("3.11".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.violations[0].field, "language_version");
    }
}
