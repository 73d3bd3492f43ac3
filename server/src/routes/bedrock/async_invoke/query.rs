//! GetAsyncInvoke (`GET /async-invoke/{invocationArn}`) and ListAsyncInvokes (`GET /async-invoke`):
//! the jobs StartAsyncInvoke recorded, as `AsyncInvokeSummary` describes them, with ListAsyncInvokes'
//! filters (`statusEquals`, submission-time bounds), order and pages.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::check;
use crate::conversation::{Conversation, Protocol};
use crate::jobs::Job;
use crate::plan::Outcome;
use crate::routes::bedrock::{BedrockError, from_value};
use crate::state::SharedState;

/// `GET /async-invoke/{invocationArn}`.
pub async fn get(
    State(state): State<SharedState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let res = (|| {
        let Path(arn) = path.map_err(|e| BedrockError::validation(format!("Invalid invocationArn: {e}")))?;
        check(
            &state,
            "GetAsyncInvoke",
            &[("invocationArn", &arn)],
            &headers,
            None,
        )?;
        fixture_error(&state, "GetAsyncInvoke", &headers)?;
        // GetAsyncInvoke lists no ResourceNotFoundException: an unknown ARN is a validation error.
        state
            .jobs
            .get(&arn)
            .map(|j| axum::Json(summary(&j)).into_response())
            .ok_or_else(|| BedrockError::validation(format!("Invocation {arn} not found")))
    })();
    res.unwrap_or_else(IntoResponse::into_response)
}

/// `ListAsyncInvokes`' query string, as botocore sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    #[serde(default)]
    max_results: Option<String>,
    #[serde(default)]
    next_token: Option<String>,
    #[serde(default)]
    sort_order: Option<String>,
    #[serde(default)]
    status_equals: Option<String>,
    #[serde(default)]
    submit_time_after: Option<String>,
    #[serde(default)]
    submit_time_before: Option<String>,
}

/// Jobs per page when the request sets no `maxResults` (the model's maximum).
const DEFAULT_PAGE: usize = 1000;

/// `GET /async-invoke`.
pub async fn list(
    State(state): State<SharedState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    list_jobs(&state, query, &headers).unwrap_or_else(IntoResponse::into_response)
}

fn list_jobs(
    state: &SharedState,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, BedrockError> {
    let Query(pairs) = query.map_err(|e| BedrockError::validation(e.body_text()))?;
    let labels: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    check(state, "ListAsyncInvokes", &labels, headers, None)?;
    fixture_error(state, "ListAsyncInvokes", headers)?;
    let q: ListQuery = from_value(&Value::Object(
        pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect(),
    ))?;
    let time = |v: &Option<String>, name: &str| -> Result<Option<SystemTime>, BedrockError> {
        v.as_deref()
            .map(|s| {
                DateTime::from_str(s, Format::DateTime)
                    .ok()
                    .and_then(|d| SystemTime::try_from(d).ok())
                    .ok_or_else(|| BedrockError::validation(format!("Invalid timestamp at '{name}': {s}")))
            })
            .transpose()
    };
    let after = time(&q.submit_time_after, "submitTimeAfter")?;
    let before = time(&q.submit_time_before, "submitTimeBefore")?;
    let page = match q.max_results.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err(BedrockError::validation("Invalid maxResults")),
    };
    let mut jobs: Vec<Job> = state
        .jobs
        .all()
        .into_iter()
        .filter(|j| q.status_equals.as_deref().is_none_or(|s| s == j.status.as_str()))
        .filter(|j| after.is_none_or(|t| j.submitted > t))
        .filter(|j| before.is_none_or(|t| j.submitted < t))
        .collect();
    // Oldest first as stored; the service sorts newest first unless asked otherwise.
    if q.sort_order.as_deref() != Some("Ascending") {
        jobs.reverse();
    }
    // The token is the id of the next page's first job, so jobs started between two pages neither
    // repeat nor skip one (an offset would shift under newest-first order).
    let start = match q.next_token.as_deref() {
        None => 0,
        Some(token) => jobs
            .iter()
            .position(|j| j.id == token)
            .ok_or_else(|| BedrockError::validation("Invalid nextToken"))?,
    };
    let end = start.saturating_add(page).min(jobs.len());
    let summaries: Vec<Value> = jobs
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(summary)
        .collect();
    let mut body = json!({"asyncInvokeSummaries": summaries});
    if let Some(next) = jobs.get(end) {
        body["nextToken"] = json!(next.id);
    }
    Ok(axum::Json(body).into_response())
}

/// A fixture naming this operation (`match.operation: GetAsyncInvoke` or `ListAsyncInvokes`) may
/// answer it with an error the operation lists (access denied, throttling, internal, validation).
/// These requests carry no prompt, so such fixtures match on headers (`context`, `headers`,
/// `X-Test-Id` sequences); without one the operation matches nothing, journals nothing.
fn fixture_error(
    state: &SharedState,
    operation: &'static str,
    headers: &HeaderMap,
) -> Result<(), BedrockError> {
    let named = state
        .fixtures
        .load()
        .fixtures
        .iter()
        .any(|f| f.fixture.match_.operation.as_deref() == Some(operation));
    if !named {
        return Ok(());
    }
    let c = Conversation::new(Protocol::Bedrock, "").with_headers(headers);
    match state.resolve(&c, operation) {
        Ok(Outcome::Error(e)) => Err(BedrockError::from_plan(&e, "")),
        _ => Ok(()),
    }
}

/// A job as GetAsyncInvoke and ListAsyncInvokes' `AsyncInvokeSummary` describe it.
fn summary(j: &Job) -> Value {
    let mut v = json!({
        "invocationArn": j.arn,
        "modelArn": j.model_arn,
        "status": j.status.as_str(),
        "submitTime": timestamp(j.submitted),
        "lastModifiedTime": timestamp(j.modified),
        "outputDataConfig": j.output,
    });
    if let Some(t) = &j.token {
        v["clientRequestToken"] = json!(t);
    }
    if let Some(t) = j.ended {
        v["endTime"] = json!(timestamp(t));
    }
    if let Some(f) = &j.failure {
        v["failureMessage"] = json!(f);
    }
    v
}

/// An ISO 8601 timestamp, the model's `timestampFormat` for these members.
fn timestamp(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        assert_eq!(timestamp(t), "1970-01-01T00:00:01.5Z");
    }
}
