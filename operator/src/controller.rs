//! The reconcile driver: `fetch sources -> render (pure) -> apply children (SSA) -> status (pure)
//! -> patch status if changed`, plus the error policy and the `Controller` wiring with watches.
//!
//! Bad input (invalid fixtures, a missing `fixturesFrom` ConfigMap) is not an error: it is
//! reported in status and by a Warning Event, and the running children are left untouched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{PredicateConfig, predicates};
use kube::{Client, Resource, ResourceExt};
use tracing::{info, instrument, warn};

use crate::apply::{Applier, ChildStores, Children};
use crate::crd::{MockModel, MockModelSpec};
use crate::metrics::Metrics;
use crate::render::{self, SourceDoc};
use crate::resources::{self, FIELD_MANAGER, MANAGED_SELECTOR, Settings};
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
    /// Watch caches of the children; `None` until the controller's watches run.
    pub stores: Option<ChildStores>,
    /// Consecutive failures per object, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<MockModel>, u32>>,
}

impl Context {
    /// A context reporting Events as `mockmodel-operator` / `instance`.
    pub fn new(client: Client, metrics: Arc<Metrics>, settings: Settings, instance: Option<String>) -> Self {
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
            stores: None,
            failures: Mutex::default(),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<MockModel>, u32>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the `fixturesFrom` documents; `Ok(Err(message))` when one is missing.
async fn fetch_sources(
    client: &Client,
    ns: &str,
    spec: &MockModelSpec,
) -> Result<Result<Vec<SourceDoc>, String>> {
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

/// Reconciles one MockModel.
#[instrument(skip_all, fields(name = %mm.name_any(), namespace = mm.namespace().unwrap_or_default()))]
pub async fn reconcile(mm: Arc<MockModel>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.count_and_measure();
    let ns = mm
        .namespace()
        .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
    let name = mm.name_any();
    let client = &ctx.client;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    let (outcome, deployment) = match fetch_sources(client, &ns, &mm.spec).await? {
        Err(missing) => (
            FixtureOutcome::SourceMissing(missing),
            deployments.get_opt(&name).await?,
        ),
        Ok(docs) => match render::render(&mm.spec, &docs) {
            Err(errors) => (FixtureOutcome::Invalid(errors), deployments.get_opt(&name).await?),
            Ok(rendered) => {
                for w in &rendered.warnings {
                    info!(warning = %w, "fixture warning");
                }
                let children = Children {
                    config_map: resources::config_map(&mm, rendered.data)?,
                    deployment: resources::deployment(&mm, &ctx.settings)?,
                    service: resources::service(&mm)?,
                };
                let owner = ObjectRef::from_obj(&*mm);
                let (d, skipped) = ctx
                    .applier
                    .apply(client, ctx.stores.as_ref(), owner, children)
                    .await?;
                if skipped {
                    ctx.metrics.applies_skipped.inc();
                }
                (FixtureOutcome::Applied(rendered.count), Some(d))
            }
        },
    };

    let new = status::compute(&mm, &outcome, deployment.as_ref(), &Time(Timestamp::now()));
    if let FixtureOutcome::Invalid(_) | FixtureOutcome::SourceMissing(_) = &outcome {
        let reason = if matches!(outcome, FixtureOutcome::Invalid(_)) {
            "invalid_fixtures"
        } else {
            "missing_source"
        };
        ctx.metrics.failure(reason);
        let before = status::fixtures_valid(mm.status.as_ref());
        let now = status::fixtures_valid(Some(&new));
        // one Event per new problem, not one per reconcile
        if let Some(c) = now.filter(|c| before.is_none_or(|b| b.status != c.status || b.message != c.message))
        {
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
    if mm.status.as_ref() != Some(&new) {
        let patch = serde_json::json!({
            "apiVersion": "mockmodel.dev/v1alpha1",
            "kind": "MockModel",
            "status": new,
        });
        Api::<MockModel>::namespaced(client.clone(), &ns)
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
    }
    ctx.failures().remove(&ObjectRef::from_obj(&*mm));
    Ok(Action::requeue(RESYNC))
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

/// MockModels that a ConfigMap concerns: its owner (the rendered fixtures) and every MockModel
/// in its namespace that reads it through `fixturesFrom`.
pub fn affected_by_config_map(
    store: &Store<MockModel>,
    cm_name: &str,
    cm_ns: &str,
    owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference],
) -> Vec<ObjectRef<MockModel>> {
    let mut refs: Vec<ObjectRef<MockModel>> = owners
        .iter()
        .filter(|o| o.kind == "MockModel" && o.api_version.starts_with("mockmodel.dev/"))
        .map(|o| ObjectRef::new(&o.name).within(cm_ns))
        .collect();
    refs.extend(
        store
            .state()
            .iter()
            .filter(|mm| mm.namespace().as_deref() == Some(cm_ns))
            .filter(|mm| {
                mm.spec
                    .fixtures_from
                    .iter()
                    .any(|s| s.config_map_key_ref.name == cm_name)
            })
            .map(|mm| ObjectRef::from_obj(&**mm)),
    );
    refs
}

/// Hash of what the operator reads from a Deployment: its generation (spec drift) and ready pods.
fn deployment_predicate(d: &Deployment) -> Option<u64> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    (
        d.metadata.generation,
        d.status.as_ref().and_then(|s| s.ready_replicas),
    )
        .hash(&mut h);
    Some(h.finish())
}

/// An Api over every namespace, or over one.
fn scoped<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// Runs the controller until `shutdown` resolves (then drains in-flight reconciles).
///
/// Triggers: MockModel spec changes (generation; our own status patches do not re-trigger),
/// owned Deployments (spec drift, ready pods), owned Services, and ConfigMaps (metadata only):
/// the rendered ones and those named in a `fixturesFrom`, so a missing source is retried on arrival.
/// The child watches also feed the caches that let [`Applier`] skip no-op applies.
///
/// `namespace`: `None` watches every namespace; `Some(ns)` makes every watch namespaced to `ns`
/// (no cluster-scoped list/watch, so a Role in `ns` is enough).
pub async fn run(
    mut ctx: Context,
    namespace: Option<String>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let owned = || watcher::Config::default().labels(MANAGED_SELECTOR).any_semantic();
    let (store, writer) = reflector::store();
    let (deploy_store, deploy_writer) = reflector::store();
    let (svc_store, svc_writer) = reflector::store();
    let (cm_store, cm_writer) = reflector::store();
    ctx.stores = Some(ChildStores {
        config_maps: cm_store,
        deployments: deploy_store,
        services: svc_store,
    });

    let mockmodels = watcher(
        scoped::<MockModel>(client.clone(), namespace.as_deref()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(writer)
    .applied_objects()
    .predicate_filter(predicates::generation, PredicateConfig::default());
    let deployments = watcher(
        scoped::<Deployment>(client.clone(), namespace.as_deref()),
        owned(),
    )
    .default_backoff()
    .modify(|d| d.metadata.managed_fields = None)
    .reflect(deploy_writer)
    .applied_objects()
    .predicate_filter(deployment_predicate, PredicateConfig::default());
    let services = watcher(scoped::<Service>(client.clone(), namespace.as_deref()), owned())
        .default_backoff()
        .modify(|s| s.metadata.managed_fields = None)
        .reflect(svc_writer)
        .applied_objects()
        .predicate_filter(predicates::resource_version, PredicateConfig::default());
    let config_maps = watcher(
        scoped::<PartialObjectMeta<ConfigMap>>(client.clone(), namespace.as_deref()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(|c| c.metadata.managed_fields = None)
    .reflect(cm_writer)
    .touched_objects();
    let mapper_store = store.clone();
    Controller::for_stream(mockmodels, store)
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .owns_stream(deployments)
        .owns_stream(services)
        .watches_stream(config_maps, move |cm| {
            let ns = cm.metadata.namespace.clone().unwrap_or_default();
            let name = cm.metadata.name.clone().unwrap_or_default();
            affected_by_config_map(
                &mapper_store,
                &name,
                &ns,
                cm.metadata.owner_references.as_deref().unwrap_or_default(),
            )
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, Arc::new(ctx))
        .for_each(|res| async move {
            match res {
                // a failing watch (e.g. RBAC forbids it) must be visible; it retries with backoff
                Err(kube::runtime::controller::Error::QueueError(e)) => {
                    warn!(error = %e, "watch failed")
                }
                // reconcile failures are already logged by `error_policy`
                Err(e) => tracing::debug!(error = %e, "reconcile result"),
                Ok(_) => {}
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ConfigMapKey, FixtureSource};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    fn mm(name: &str, ns: &str, from: &[&str]) -> MockModel {
        let mut mm = MockModel::new(name, MockModelSpec::default());
        mm.metadata.namespace = Some(ns.into());
        mm.spec.fixtures_from = from
            .iter()
            .map(|n| FixtureSource {
                config_map_key_ref: ConfigMapKey {
                    name: (*n).into(),
                    key: "f.yaml".into(),
                },
            })
            .collect();
        mm
    }

    async fn reconcile_against_mock(
        mm: MockModel,
    ) -> (Result<Action>, Vec<crate::fixtures::Call>, Arc<Context>) {
        let (ctx, handle) = Context::test();
        let server = tokio::spawn(crate::fixtures::serve(handle));
        let result = reconcile(Arc::new(mm), ctx.clone()).await;
        (result, server.await.expect("verifier"), ctx)
    }

    #[tokio::test]
    async fn a_new_mockmodel_applies_its_three_children_then_its_status() {
        let mm = MockModel::test("fixtures:\n- {match: {userMessage: hi}, response: {content: hello}}\n");
        let (result, calls, ctx) = reconcile_against_mock(mm).await;
        assert!(result.is_ok(), "{result:?}");
        let mut children: Vec<&str> = calls[..3]
            .iter()
            .inspect(|c| {
                assert_eq!(c.method, "PATCH");
                assert!(
                    c.uri.contains("fieldManager=mockmodel-operator") && c.uri.contains("force=true"),
                    "{}",
                    c.uri
                );
            })
            .map(|c| c.uri.split('?').next().unwrap_or_default())
            .collect();
        children.sort();
        assert_eq!(
            children,
            [
                "/api/v1/namespaces/ns/configmaps/bot",
                "/api/v1/namespaces/ns/services/bot",
                "/apis/apps/v1/namespaces/ns/deployments/bot",
            ]
        );
        let status = &calls[3];
        assert!(
            status
                .uri
                .starts_with("/apis/mockmodel.dev/v1alpha1/namespaces/ns/mockmodels/bot/status?")
        );
        assert_eq!(status.body["status"]["fixtureCount"], 1);
        assert_eq!(
            status.body["status"]["endpoints"]["openai"],
            "http://bot.ns.svc:8080/v1"
        );
        assert_eq!(calls.len(), 4, "{calls:#?}");
        assert_eq!(ctx.metrics.reconciles.get(), 1);
    }

    #[tokio::test]
    async fn invalid_fixtures_touch_no_child_emit_an_event_and_bump_the_failure_metric() {
        let mm = MockModel::test("fixtures:\n- {chunkSize: 0, response: {content: x}}\n");
        let (result, calls, ctx) = reconcile_against_mock(mm).await;
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

    #[test]
    fn a_configmap_triggers_its_owner_and_every_mockmodel_reading_it() {
        let (store, mut writer) = reflector::store::<MockModel>();
        for m in [
            mm("a", "ns", &["shared"]),
            mm("b", "ns", &["other"]),
            mm("c", "elsewhere", &["shared"]),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(m));
        }
        let owner = OwnerReference {
            api_version: "mockmodel.dev/v1alpha1".into(),
            kind: "MockModel".into(),
            name: "d".into(),
            uid: "u".into(),
            ..OwnerReference::default()
        };
        let mut names: Vec<String> = affected_by_config_map(&store, "shared", "ns", &[owner])
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        assert_eq!(names, ["a", "d"], "same namespace only; the owner too");
        assert!(affected_by_config_map(&store, "unrelated", "ns", &[]).is_empty());
    }
}
