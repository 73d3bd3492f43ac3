//! Every YAML document in `deploy/` and `crds/` deserializes into its k8s-openapi type by `kind`,
//! samples into `MockModel` with valid fixtures, and the operator's RBAC covers what it touches.
//! No cluster needed.

use std::path::Path;

use e2e::repo_root;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use mockmodel_operator::crd::MockModel;
use serde::Deserialize;
use serde_json::Value;

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join(dir))
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn typed<T: serde::de::DeserializeOwned>(doc: &Value, file: &Path) -> T {
    serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {} {e}", file.display(), doc["kind"]))
}

#[test]
fn every_manifest_deserializes_by_kind() {
    let mut kinds = Vec::new();
    for file in yaml_files("deploy").into_iter().chain(yaml_files("crds")) {
        for doc in documents(&file) {
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            match kind.as_str() {
                "Namespace" => drop(typed::<Namespace>(&doc, &file)),
                "ServiceAccount" => drop(typed::<ServiceAccount>(&doc, &file)),
                "ClusterRole" => drop(typed::<ClusterRole>(&doc, &file)),
                "ClusterRoleBinding" => drop(typed::<ClusterRoleBinding>(&doc, &file)),
                "Role" => drop(typed::<Role>(&doc, &file)),
                "RoleBinding" => drop(typed::<RoleBinding>(&doc, &file)),
                "Deployment" => drop(typed::<Deployment>(&doc, &file)),
                "CustomResourceDefinition" => drop(typed::<CustomResourceDefinition>(&doc, &file)),
                other => panic!("{}: unexpected kind {other:?}", file.display()),
            }
            kinds.push(kind);
        }
    }
    assert!(kinds.contains(&"CustomResourceDefinition".to_string()));
    assert!(kinds.contains(&"Deployment".to_string()));
}

#[test]
fn samples_are_mockmodels_with_valid_fixtures() {
    let files = yaml_files("deploy/samples");
    assert!(!files.is_empty());
    for file in files {
        for doc in documents(&file) {
            let mm: MockModel = typed(&doc, &file);
            let rendered = mockmodel_operator::render::render(&mm.spec, &[])
                .unwrap_or_else(|e| panic!("{}: invalid fixtures {e:?}", file.display()));
            assert!(rendered.count > 0);
        }
    }
}

fn allows(rules: &[PolicyRule], group: &str, resource: &str, verbs: &[&str]) -> bool {
    rules.iter().any(|r| {
        r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && verbs.iter().all(|v| r.verbs.iter().any(|have| have == v))
    })
}

#[test]
fn rbac_covers_what_the_operator_touches() {
    let file = repo_root().join("deploy/operator.yaml");
    let docs = documents(&file);
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).cloned().expect(kind);
    let cluster: ClusterRole = typed(&find("ClusterRole"), &file);
    let rules = cluster.rules.unwrap_or_default();
    let watch = ["get", "list", "watch"];
    let own = ["get", "list", "watch", "create", "patch"];
    assert!(allows(&rules, "mockmodel.dev", "mockmodels", &watch));
    assert!(allows(&rules, "mockmodel.dev", "mockmodels/status", &["patch"]));
    assert!(allows(&rules, "", "configmaps", &own));
    assert!(allows(&rules, "", "services", &own));
    assert!(allows(&rules, "apps", "deployments", &own));
    assert!(allows(&rules, "events.k8s.io", "events", &["create"]));
    let role: Role = typed(&find("Role"), &file);
    assert!(allows(
        &role.rules.unwrap_or_default(),
        "coordination.k8s.io",
        "leases",
        &["get", "create", "update"]
    ));
}
