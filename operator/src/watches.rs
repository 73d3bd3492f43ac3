//! The watch wiring: which objects trigger a reconcile, and the caches (stores) they fill.
//!
//! [`caches`] makes the stores and their writers up front, so the [`Context`] gets its stores
//! when it is built; [`run`] then drives the writers from the watches. No reconcile logic here.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{PredicateConfig, predicates};
use kube::{Client, Resource, ResourceExt};
use tracing::warn;

use crate::apply::ChildStores;
use crate::controller::{Context, error_policy, reconcile};
use crate::crd::MockModel;
use crate::resources::MANAGED_SELECTOR;

/// The writers that [`run`]'s watches feed; their stores were handed out by [`caches`].
pub struct Writers {
    mockmodels: Writer<MockModel>,
    deployments: Writer<Deployment>,
    services: Writer<Service>,
    config_maps: Writer<PartialObjectMeta<ConfigMap>>,
}

/// Empty caches: the MockModel store (the controller's), the children's stores (the
/// [`Context`]'s, so applies can be skipped when nothing changed) and the writers for [`run`].
pub fn caches() -> (Store<MockModel>, ChildStores, Writers) {
    let (mockmodels, mm_writer) = reflector::store();
    let (deployments, deploy_writer) = reflector::store();
    let (services, svc_writer) = reflector::store();
    let (config_maps, cm_writer) = reflector::store();
    (
        mockmodels,
        ChildStores {
            config_maps,
            deployments,
            services,
        },
        Writers {
            mockmodels: mm_writer,
            deployments: deploy_writer,
            services: svc_writer,
            config_maps: cm_writer,
        },
    )
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
/// The child watches also feed the caches that let the applier skip no-op applies.
///
/// `namespace`: `None` watches every namespace; `Some(ns)` makes every watch namespaced to `ns`
/// (no cluster-scoped list/watch, so a Role in `ns` is enough).
pub async fn run(
    ctx: Context,
    store: Store<MockModel>,
    writers: Writers,
    namespace: Option<String>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let owned = || watcher::Config::default().labels(MANAGED_SELECTOR).any_semantic();
    let mockmodels = watcher(
        scoped::<MockModel>(client.clone(), namespace.as_deref()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(writers.mockmodels)
    .applied_objects()
    .predicate_filter(predicates::generation, PredicateConfig::default());
    let deployments = watcher(
        scoped::<Deployment>(client.clone(), namespace.as_deref()),
        owned(),
    )
    .default_backoff()
    .modify(|d| d.metadata.managed_fields = None)
    .reflect(writers.deployments)
    .applied_objects()
    .predicate_filter(deployment_predicate, PredicateConfig::default());
    let services = watcher(scoped::<Service>(client.clone(), namespace.as_deref()), owned())
        .default_backoff()
        .modify(|s| s.metadata.managed_fields = None)
        .reflect(writers.services)
        .applied_objects()
        .predicate_filter(predicates::resource_version, PredicateConfig::default());
    let config_maps = watcher(
        scoped::<PartialObjectMeta<ConfigMap>>(client.clone(), namespace.as_deref()),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(|c| c.metadata.managed_fields = None)
    .reflect(writers.config_maps)
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
    use crate::crd::{ConfigMapKey, FixtureSource, MockModelSpec};
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
