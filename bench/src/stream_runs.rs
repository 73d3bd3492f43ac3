//! Timed-stream scenarios: N concurrent streams at 60 frames/s on every streaming protocol beside
//! the minimal timed-SSE baseline, then many slow streams held at once.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::load::{self, Streams};
use crate::procs::{self, Server};
use crate::report::Report;
use crate::requests;
use crate::stats::{list, median, print_rss};
use crate::wire::Wire;

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

/// 60 frames at 60 frames/s after a 100 ms TTFT.
const FAST: (f64, f64, usize) = (100.0, 60.0, 60);

/// `n` streams at 60 frames/s on OpenAI SSE, Bedrock ConverseStream and SageMaker PayloadParts
/// from one mockmodel process: per protocol, `rounds` pairs of a baseline run then mockmodel's.
/// The target is the median over the rounds of an absolute p99 error (the 100-stream run) or, with
/// `vs_baseline`, of each round's ratio to the baseline run just before it (the 1,000-stream run).
///
/// Why paired rounds and their median: a run lasts about a second, and one stall of the machine
/// for a few ms in that second (another process, the load generator's own scheduling) delays the
/// next frame of every live stream at once. With 1,000 streams that is over 1% of the 59,000 gaps,
/// so a single stall sets the run's p99. In five rounds of the three protocols (issue 12) the
/// baseline's own p99 read 1.84 to 2.57 ms in eight runs and 2.81 to 9.85 ms in the other seven,
/// and mockmodel's read 1.89 to 2.29 ms in thirteen and 3.95 and 6.72 ms in two; one baseline run
/// per protocol turned such a stall into a 0.22x or a 3.39x verdict at random. A stall lands in
/// one round; a scheduler tail of mockmodel's own repeats in every round and moves the median.
async fn fast_streams(
    base: &Server,
    fixtures: &Path,
    n: usize,
    vs_baseline: bool,
    rounds: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rounds = rounds.max(1);
    println!(
        "\n[4] {n} streams at 60 frames/s, 60 frames, ttft 100 ms, per protocol ({rounds} rounds of a baseline run then mockmodel's)"
    );
    let ramp = Duration::from_millis(200);
    let sse = format!("/sse?ttft=100&tps=60&frames={}", FAST.2);
    let mm = procs::mockmodel(fixtures, &[])?;
    for t in [
        requests::openai_chat("stream-60", true),
        requests::converse_stream("stream-60"),
        requests::sagemaker_stream("stream-60"),
    ] {
        let (mut p99s, mut ratios, mut short) = (Vec::new(), Vec::new(), 0);
        for _ in 0..rounds {
            let b = load::streams(base.addr, Wire::Sse, &sse, Bytes::new(), n, ramp, FAST).await;
            print_streams("minimal timed-SSE server", &b);
            let s = load::streams(mm.addr, t.wire, &t.path, t.body.clone(), n, ramp, FAST).await;
            print_streams(t.name, &s);
            let p99 = s.gap_err_ms.pct(99.0);
            p99s.push(p99);
            ratios.push(p99 / b.gap_err_ms.pct(99.0).max(0.001));
            short += n - s.completed;
        }
        let (p99, ratio) = (median(&p99s), median(&ratios));
        println!(
            "  {:<34} inter-frame p99 error per round: {} ms = {}x the baseline's (medians {p99:.2} ms, {ratio:.2}x)",
            "",
            list(&p99s),
            list(&ratios)
        );
        let complete = format!("{}/{} complete", rounds * n - short, rounds * n);
        if !vs_baseline {
            report.check(
                &format!("{n} streams 60 fps, {}", t.name),
                "p99 gap err < 5 ms",
                format!("{p99:.2} ms (median of {rounds}), {complete}"),
                p99 < 5.0 && short == 0,
            );
        } else {
            report.check(
                &format!("{n} streams 60 fps, {}", t.name),
                "p99 gap err <= 1.5x base",
                format!("{ratio:.2}x (median; rounds {}), {complete}", list(&ratios)),
                ratio <= 1.5 && short == 0,
            );
        }
    }
    print_rss("mockmodel", mm.child.id());
    Ok(())
}

/// Only the 60 frames/s runs ([4], 100 and 1,000 streams), `rounds` paired rounds each: the
/// spread of a target that depends on the machine's timing.
pub async fn fps_only(fixtures: &Path, rounds: usize, report: &mut Report) -> anyhow::Result<()> {
    let base = procs::baseline()?;
    fast_streams(&base, fixtures, 100, false, rounds, report).await?;
    fast_streams(&base, fixtures, 1000, true, rounds, report).await
}

