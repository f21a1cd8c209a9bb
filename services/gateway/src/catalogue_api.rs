//! `GET /__api__/execenv/v1/environments`: the catalogue a page at a time for the web console,
//! filtered, searched and sorted by the registry (which also decides what a publisher may see),
//! each environment in Connect's JSON plus its permissions and revision.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_core::{Error, FieldViolation};
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use serde::Serialize;

use crate::auth::Authenticated;
use crate::environment::ConnectEnvironment;
use crate::error::Answer;
use crate::state::AppState;

/// Page size when the request names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The routes, relative to `/__api__/execenv/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/environments", get(page))
}

/// One page of the catalogue.
#[derive(Debug, Serialize)]
pub struct CataloguePage {
    /// The environments of this page, in the requested order.
    pub environments: Vec<CatalogueEntry>,
    /// How many environments match, on every page.
    pub total: u64,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

/// An environment in Connect's JSON, with who may use it and its revision.
#[derive(Debug, Serialize)]
pub struct CatalogueEntry {
    #[serde(flatten)]
    pub environment: ConnectEnvironment,
    /// Who may use it; empty: everyone.
    pub permissions: Vec<Grant>,
    /// The revision of its last change.
    pub revision: i64,
}

/// One permission entry: a user or a group.
#[derive(Debug, Serialize)]
pub struct Grant {
    pub guid: String,
    pub user_guid: Option<String>,
    pub group_guid: Option<String>,
}

impl From<&pb::Environment> for CatalogueEntry {
    fn from(e: &pb::Environment) -> Self {
        CatalogueEntry {
            environment: ConnectEnvironment::from(e),
            permissions: e
                .permissions
                .iter()
                .map(|p| Grant {
                    guid: p.guid.clone(),
                    user_guid: p.user_guid.clone(),
                    group_guid: p.group_guid.clone(),
                })
                .collect(),
            revision: e.revision,
        }
    }
}

async fn page(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Query(params): Query<Vec<(String, String)>>,
) -> Answer<CataloguePage> {
    let request = list_request(&params)?;
    let page = state
        .registry()
        .environments(&who.caller)
        .list_environments(request)
        .await
        .map_err(|s| state.registry().failed(s))?
        .into_inner();
    Ok(Json(CataloguePage {
        environments: page.environments.iter().map(CatalogueEntry::from).collect(),
        total: page.total_count,
        next_page_token: page.next_page_token,
    }))
}

/// The registry's list request for the query parameters; every parameter that does not fit is
/// one violation. Unknown parameters are ignored; the registry checks the language, the
/// matching mode and the page token.
pub fn list_request(params: &[(String, String)]) -> Result<reg::ListEnvironmentsRequest, Error> {
    let mut request = reg::ListEnvironmentsRequest {
        sort: reg::SortField::Title as i32,
        page_size: DEFAULT_PAGE_SIZE,
        ..Default::default()
    };
    let mut violations = Vec::new();
    let nonempty = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    for (key, value) in params {
        let mut bad = |d: String| violations.push(FieldViolation::new(key.clone(), d));
        match key.as_str() {
            "search" => request.search = value.trim().to_owned(),
            "language" => request.language = nonempty(value),
            "version" => request.language_version = nonempty(value),
            "matching" => request.matching = nonempty(value),
            "managed" => match value.as_str() {
                "true" => request.managed = Some(true),
                "false" => request.managed = Some(false),
                "" => request.managed = None,
                other => bad(format!("{other:?} is not true or false")),
            },
            "sort" => match sort_field(value) {
                Some(field) => request.sort = field as i32,
                None => bad(format!(
                    "{value:?} is not a sort field; use title, name, created, updated, matching, python, r or quarto"
                )),
            },
            "order" => match value.as_str() {
                "asc" | "" => request.descending = false,
                "desc" => request.descending = true,
                other => bad(format!("{other:?} is not an order; use asc or desc")),
            },
            "page_size" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => request.page_size = n,
                _ => bad(format!(
                    "{value:?} is not a page size; use a number from 1 to {MAX_PAGE_SIZE}"
                )),
            },
            "page_token" => request.page_token = value.trim().to_owned(),
            _ => {}
        }
    }
    // A version is one of the language asked for: without a language it is ignored.
    if request.language.is_none() {
        request.language_version = None;
    }
    if violations.is_empty() {
        Ok(request)
    } else {
        Err(Error::invalid(violations))
    }
}

fn sort_field(name: &str) -> Option<reg::SortField> {
    Some(match name {
        "title" | "" => reg::SortField::Title,
        "name" => reg::SortField::Name,
        "created" => reg::SortField::Created,
        "updated" => reg::SortField::Updated,
        "matching" => reg::SortField::Matching,
        "python" => reg::SortField::PythonVersion,
        "r" => reg::SortField::RVersion,
        "quarto" => reg::SortField::QuartoVersion,
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_parameters_is_the_first_page_of_50_by_title() {
        let r = list_request(&[]).unwrap();
        assert_eq!(r.page_size, 50);
        assert_eq!(r.sort, reg::SortField::Title as i32);
        assert!(!r.descending);
        assert_eq!(r.managed, None);
        assert!(r.page_token.is_empty());
    }

    #[test]
    fn every_parameter_reaches_the_registry_request() {
        let r = list_request(&params(&[
            ("search", " py "),
            ("language", "python"),
            ("version", "3.11"),
            ("matching", "exact"),
            ("managed", "false"),
            ("sort", "python"),
            ("order", "desc"),
            ("page_size", "10"),
            ("page_token", "abc"),
            ("unknown", "ignored"),
        ]))
        .unwrap();
        assert_eq!(r.search, "py");
        assert_eq!(r.language.as_deref(), Some("python"));
        assert_eq!(r.language_version.as_deref(), Some("3.11"));
        assert_eq!(r.matching.as_deref(), Some("exact"));
        assert_eq!(r.managed, Some(false));
        assert_eq!(r.sort, reg::SortField::PythonVersion as i32);
        assert!(r.descending);
        assert_eq!(r.page_size, 10);
        assert_eq!(r.page_token, "abc");
    }

    #[test]
    fn bad_values_are_reported_together_by_parameter() {
        let err = list_request(&params(&[
            ("managed", "maybe"),
            ("sort", "size"),
            ("order", "up"),
            ("page_size", "0"),
        ]))
        .unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["managed", "sort", "order", "page_size"]);
        assert!(list_request(&params(&[("page_size", "1001")])).is_err());
        assert!(list_request(&params(&[("page_size", "1000")])).is_ok());
    }

    #[test]
    fn an_entry_has_connects_keys_plus_permissions_and_revision() {
        let env = pb::Environment {
            guid: "g".to_owned(),
            name: "img".to_owned(),
            revision: 7,
            permissions: vec![pb::Permission {
                guid: "p".to_owned(),
                environment_guid: "g".to_owned(),
                user_guid: None,
                group_guid: Some("grp".to_owned()),
                revision: 0,
            }],
            ..Default::default()
        };
        let json = serde_json::to_value(CatalogueEntry::from(&env)).unwrap();
        assert_eq!(json["guid"], "g");
        assert_eq!(json["name"], "img");
        assert_eq!(json["revision"], 7);
        assert_eq!(
            json["permissions"],
            serde_json::json!([{"guid": "p", "user_guid": null, "group_guid": "grp"}])
        );
        assert!(json["python"]["installations"].is_array());
    }
}
