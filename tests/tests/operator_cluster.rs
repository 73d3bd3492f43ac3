//! The operator against a real kube-apiserver + etcd (scripts/k8s-testbed.sh): CRD, children,
//! fixture edits, bad input, readiness and leader election.

use std::time::Duration;

use e2e::{
    NEEDS_CLUSTER, OperatorHandle, TempNs, apply_mockmodel, client, eventually, install_crd,
    mockmodel_from_file,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use mockmodel_operator::crd::{MockModel, MockModelStatus};
use mockmodel_operator::render::FIXTURES_KEY;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const SAMPLE: &str = "deploy/samples/mockmodel-support-agent.yaml";

fn condition<'a>(
    s: &'a MockModelStatus,
    t: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    s.conditions.iter().find(|c| c.type_ == t)
}

/// Waits until the MockModel's status satisfies `pred`, returning it.
async fn status_where(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&MockModelStatus) -> bool,
) -> anyhow::Result<MockModelStatus> {
    let api: Api<MockModel> = Api::namespaced(client.clone(), ns);
    eventually(what, WAIT, || {
        let api = api.clone();
        let pred = &pred;
        async move { Ok(api.get(name).await?.status.filter(|s| pred(s))) }
    })
    .await
}

async fn config_map_text(client: &Client, ns: &str, name: &str) -> anyhow::Result<Option<String>> {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?;
    Ok(cm.and_then(|c| c.data).and_then(|d| d.get(FIXTURES_KEY).cloned()))
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn crd_installs_and_is_established() -> anyhow::Result<()> {
    let _ = NEEDS_CLUSTER;
    let client = client().await?;
    let crd = install_crd(&client).await?;
    assert_eq!(crd.spec.names.short_names, Some(vec!["mm".to_string()]));
    let established = crd.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        established
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    // the schema is live: a wrongly typed field is rejected by the apiserver
    let ns = TempNs::new(&client, "crd").await?;
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &kube::api::ApiResource::erase::<MockModel>(&()),
    );
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "mockmodel.dev/v1alpha1", "kind": "MockModel",
        "metadata": {"name": "bad"}, "spec": {"replicas": "two"}
    }))?;
    let err = api
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("rejected");
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
    Ok(())
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn sample_yields_owned_children_and_status_endpoints() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "sample").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-sample");
    let mm = apply_mockmodel(&client, &mockmodel_from_file(SAMPLE, &ns.name)?).await?;
    let name = mm.name_any();
    let uid = mm.uid().unwrap_or_default();

    let status = status_where(&client, &ns.name, &name, "status endpoints", |s| {
        s.endpoints.is_some()
    })
    .await?;
    let endpoints = status.endpoints.clone().unwrap_or_default();
    assert_eq!(
        endpoints.get("bedrock"),
        Some(format!("http://support-agent.{}.svc:8080", ns.name).as_str())
    );
    assert_eq!(
        endpoints.get("openai"),
        Some(format!("http://support-agent.{}.svc:8080/v1", ns.name).as_str())
    );
    assert_eq!(status.fixture_count, 5);
    assert_eq!(status.observed_generation, mm.metadata.generation);
    assert_eq!(
        condition(&status, "FixturesValid").map(|c| c.status.as_str()),
        Some("True")
    );
    assert_eq!(
        condition(&status, "Ready").map(|c| c.status.as_str()),
        Some("False"),
        "no kubelet, no ready pod"
    );

    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .get(&name)
        .await?;
    let deploy = Api::<Deployment>::namespaced(client.clone(), &ns.name)
        .get(&name)
        .await?;
    let svc = Api::<Service>::namespaced(client.clone(), &ns.name)
        .get(&name)
        .await?;
    for owners in [
        cm.owner_references(),
        deploy.owner_references(),
        svc.owner_references(),
    ] {
        assert_eq!(owners.len(), 1);
        assert_eq!(
            (owners[0].uid.as_str(), owners[0].controller),
            (uid.as_str(), Some(true))
        );
    }
    for labels in [cm.labels(), deploy.labels(), svc.labels()] {
        assert_eq!(
            labels.get("app.kubernetes.io/managed-by").map(String::as_str),
            Some("mockmodel-operator")
        );
        assert_eq!(labels.get("app.kubernetes.io/instance"), Some(&name));
    }
    let managers: Vec<String> = deploy
        .managed_fields()
        .iter()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert_eq!(
        managers,
        ["mockmodel-operator"],
        "one field manager, server-side apply"
    );
    let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
    assert!(
        ports
            .iter()
            .all(|p| p.protocol.as_deref() == Some("TCP") && p.port == 8080)
    );
    let fixtures: serde_json::Value = serde_json::from_str(&cm.data.unwrap_or_default()[FIXTURES_KEY])?;
    assert_eq!(fixtures["fixtures"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        fixtures["fixtures"][0]["streamingProfile"]["tps"], 40.0,
        "defaults.streamingProfile rendered"
    );
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn editing_fixtures_updates_the_configmap_without_rolling_pods() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "edit").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-edit");
    let mut mm = mockmodel_from_file(SAMPLE, &ns.name)?;
    apply_mockmodel(&client, &mm).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let before = eventually("deployment", WAIT, || async {
        Ok(deployments.get_opt("support-agent").await?)
    })
    .await?;

    mm.spec.fixtures[0]["response"]["content"] = json!("Welcome back! What can I do for you?");
    apply_mockmodel(&client, &mm).await?;
    eventually("edited fixtures in the configmap", WAIT, || async {
        let text = config_map_text(&client, &ns.name, "support-agent").await?;
        Ok(text.filter(|t| t.contains("Welcome back!")))
    })
    .await?;
    let after = deployments.get("support-agent").await?;
    assert_eq!(
        before.spec.template, after.spec.template,
        "the pod template does not change: no restart"
    );
    assert_eq!(before.metadata.generation, after.metadata.generation);
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn invalid_fixture_is_reported_and_the_last_good_configmap_stays() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "invalid").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-invalid");
    let mut mm = mockmodel_from_file(SAMPLE, &ns.name)?;
    apply_mockmodel(&client, &mm).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deploy_before = eventually("deployment", WAIT, || async {
        Ok(deployments.get_opt("support-agent").await?)
    })
    .await?;
    let good = config_map_text(&client, &ns.name, "support-agent")
        .await?
        .expect("configmap before deployment");

    mm.spec.fixtures[1]["chunkSize"] = json!(0);
    mm.spec.fixtures[0]["response"]["content"] = json!("this edit must not reach the pods");
    apply_mockmodel(&client, &mm).await?;
    let status = status_where(&client, &ns.name, "support-agent", "FixturesValid=False", |s| {
        condition(s, "FixturesValid").is_some_and(|c| c.status == "False")
    })
    .await?;
    let valid = condition(&status, "FixturesValid")
        .cloned()
        .expect("FixturesValid condition");
    assert_eq!(valid.reason, "InvalidFixtures");
    assert!(
        valid.message.contains("spec.fixtures[1].chunkSize"),
        "{}",
        valid.message
    );
    assert_eq!(status.fixture_count, 5, "still serving the last good set");

    let events: Api<Event> = Api::namespaced(client.clone(), &ns.name);
    let event = eventually("a Warning event", WAIT, || async {
        let list = events.list(&ListParams::default()).await?;
        Ok(list.items.into_iter().find(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.reason.as_deref() == Some("InvalidFixtures")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("support-agent")
        }))
    })
    .await?;
    assert!(event.note.unwrap_or_default().contains("chunkSize"));

    assert_eq!(
        config_map_text(&client, &ns.name, "support-agent").await?,
        Some(good),
        "ConfigMap untouched"
    );
    let deploy_after = deployments.get("support-agent").await?;
    assert_eq!(
        deploy_before.metadata.resource_version, deploy_after.metadata.resource_version,
        "Deployment untouched"
    );
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn missing_fixtures_from_configmap_is_reported_then_picked_up() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "from").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-from");
    let mut mm = mockmodel_from_file(SAMPLE, &ns.name)?;
    mm.spec.fixtures_from =
        serde_json::from_value(json!([{"configMapKeyRef": {"name": "extra", "key": "more.yaml"}}]))?;
    apply_mockmodel(&client, &mm).await?;
    let status = status_where(&client, &ns.name, "support-agent", "source not found", |s| {
        condition(s, "FixturesValid").is_some_and(|c| c.reason == "FixturesSourceNotFound")
    })
    .await?;
    assert!(condition(&status, "FixturesValid").is_some_and(|c| c.message.contains("\"extra\"")));
    assert!(
        config_map_text(&client, &ns.name, "support-agent")
            .await?
            .is_none(),
        "nothing rendered yet"
    );

    let extra: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "extra"},
        "data": {"more.yaml": "fixtures:\n- match: {userMessage: refund}\n  response: {content: Refund issued.}\n"}
    }))?;
    Api::<ConfigMap>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &extra)
        .await?;
    let status = status_where(
        &client,
        &ns.name,
        "support-agent",
        "fixtures from the new ConfigMap",
        |s| s.fixture_count == 6 && condition(s, "FixturesValid").is_some_and(|c| c.status == "True"),
    )
    .await?;
    assert_eq!(status.fixture_count, 6);
    let text = config_map_text(&client, &ns.name, "support-agent")
        .await?
        .unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(
        doc["fixtures"][5]["response"]["content"], "Refund issued.",
        "inline first, then fixturesFrom"
    );
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn a_ready_deployment_makes_the_mockmodel_ready() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "ready").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-ready");
    apply_mockmodel(&client, &mockmodel_from_file(SAMPLE, &ns.name)?).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    eventually("deployment", WAIT, || async {
        Ok(deployments.get_opt("support-agent").await?)
    })
    .await?;
    // no kubelet here: fake what the deployment controller would report
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let fake = json!({"status": {
        "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                        "message": "faked", "lastUpdateTime": now, "lastTransitionTime": now}]
    }});
    deployments
        .patch_status("support-agent", &PatchParams::default(), &Patch::Merge(&fake))
        .await?;
    let status = status_where(&client, &ns.name, "support-agent", "Ready=True", |s| {
        condition(s, "Ready").is_some_and(|c| c.status == "True")
    })
    .await?;
    assert_eq!(status.ready_replicas, 1);
    assert_eq!(
        condition(&status, "Available").map(|c| c.status.as_str()),
        Some("True")
    );
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn a_second_replica_stands_by_while_the_first_holds_the_lease() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "lease").await?;
    let first = OperatorHandle::start(&client, "replica-a", "lease-election");
    eventually("replica-a leads", WAIT, || async {
        Ok(first.is_leader().then_some(()))
    })
    .await?;
    let second = OperatorHandle::start(&client, "replica-b", "lease-election");

    let mut mm = mockmodel_from_file(SAMPLE, &ns.name)?;
    apply_mockmodel(&client, &mm).await?;
    eventually("configmap", WAIT, || async {
        config_map_text(&client, &ns.name, "support-agent").await
    })
    .await?;
    // give the standby several lease-renew periods to (wrongly) act
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(first.reconciles() > 0);
    assert_eq!(second.reconciles(), 0, "the standby replica must not reconcile");
    assert!(!second.is_leader());

    // the leader shuts down gracefully and releases the lease; the standby takes over
    first.stop().await?;
    eventually("replica-b leads", WAIT, || async {
        Ok(second.is_leader().then_some(()))
    })
    .await?;
    mm.spec.fixtures[0]["response"]["content"] = json!("Served by the new leader.");
    apply_mockmodel(&client, &mm).await?;
    eventually("edit applied by replica-b", WAIT, || async {
        Ok(config_map_text(&client, &ns.name, "support-agent")
            .await?
            .filter(|t| t.contains("new leader")))
    })
    .await?;
    assert!(second.reconciles() > 0);
    second.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn a_hand_edited_child_is_put_back() -> anyhow::Result<()> {
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "drift").await?;
    let op = OperatorHandle::start(&client, "solo", "lease-drift");
    apply_mockmodel(&client, &mockmodel_from_file(SAMPLE, &ns.name)?).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    eventually("deployment", WAIT, || async {
        Ok(deployments.get_opt("support-agent").await?)
    })
    .await?;
    // settle: the follow-up reconcile (triggered by the children's creation) has nothing to apply
    tokio::time::sleep(Duration::from_millis(500)).await;

    let scaled = json!({"spec": {"replicas": 5}});
    deployments
        .patch("support-agent", &PatchParams::default(), &Patch::Merge(&scaled))
        .await?;
    eventually("replicas put back to 1", WAIT, || async {
        let d = deployments.get("support-agent").await?;
        Ok((d.spec.replicas == Some(1)).then_some(()))
    })
    .await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    cms.patch(
        "support-agent",
        &PatchParams::default(),
        &Patch::Merge(&json!({"data": {"fixtures.json": "{}"}})),
    )
    .await?;
    eventually("fixtures put back", WAIT, || async {
        Ok(config_map_text(&client, &ns.name, "support-agent")
            .await?
            .filter(|t| t.contains("Acme")))
    })
    .await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs a Kubernetes API server (scripts/k8s-testbed.sh)"]
