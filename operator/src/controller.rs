//! The reconcile driver, a pipeline: `fetch` the `fixturesFrom` sources -> `validate` (render,
//! pure) -> `build` the children (pure) -> `apply` them (SSA) -> `status` (pure) and events.
//! The watches that trigger it live in [`crate::watches`].
//!
//! Bad input (invalid fixtures, a missing `fixturesFrom` ConfigMap) is not an error: it is
//! reported in status and by a Warning Event, and the running children are left untouched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use tracing::{info, instrument, warn};

use crate::apply::{Applier, ChildStores, Children};
use crate::crd::{MockModel, MockModelSpec, MockModelStatus};
use crate::metrics::Metrics;
use crate::render::{self, Rendered, SourceDoc};
use crate::resources::{self, FIELD_MANAGER, Settings};
use crate::status::{self, FixtureOutcome};
use crate::{Error, Result};

/// Safety-net resync; watches do the real triggering.
const RESYNC: Duration = Duration::from_secs(300);
/// Longest error backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Operator metrics.
    pub metrics: Arc<Metrics>,
    /// Publishes Events on MockModels.
    pub recorder: Recorder,
    /// Image and other operator-wide settings.
    pub settings: Settings,
    /// Applies children, skipping provable no-ops.
    pub applier: Applier,
    /// Watch caches of the children (filled by [`crate::watches::run`]).
    pub stores: ChildStores,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<MockModel>, u32>>,
}

impl Context {
    /// A context reporting Events as `mockmodel-operator` / `instance`, reading the children
    /// from `stores` (see [`crate::watches::caches`]).
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        settings: Settings,
        instance: Option<String>,
        stores: ChildStores,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            settings,
            applier: Applier::default(),
            stores,
            failures: Mutex::default(),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<MockModel>, u32>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reconciles one MockModel.
#[instrument(skip_all, fields(name = %mm.name_any(), namespace = mm.namespace().unwrap_or_default()))]
pub async fn reconcile(mm: Arc<MockModel>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.count_and_measure();
    let ns = mm
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let (outcome, deployment, served) = match validate(&mm, fetch(&ctx.client, &ns, &mm.spec).await?) {
        Ok(rendered) => {
            let count = rendered.count;
            let children = build(&mm, &ctx.settings, rendered)?;
            (
                FixtureOutcome::Applied(count),
                Some(apply(&ctx, &mm, children).await?),
                None,
            )
        }
        Err(problem) => (
            problem,
            current_deployment(&ctx.client, &ns, &mm).await?,
            served_count(&ctx.client, &ns, &mm).await?,
        ),
    };
    let new = status::compute(
        &mm,
        &outcome,
        deployment.as_ref(),
        served,
        &Time(Timestamp::now()),
    );
    report(&ctx, &mm, &outcome, &new).await;
    patch_status(&ctx.client, &ns, &mm, new).await?;
    ctx.failures().remove(&ObjectRef::from_obj(&*mm));
    Ok(Action::requeue(RESYNC))
}

/// Fetch: the `fixturesFrom` documents; `Ok(Err(message))` when one is missing.
async fn fetch(client: &Client, ns: &str, spec: &MockModelSpec) -> Result<Result<Vec<SourceDoc>, String>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut docs = Vec::with_capacity(spec.fixtures_from.len());
    for (i, src) in spec.fixtures_from.iter().enumerate() {
        let r = &src.config_map_key_ref;
        let Some(cm) = api.get_opt(&r.name).await? else {
            return Ok(Err(format!(
                "spec.fixturesFrom[{i}]: configMap {:?} not found in namespace {ns}",
                r.name
            )));
        };
        let Some(text) = cm.data.as_ref().and_then(|d| d.get(&r.key)) else {
            return Ok(Err(format!(
                "spec.fixturesFrom[{i}]: configMap {:?} has no key {:?}",
                r.name, r.key
            )));
        };
        docs.push(SourceDoc {
            source: r.clone(),
            text: text.clone(),
        });
    }
    Ok(Ok(docs))
}

