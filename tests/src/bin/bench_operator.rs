//! Benchmark (`make bench-operator`): the operator binary reconciles N MockModels (default 500) to
//! steady state on the apiserver in KUBECONFIG. Prints total time, p50/p99 apply-to-ConfigMap
//! latency, reconcile counts and the operator's peak RSS. A command that prints figures, not a test.
//!
//! Env: MOCKMODEL_OPERATOR_BIN (default target/release/mockmodel-operator), BENCH_COUNT, BENCH_RATE
//! (MockModels applied per second; default 0 = all at once, 32 in flight).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use e2e::{TempNs, apply_mockmodel, client, eventually, install_crd, mockmodel_from_file, repo_root};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use mockmodel_operator::crd::MockModel;

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of a process (clock ticks assumed 100 Hz, the Linux default).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rate: f64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let bin = std::env::var("MOCKMODEL_OPERATOR_BIN").unwrap_or_else(|_| {
        repo_root()
            .join("target/release/mockmodel-operator")
            .to_string_lossy()
            .into()
    });
    let client = client().await?;
    install_crd(&client).await?;
    let ns = TempNs::new(&client, "bench").await?;
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();

    let mut operator = Command::new(&bin)
        .args([
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--identity",
            "bench",
        ])
        .args(["--lease-name", &format!("bench-{}", ns.name)])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {bin} (cargo build --release -p mockmodel-operator)"))?;
    let pid = operator.id();
    eventually("operator leading", Duration::from_secs(30), || async {
        Ok((metric(&scrape(metrics_port), "mockmodel_operator_leader") == 1.0).then_some(()))
    })
    .await?;

    // record when each rendered ConfigMap first appears
    let seen: Seen = Arc::default();
    let cms: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client.clone(), &ns.name);
    let watch_seen = seen.clone();
    let cm_watch = tokio::spawn(async move {
        let stream = watcher(cms, watcher::Config::default()).applied_objects();
        let _ = stream
            .try_for_each(|cm| {
                if let Some(name) = cm.metadata.name {
                    watch_seen
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(name)
                        .or_insert_with(Instant::now);
                }
                futures::future::ready(Ok(()))
            })
            .await;
    });

    let (mm_store, mm_writer) = reflector::store::<MockModel>();
    let mms: Api<MockModel> = Api::namespaced(client.clone(), &ns.name);
    let mm_watch = tokio::spawn(
        watcher(mms, watcher::Config::default())
            .reflect(mm_writer)
            .for_each(|_| futures::future::ready(())),
    );

    let template = mockmodel_from_file("deploy/samples/mockmodel-support-agent.yaml", &ns.name)?;
    let started = Instant::now();
    let applied: Vec<(String, Instant)> = futures::stream::iter(0..count)
        .map(|i| {
            let (client, mut mm) = (client.clone(), template.clone());
            async move {
                if rate > 0.0 {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let name = format!("bench-{i:04}");
                mm.metadata.name = Some(name.clone());
                apply_mockmodel(&client, &mm).await?;
                anyhow::Ok((name, Instant::now()))
            }
        })
        .buffer_unordered(32)
        .try_collect()
        .await?;
    let applied_all = started.elapsed();

    // steady state: every MockModel's status describes its generation with valid fixtures
    // (read from a watch cache, so the bench does not load the apiserver with big lists)
    let done = |m: &MockModel| {
        m.status.as_ref().is_some_and(|s| {
            s.observed_generation == m.metadata.generation
                && s.conditions
                    .iter()
                    .any(|c| c.type_ == "FixturesValid" && c.status == "True")
        })
    };
    eventually("steady state", Duration::from_secs(300), || async {
        Ok((mm_store.state().iter().filter(|m| done(m)).count() == count).then_some(()))
    })
    .await?;
    let total = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = scrape(metrics_port);
    let rss = peak_rss_kib(pid);
    let cpu = cpu_seconds(pid);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = operator.wait();
    cm_watch.abort();
    mm_watch.abort();

    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies: Vec<Duration> = applied
        .iter()
        .filter_map(|(name, at)| seen.get(name).map(|s| s.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    println!(
        "mockmodel-operator benchmark: {count} MockModels applied {}, namespace {}",
        if rate > 0.0 {
            format!("at {rate}/s")
        } else {
            "all at once".to_string()
        },
        ns.name
    );
    println!("  applied all            {:>8.2} s", applied_all.as_secs_f64());
    println!(
        "  steady state (total)   {:>8.2} s   (target < 60 s)",
        total.as_secs_f64()
    );
    println!("  ConfigMaps observed    {:>8}", latencies.len());
    println!(
        "  apply->ConfigMap p50   {:>8.1} ms  (target < 1000 ms)",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3
    );
    println!(
        "  apply->ConfigMap p99   {:>8.1} ms",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "  reconciles             {:>8}",
        metric(&metrics, "mockmodel_operator_reconcile_total")
    );
    println!(
        "  ...of which no-op      {:>8}",
        metric(&metrics, "mockmodel_operator_applies_skipped_total")
    );
    println!(
        "  reconcile failures     {:>8}",
        metric(&metrics, "mockmodel_operator_reconcile_failures_total")
    );
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("mockmodel_operator_reconcile_failures_total{"))
    {
        println!("    {line}");
    }
    if let Some(cpu) = cpu {
        println!("  operator CPU time      {cpu:>8.2} s");
    }
    match rss {
        Some(kib) => println!(
            "  operator peak RSS      {:>8.1} MiB (target < 64 MiB)",
            kib as f64 / 1024.0
        ),
        None => println!("  operator peak RSS      unavailable (/proc)"),
    }
    Ok(())
}