async fn plain_install_manifests_and_samples_pass_server_side_dry_run() -> anyhow::Result<()> {
    use kube::api::{DynamicObject, GroupVersionKind};
    use kube::discovery::{Discovery, Scope};
    let client = client().await?;
    install_crd(&client).await?;
    let discovery = Discovery::new(client.clone()).run().await?;
    let ns = TempNs::new(&client, "dryrun").await?;
    let mut docs = e2e::yaml_documents("deploy/mockmodel.yaml")?;
    docs.extend(e2e::yaml_documents(
        "deploy/samples/mockmodel-support-agent.yaml",
    )?);
    let mut checked = 0;
    for doc in docs {
        let obj: DynamicObject = serde_json::from_value(doc)?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no apiVersion/kind"))?;
        let gvk = GroupVersionKind::try_from(&types)?;
        let (ar, caps) = discovery
            .resolve_gvk(&gvk)
            .ok_or_else(|| anyhow::anyhow!("unknown kind {gvk:?}"))?;
        let name = obj.name_any();
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            // the install's own namespace is part of the same file: dry-run it into a scratch one
            let target = obj
                .metadata
                .namespace
                .clone()
                .filter(|n| n != "mockmodel-system")
                .unwrap_or(ns.name.clone());
            Api::namespaced_with(client.clone(), &target, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let mut obj = obj;
        obj.metadata.namespace = None;
        api.patch(
            &name,
            &PatchParams::apply("e2e-dry-run").dry_run(),
            &Patch::Apply(&obj),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{} {name}: {e}", types.kind))?;
        checked += 1;
    }
    assert!(
        checked >= 7,
        "namespace, ServiceAccount, RBAC, metrics Service, operator Deployment and the sample"
    );
    Ok(())
}