/// Validate (pure): the fixtures rendered with the server crate's validator, or why not.
fn validate(mm: &MockModel, sources: Result<Vec<SourceDoc>, String>) -> Result<Rendered, FixtureOutcome> {
    let docs = sources.map_err(FixtureOutcome::SourceMissing)?;
    let rendered = render::render(&mm.spec, &docs).map_err(FixtureOutcome::Invalid)?;
    for w in &rendered.warnings {
        info!(warning = %w, "fixture warning");
    }
    Ok(rendered)
}

/// Build (pure): the three children of a valid MockModel.
fn build(mm: &MockModel, settings: &Settings, rendered: Rendered) -> Result<Children> {
    Ok(Children {
        config_map: resources::config_map(mm, rendered.data)?,
        deployment: resources::deployment(mm, settings)?,
        service: resources::service(mm)?,
    })
}

/// Apply: server-side apply of the children (skipped when provably unchanged); the Deployment
/// as the cluster has it.
async fn apply(ctx: &Context, mm: &MockModel, children: Children) -> Result<Deployment> {
    let owner = ObjectRef::from_obj(mm);
    let (deployment, skipped) = ctx
        .applier
        .apply(&ctx.client, Some(&ctx.stores), owner, children)
        .await?;
    if skipped {
        ctx.metrics.applies_skipped.inc();
    }
    Ok(deployment)
}

/// The running Deployment, untouched, when the fixtures could not be applied.
async fn current_deployment(client: &Client, ns: &str, mm: &MockModel) -> Result<Option<Deployment>> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    Ok(deployments.get_opt(&mm.name_any()).await?)
}

/// How many fixtures the running endpoint serves, counted from its ConfigMap as it is now,
/// when this reconcile could not apply new ones; `None` when the ConfigMap does not load.
///
/// Read from the cluster, not from the MockModel's status: the object this reconcile was
/// handed can predate the status patch of the reconcile before it, and its `fixtureCount`
/// would then report 0 while five fixtures are served. Only bad input takes this path.
async fn served_count(client: &Client, ns: &str, mm: &MockModel) -> Result<Option<usize>> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let Some(cm) = config_maps.get_opt(&mm.name_any()).await? else {
        return Ok(Some(0));
    };
    Ok(render::served(&cm))
}

/// The problem an outcome reports, as the operator's error (for its metric label).
fn problem(outcome: &FixtureOutcome) -> Option<Error> {
    match outcome {
        FixtureOutcome::Applied(_) => None,
        FixtureOutcome::Invalid(errors) => Some(Error::InvalidFixtures(errors.join("; "))),
        FixtureOutcome::SourceMissing(missing) => Some(Error::MissingSource(missing.clone())),
    }
}

/// Events: bad fixtures count as a failure and get one Warning Event per new problem (not one
/// per reconcile).
async fn report(ctx: &Context, mm: &MockModel, outcome: &FixtureOutcome, new: &MockModelStatus) {
    let Some(error) = problem(outcome) else {
        return;
    };
    ctx.metrics.failure(error.metric_label());
    let before = status::fixtures_valid(mm.status.as_ref());
    let now = status::fixtures_valid(Some(new));
    if let Some(c) = now.filter(|c| before.is_none_or(|b| b.status != c.status || b.message != c.message)) {
        warn!(reason = %c.reason, message = %c.message, "fixtures rejected; the endpoint keeps its last valid set");
        let event = Event {
            type_: EventType::Warning,
            reason: c.reason.clone(),
            note: Some(truncate(&c.message, 1000)),
            action: "ValidateFixtures".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &mm.object_ref(&())).await {
            warn!(error = %e, "publishing event failed");
        }
    }
}

