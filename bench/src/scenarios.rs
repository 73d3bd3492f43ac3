//! The benchmark scenarios and their printed report. Every mockmodel figure sits beside its
//! baseline from the same run, so the ratio is what to compare across machines.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::Args;
use crate::load::{self, Streams, Throughput};
use crate::procs::{self, CHUNK};
use crate::stats::rss_mib;

fn chat(text: &str, stream: bool) -> Bytes {
    Bytes::from(
        json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": text}]})
            .to_string(),
    )
}

fn print_throughput(name: &str, t: &Throughput, baseline_rps: Option<f64>) {
    let ratio = baseline_rps
        .map(|b| format!("  ({:.2}x baseline)", t.rps / b))
        .unwrap_or_default();
    println!(
        "  {name:<34} {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}{ratio}",
        t.rps,
        t.latency_ms.pct(50.0),
        t.latency_ms.pct(99.0),
        t.errors
    );
}

fn print_streams(name: &str, s: &Streams) {
    println!(
        "  {name:<34} completed {}/{}  max live {}  all connected {:.0} ms  TTFT err p50 {:.1} / p99 {:.1} ms  \
         inter-frame err p50 {:.2} / p99 {:.2} ms ({} gaps)",
        s.completed,
        s.completed + s.failed,
        s.max_live,
        s.all_connected_ms,
        s.ttft_err_ms.pct(50.0),
        s.ttft_err_ms.pct(99.0),
        s.gap_err_ms.pct(50.0),
        s.gap_err_ms.pct(99.0),
        s.gap_err_ms.len()
    );
}

fn print_rss(name: &str, pid: u32) {
    let (peak, now) = rss_mib(pid);
    println!("  {name:<34} peak RSS {peak:.1} MiB, current {now:.1} MiB");
}

/// Runs every scenario in order and prints the report.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let secs = Duration::from_secs(if args.quick { 1 } else { args.seconds });
    let scale = if args.quick { 10 } else { 1 };
    let conns = args.connections;
    let dir = std::env::temp_dir().join(format!("mockmodel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let small = procs::write_fixtures(&dir, 8, 60, 18)?;
    let large = procs::write_fixtures(&dir, 9_997, 60, 18)?;

    println!(
        "mockmodel-bench: {} s runs, {conns} connections, loopback, server and load generator share the machine",
        secs.as_secs()
    );

    println!(
        "\n[1] non-streaming chat, zero delay, {conns} connections (11 fixtures, match is the last one)"
    );
    let base = procs::baseline()?;
    let bare = load::closed_loop(
        base.addr,
        "/v1/chat/completions",
        chat("hello", false),
        conns,
        secs,
    )
    .await;
    print_throughput("bare axum, fixed body", &bare, None);
    let mm = procs::mockmodel(&small, &[])?;
    print_rss("mockmodel idle (after start)", mm.child.id());
    let mm_t = load::closed_loop(mm.addr, "/v1/chat/completions", chat("hello", false), conns, secs).await;
    print_throughput("mockmodel", &mm_t, Some(bare.rps));
    print_rss("mockmodel after load", mm.child.id());
    drop(mm);
    let nj = procs::mockmodel(&small, &["--journal-size", "0"])?;
    let nj_t = load::closed_loop(nj.addr, "/v1/chat/completions", chat("hello", false), conns, secs).await;
    print_throughput("mockmodel, journal off", &nj_t, Some(bare.rps));
    println!(
        "  journal cost: {:.1}% of requests/s",
        (1.0 - mm_t.rps / nj_t.rps) * 100.0
    );
    drop(nj);

    println!("\n[2] 10,000 fixtures (match is the last one)");
    let big = procs::mockmodel(&large, &[])?;
    println!(
        "  start to ready                     {:.0} ms (spawn to listening; fixtures load before bind)",
        big.ready_after.as_secs_f64() * 1000.0
    );
    let big_t = load::closed_loop(
        big.addr,
        "/v1/chat/completions",
        chat("hello", false),
        conns,
        secs,
    )
    .await;
    print_throughput("mockmodel, 10,000 fixtures", &big_t, Some(bare.rps));
    println!("  ratio to the 11-fixture run: {:.2}x", big_t.rps / mm_t.rps);
    print_rss("mockmodel, 10,000 fixtures", big.child.id());
    drop(big);

    for n in [100 / scale, 1000 / scale] {
        println!("\n[3] {n} streams at 60 frames/s, 60 frames, ttft 100 ms (SSE)");
        let profile = (100.0, 60.0, 60);
        let ramp = Duration::from_millis(200);
        let sse = format!("/sse?ttft=100&tps=60&frames={}", profile.2);
        let b = load::streams(base.addr, &sse, Bytes::new(), n, ramp, profile).await;
        print_streams("minimal timed-SSE server", &b);
        let mm = procs::mockmodel(&small, &[])?;
        let s = load::streams(
            mm.addr,
            "/v1/chat/completions",
            chat("stream-60", true),
            n,
            ramp,
            profile,
        )
        .await;
        print_streams("mockmodel", &s);
        println!(
            "  inter-frame p99 error ratio to baseline: {:.2}x",
            s.gap_err_ms.pct(99.0) / b.gap_err_ms.pct(99.0).max(0.001)
        );
        print_rss("mockmodel", mm.child.id());
    }

    let n = args.big_streams / scale;
    println!("\n[4] {n} concurrent streams, ttft 500 ms, 6 frames/s, 18 frames (connect ramp 1.5 s)");
    let mm = procs::mockmodel(&small, &[])?;
    let s = load::streams(
        mm.addr,
        "/v1/chat/completions",
        chat("stream-6", true),
        n,
        Duration::from_millis(1500),
        (500.0, 6.0, 18),
    )
    .await;
    print_streams("mockmodel", &s);
    print_rss("mockmodel", mm.child.id());
    drop(mm);
    let _ = std::fs::remove_dir_all(&dir);
    println!("\n(chunk size {CHUNK} characters per frame in the stream fixtures)");
    Ok(())
}
