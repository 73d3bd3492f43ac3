//! Applying a MockModel's children with server-side apply, skipping the round trip when the
//! cluster provably still holds exactly what this operator last applied.
//!
//! Every child event re-triggers its owner's reconcile, so right after creating three children a
//! MockModel is reconciled again with nothing to do. The watch caches (reflector stores fed by the
//! controller's own watches) say whether each child still has the `resourceVersion` our last apply
//! returned; if so, and the desired objects hash the same, the three no-op applies are skipped.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::MockModel;
use crate::resources::FIELD_MANAGER;
use crate::{Error, Result};

/// Watch caches of the children (filled by the controller's watches).
#[derive(Clone)]
pub struct ChildStores {
    /// Rendered ConfigMaps (metadata only).
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    /// Owned Deployments.
    pub deployments: Store<Deployment>,
    /// Owned Services.
    pub services: Store<Service>,
}

/// What was last applied for one MockModel: a hash of the desired children and the
/// `resourceVersion` each apply returned (ConfigMap, Deployment, Service).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    hash: u64,
    versions: [Option<String>; 3],
}

/// The desired children of one MockModel.
pub struct Children {
    /// Rendered fixtures.
    pub config_map: ConfigMap,
    /// Mock server Deployment.
    pub deployment: Deployment,
    /// Its Service.
    pub service: Service,
}

impl Children {
    fn hash(&self) -> Result<u64> {
        let mut h = DefaultHasher::new();
        for json in [
            serde_json::to_string(&self.config_map),
            serde_json::to_string(&self.deployment),
            serde_json::to_string(&self.service),
        ] {
            json.map_err(Error::Serialize)?.hash(&mut h);
        }
        Ok(h.finish())
    }
}

/// Applies children, remembering what it applied.
#[derive(Default)]
pub struct Applier {
    applied: Mutex<HashMap<ObjectRef<MockModel>, Applied>>,
}

fn key<K: Resource<DynamicType = ()>>(ns: &str, name: &str) -> ObjectRef<K> {
    ObjectRef::new(name).within(ns)
}

/// Server-side apply with the operator's one field manager, forcing ownership (we are the controller).
pub async fn ssa<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let name = obj
        .meta()
        .name
        .clone()
        .ok_or(Error::MissingObjectKey(".metadata.name"))?;
    Ok(api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(obj),
        )
        .await?)
}

impl Applier {
    fn applied(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<MockModel>, Applied>> {
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the three children concurrently and returns the Deployment as the cluster has it,
    /// status included, and whether the applies were skipped.
    pub async fn apply(
        &self,
        client: &Client,
        stores: Option<&ChildStores>,
        owner: ObjectRef<MockModel>,
        children: Children,
    ) -> Result<(Deployment, bool)> {
        let ns = children
            .config_map
            .metadata
            .namespace
            .clone()
            .ok_or(Error::MissingObjectKey(".metadata.namespace"))?;
        let name = children
            .config_map
            .metadata
            .name
            .clone()
            .ok_or(Error::MissingObjectKey(".metadata.name"))?;
        let hash = children.hash()?;
        if let Some(stores) = stores {
            let current = [
                stores
                    .config_maps
                    .get(&key(&ns, &name))
                    .and_then(|o| o.metadata.resource_version.clone()),
                stores
                    .deployments
                    .get(&key(&ns, &name))
                    .and_then(|o| o.metadata.resource_version.clone()),
                stores
                    .services
                    .get(&key(&ns, &name))
                    .and_then(|o| o.metadata.resource_version.clone()),
            ];
            let unchanged = self.applied().get(&owner)
                == Some(&Applied {
                    hash,
                    versions: current,
                });
            if unchanged && let Some(d) = stores.deployments.get(&key(&ns, &name)) {
                return Ok(((*d).clone(), true));
            }
        }
        // NB: concurrently: a pod that starts before its ConfigMap exists just waits for the volume.
        let (cms, deployments, services) = (
            Api::namespaced(client.clone(), &ns),
            Api::namespaced(client.clone(), &ns),
            Api::namespaced(client.clone(), &ns),
        );
        let (cm, deployment, svc) = futures::try_join!(
            ssa(&cms, &children.config_map),
            ssa(&deployments, &children.deployment),
            ssa(&services, &children.service),
        )?;
        let versions = [
            cm.metadata.resource_version,
            deployment.metadata.resource_version.clone(),
            svc.metadata.resource_version,
        ];
        self.applied().insert(owner, Applied { hash, versions });
        Ok((deployment, false))
    }

    /// Forgets a MockModel (e.g. after a failed reconcile), so the next pass applies for sure.
    pub fn forget(&self, owner: &ObjectRef<MockModel>) {
        self.applied().remove(owner);
    }
}