/// Status: server-side apply of the new status, only if it changed (no reconcile loops).
async fn patch_status(client: &Client, ns: &str, mm: &MockModel, new: MockModelStatus) -> Result<()> {
    if mm.status.as_ref() == Some(&new) {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": "mockmodel.dev/v1alpha1",
        "kind": "MockModel",
        "status": new,
    });
    Api::<MockModel>::namespaced(client.clone(), ns)
        .patch_status(
            &mm.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Failed reconciles: count by reason, retry with exponential backoff (1 s doubling to 5 min).
pub fn error_policy(mm: Arc<MockModel>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failure(error.metric_label());
    ctx.applier.forget(&ObjectRef::from_obj(&*mm));
    let n = {
        let mut failures = ctx.failures();
        let n = failures.entry(ObjectRef::from_obj(&*mm)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(n);
    warn!(name = %mm.name_any(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Delay before retry number `n` (from 1): 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn backoff(n: u32) -> Duration {
    Duration::from_secs(1u64 << n.clamp(1, 10).saturating_sub(1)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{Scenario, run_scenario};

    async fn reconcile_in(
        scenario: Scenario,
        mm: MockModel,
    ) -> (Result<Action>, Vec<crate::fixtures::Call>, Arc<Context>) {
        let (ctx, handle) = Context::test();
        let server = tokio::spawn(run_scenario(handle, scenario));
        let result = reconcile(Arc::new(mm), ctx.clone()).await;
        (
            result,
            server.await.expect("the scenario's calls, and only those"),
            ctx,
        )
    }

    #[tokio::test]
    async fn a_new_mockmodel_applies_its_three_children_then_its_status() {
        let mm = MockModel::test("fixtures:\n- {match: {userMessage: hi}, response: {content: hello}}\n");
        let (result, calls, ctx) = reconcile_in(Scenario::NewMockModel, mm).await;
        assert!(result.is_ok(), "{result:?}");
        let status = &calls[3];
        assert_eq!(status.body["status"]["fixtureCount"], 1);
        assert_eq!(
            status.body["status"]["endpoints"]["openai"],
            "http://bot.ns.svc:8080/v1"
        );
        let deployment = calls
            .iter()
            .find(|c| c.uri.contains("/deployments/"))
            .expect("deployment applied");
        assert_eq!(deployment.body["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(ctx.metrics.reconciles.get(), 1);
    }

    #[tokio::test]
    async fn invalid_fixtures_touch_no_child_emit_an_event_and_bump_the_failure_metric() {
        let mm = MockModel::test("fixtures:\n- {chunkSize: 0, response: {content: x}}\n");
        let (result, calls, ctx) = reconcile_in(Scenario::InvalidFixtures, mm).await;
        assert!(
            result.is_ok(),
            "bad input is reported in status, not retried: {result:?}"
        );
        assert!(
            !calls
                .iter()
                .any(|c| c.method == "PATCH" && !c.uri.contains("/status")),
            "no child applied: {calls:#?}"
        );
        let event = calls
            .iter()
            .find(|c| c.uri.contains("/events"))
            .expect("an event");
        assert_eq!(event.body["type"], "Warning");
        assert_eq!(event.body["reason"], "InvalidFixtures");
        let status = calls
            .iter()
            .find(|c| c.uri.contains("/status"))
            .expect("status patch");
        let valid = &status.body["status"]["conditions"][1];
        assert_eq!(
            (valid["type"].as_str(), valid["status"].as_str()),
            (Some("FixturesValid"), Some("False"))
        );
        assert!(
            valid["message"]
                .as_str()
                .is_some_and(|m| m.contains("spec.fixtures[0].chunkSize"))
        );
        assert_eq!(
            ctx.metrics
                .failures
                .with_label_values(&["invalid_fixtures"])
                .get(),
            1
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = [1, 2, 3, 4, 9, 10, 50].map(|n| backoff(n).as_secs()).to_vec();
        assert_eq!(secs, [1, 2, 4, 8, 256, 300, 300]);
    }
}
