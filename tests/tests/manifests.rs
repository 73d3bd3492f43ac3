//! Every YAML document in `deploy/` and `crds/` deserializes into its k8s-openapi type by `kind`,
//! samples into `MockModel` with valid fixtures, the operator's RBAC covers what it touches, and
//! the CRD's copies (chart, plain install) are byte-identical to `crds/`. No cluster needed.

use std::path::Path;

use e2e::repo_root;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
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
    let files = yaml_files("deploy")
        .into_iter()
        .chain(yaml_files("deploy/crds"))
        .chain(yaml_files("crds"))
        .filter(|f| !f.ends_with("kustomization.yaml"));
    for file in files {
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
                "Service" => drop(typed::<Service>(&doc, &file)),
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
fn rbac_covers_what_the_operator_touches_and_no_more() {
    let file = repo_root().join("deploy/mockmodel.yaml");
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
    assert!(allows(&rules, "events.k8s.io", "events", &["create", "patch"]));
    // least privilege: the operator never writes its own custom resource, nor reads Secrets
    assert!(!allows(&rules, "mockmodel.dev", "mockmodels", &["patch"]));
    assert!(!allows(&rules, "", "secrets", &["get"]));
    assert!(!rules.iter().any(|r| r.verbs.iter().any(|v| v == "*")));
}

#[test]
fn crd_copies_in_the_chart_and_deploy_are_byte_identical() {
    let read = |p: &str| std::fs::read(repo_root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let crd = read("crds/mockmodels.yaml");
    for copy in [
        "charts/mockmodel/crds/mockmodels.yaml",
        "deploy/crds/mockmodels.yaml",
    ] {
        assert!(
            read(copy) == crd,
            "{copy} differs from crds/mockmodels.yaml: run `make generate`"
        );
    }
}

#[test]
fn kustomization_lists_the_crd_and_the_operator_manifest() {
    let file = repo_root().join("deploy/kustomization.yaml");
    let docs = documents(&file);
    assert_eq!(docs.len(), 1);
    assert_eq!(
        docs[0]["resources"],
        serde_json::json!(["crds/mockmodels.yaml", "mockmodel.yaml"])
    );
}
