//! `GET /__api__/v1/server_settings/{python,r,quarto,tensorflow}`: the installations of a
//! language offered by the environments the caller may use, each with the cluster and image
//! that provide it (connect-spec §1.8).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use execenv_core::Error;
use execenv_proto::environments::v1 as pb;
use execenv_proto::registry::v1 as reg;
use serde::Serialize;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::listing::every_environment;
use crate::state::AppState;

/// The route, relative to `/__api__/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/server_settings/{language}", get(offered))
}

/// The languages an environment has installations of.
pub const LANGUAGES: [&str; 4] = ["python", "r", "quarto", "tensorflow"];

/// One installation as Connect lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedInstallation {
    pub version: String,
    pub cluster_name: String,
    pub image_name: String,
}

/// The answer; `api_enabled` only for Python (execenv does not restrict Python APIs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offered {
    pub installations: Vec<OfferedInstallation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_enabled: Option<bool>,
}

/// The handler.
pub async fn offered(
    State(state): State<AppState>,
    Extension(who): Extension<Authenticated>,
    Path(language): Path<String>,
) -> Result<Response, ApiError> {
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(Error::invalid_field(
            "language",
            format!(
                "{language:?} is not a language of environments; use one of {}",
                LANGUAGES.join(", ")
            ),
        )
        .into());
    }
    let request = reg::ListEnvironmentsRequest {
        language: Some(language.clone()),
        ..reg::ListEnvironmentsRequest::default()
    };
    let environments = every_environment(state.registry(), &who.caller, request).await?;
    Ok(Json(offered_by(&environments, &language)).into_response())
}

/// The installations of `language` in `environments`, in their order.
pub fn offered_by(environments: &[pb::Environment], language: &str) -> Offered {
    let installations = environments
        .iter()
        .flat_map(|e| {
            let list = match language {
                "python" => e.python.as_ref(),
                "r" => e.r.as_ref(),
                "quarto" => e.quarto.as_ref(),
                _ => e.tensorflow.as_ref(),
            };
            list.into_iter()
                .flat_map(|l| &l.installations)
                .map(|i| OfferedInstallation {
                    version: i.version.clone(),
                    cluster_name: e.cluster_name.clone(),
                    image_name: e.name.clone(),
                })
        })
        .collect();
    Offered {
        installations,
        api_enabled: (language == "python").then_some(true),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(image: &str, python: &[&str]) -> pb::Environment {
        pb::Environment {
            name: image.to_owned(),
            cluster_name: "Kubernetes".to_owned(),
            python: Some(pb::Installations {
                installations: python
                    .iter()
                    .map(|v| pb::Installation {
                        version: (*v).to_owned(),
                        path: format!("/opt/python/{v}/bin/python3"),
                    })
                    .collect(),
            }),
            ..pb::Environment::default()
        }
    }

    #[test]
    fn each_installation_names_the_image_that_offers_it() {
        let offered = offered_by(
            &[env("a:1", &["3.11.9", "3.12.4"]), env("b:1", &["3.11.9"])],
            "python",
        );
        assert_eq!(
            serde_json::to_value(offered).unwrap(),
            json!({"installations": [
                {"version": "3.11.9", "cluster_name": "Kubernetes", "image_name": "a:1"},
                {"version": "3.12.4", "cluster_name": "Kubernetes", "image_name": "a:1"},
                {"version": "3.11.9", "cluster_name": "Kubernetes", "image_name": "b:1"}
            ], "api_enabled": true})
        );
        let r = serde_json::to_value(offered_by(&[env("a:1", &["3.11.9"])], "r")).unwrap();
        assert_eq!(r, json!({"installations": []}));
    }
}