/// `n` concurrent OpenAI streams, ttft 500 ms then 6 frames/s, all connected within 1.5 s: a fresh
/// minimal timed-SSE server first (for its memory and timing under the same load), then mockmodel.
pub async fn many_streams(
    fixtures: &Path,
    n: usize,
    extra: &[&str],
    report: &mut Report,
) -> anyhow::Result<()> {
    println!("\n[5] {n} concurrent streams, ttft 500 ms, 6 frames/s, 18 frames (connect ramp 1.5 s)");
    let profile = (500.0, 6.0, 18);
    let ramp = Duration::from_millis(1500);
    let base = procs::baseline()?;
    let b = load::streams(
        base.addr,
        Wire::Sse,
        "/sse?ttft=500&tps=6&frames=18",
        Bytes::new(),
        n,
        ramp,
        profile,
    )
    .await;
    print_streams("minimal timed-SSE server", &b);
    let (base_peak, _) = print_rss("minimal timed-SSE server", base.child.id());
    drop(base);
    let mm = procs::mockmodel(fixtures, extra)?;
    let (_, idle) = print_rss("mockmodel idle", mm.child.id());
    let t = requests::openai_chat("stream-6", true);
    let s = load::streams(mm.addr, t.wire, &t.path, t.body.clone(), n, ramp, profile).await;
    print_streams("mockmodel", &s);
    let (peak, _) = print_rss("mockmodel", mm.child.id());
    // The streams' memory should go back once they end (issue 12: "RSS returns near idle"); the
    // allocator returns freed pages over its decay time (jemalloc's default: 10 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    print_rss("mockmodel 2 s after the streams", mm.child.id());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (_, after) = print_rss("mockmodel 12 s after the streams", mm.child.id());
    println!(
        "  {:<34} peak RSS {:.2}x, TTFT err p99 {:.2}x the baseline's",
        "",
        peak / base_peak,
        s.ttft_err_ms.pct(99.0) / b.ttft_err_ms.pct(99.0).max(0.001)
    );
    let name = format!("{n} streams");
    report.check(
        &format!("{name}: all complete, all live at once"),
        "complete = live = N",
        format!("{} complete, {} live", s.completed, s.max_live),
        s.completed == n && s.max_live == n,
    );
    report.check(
        &format!("{name}: all connected"),
        "< 2000 ms",
        format!("{:.0} ms", s.all_connected_ms),
        s.all_connected_ms < 2000.0,
    );
    let p99 = s.ttft_err_ms.pct(99.0);
    report.check(
        &format!("{name}: TTFT error p99"),
        "< 50 ms",
        format!("{p99:.1} ms (baseline {:.1} ms)", b.ttft_err_ms.pct(99.0)),
        p99 < 50.0,
    );
    report.check(
        &format!("{name}: RSS 12 s after they end"),
        "<= idle + 10 MiB",
        format!("{after:.1} MiB (idle {idle:.1} MiB)"),
        after <= idle + 10.0,
    );
    // The target is in MB (10^6 bytes); /proc reports KiB, printed here as MiB.
    let peak_mb = peak * 1.048_576;
    report.check(
        &format!("{name}: peak RSS"),
        "<= 160 MB",
        format!("{peak_mb:.1} MB = {peak:.1} MiB (baseline {base_peak:.1} MiB)"),
        peak_mb <= 160.0,
    );
    Ok(())
}

/// Waves of `n` timed streams (ttft 500 ms, 6 frames/s, 18 frames, 1.5 s connect ramp) opened and
/// closed back to back for `duration`; the server's RSS after each wave is the curve. Memory that
/// streams leave behind shows as growth from the first wave to the last.
pub async fn soak(fixtures: &Path, duration: Duration, n: usize, report: &mut Report) -> anyhow::Result<()> {
    println!(
        "\n[soak] {n} timed streams a wave, waves back to back for {} s",
        duration.as_secs()
    );
    let mm = procs::mockmodel(fixtures, &[])?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, idle) = print_rss("mockmodel idle (2 s after start)", mm.child.id());
    let t = requests::openai_chat("stream-6", true);
    let start = tokio::time::Instant::now();
    let (mut curve, mut failed, mut waves) = (Vec::new(), 0, 0usize);
    while start.elapsed() < duration {
        let s = load::streams(
            mm.addr,
            t.wire,
            &t.path,
            t.body.clone(),
            n,
            Duration::from_millis(1500),
            (500.0, 6.0, 18),
        )
        .await;
        failed += s.failed;
        waves += 1;
        let (_, now) = crate::stats::rss_mib(mm.child.id());
        curve.push((start.elapsed().as_secs(), now));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (peak, end) = print_rss("mockmodel after the soak (2 s idle)", mm.child.id());
    let step = (curve.len() / 10).max(1);
    let shown: Vec<String> = curve
        .iter()
        .step_by(step)
        .map(|(s, m)| format!("{s}s {m:.1}"))
        .collect();
    println!(
        "  RSS after each wave (every {step}th, MiB): {}",
        shown.join(", ")
    );
    let first = curve.first().map_or(f64::NAN, |c| c.1);
    let last = curve.last().map_or(f64::NAN, |c| c.1);
    println!(
        "  {waves} waves, {} streams, {failed} failed; RSS idle {idle:.1}, after first wave {first:.1}, \
         after last {last:.1}, peak {peak:.1}, end {end:.1} MiB",
        waves * n
    );
    report.check("soak: streams failed", "0", failed.to_string(), failed == 0);
    report.check(
        "soak: RSS growth, first wave to last",
        "<= 10%",
        format!(
            "{:+.1}% ({first:.1} -> {last:.1} MiB)",
            (last / first - 1.0) * 100.0
        ),
        last <= first * 1.1,
    );
    Ok(())
}

/// Every stream scenario: 100 and 1,000 fast streams (10x fewer with `--quick`) in `rounds` paired
/// rounds, then `big` slow ones.
pub async fn run(
    base: &Server,
    fixtures: &Path,
    scale: usize,
    rounds: usize,
    big: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    fast_streams(base, fixtures, 100 / scale, false, rounds, report).await?;
    fast_streams(base, fixtures, 1000 / scale, true, rounds, report).await?;
    many_streams(fixtures, big, &[], report).await
}
