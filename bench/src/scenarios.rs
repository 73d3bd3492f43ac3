//! The benchmark scenarios and their printed report. Every mockmodel figure sits beside its
//! baseline from the same run, so the ratio is what to compare across machines. Throughput runs
//! are here; timed-stream runs are in `stream_runs.rs`.

use std::time::Duration;

use crate::Args;
use crate::load::{self, Throughput};
use crate::procs::{self, CHUNK};
use crate::report::{Report, load_average};
use crate::requests::{self, Target};
use crate::stats::{context_switches, cpu_split, list, median, print_rss};
use crate::stream_runs;

pub(crate) fn print_throughput(name: &str, t: &Throughput, baseline: Option<&Throughput>) {
    let ratio = baseline
        .map(|b| {
            format!(
                "  ({:.2}x baseline req/s, {:.2}x its CPU/request)",
                t.rps / b.rps,
                t.cpu_us_per_req / b.cpu_us_per_req
            )
        })
        .unwrap_or_default();
    println!(
        "  {name:<34} {:>9.0} req/s  CPU {:>5.1} µs/req (kernel {:>4.1}, {:.2} switches)  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}{ratio}",
        t.rps,
        t.cpu_us_per_req,
        t.kernel_us_per_req,
        t.switches_per_req,
        t.latency_ms.pct(50.0),
        t.latency_ms.pct(99.0),
        t.errors
    );
}

/// Closed-loop load of one target on each server in turn, `rounds` times. Each server's printed
/// figures are its best round, by the same rule for every server: the run with the most
/// requests/s (its latencies and errors), and the lowest CPU per request of any round. Every
/// round's figures are kept too (`Throughput::rounds`) for [`Paired`], which the targets use.
async fn best_of(
    rounds: usize,
    servers: &[&procs::Server],
    t: &Target,
    conns: usize,
    secs: Duration,
) -> Vec<Throughput> {
    let mut best: Vec<Option<Throughput>> = servers.iter().map(|_| None).collect();
    let mut all: Vec<Vec<(f64, f64)>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for ((slot, s), all) in best.iter_mut().zip(servers).zip(&mut all) {
            // Server CPU per request survives a noisy machine better than requests/s: the load
            // generator's share of the cores does not enter it.
            let (user0, system0) = cpu_split(s.child.id());
            let switches0 = context_switches(s.child.id());
            let mut run = load::closed_loop(s.addr, &t.path, t.body.clone(), conns, secs).await;
            let (user, system) = cpu_split(s.child.id());
            let switches = context_switches(s.child.id());
            let n = run.latency_ms.len().max(1) as f64;
            let per_req = |secs: f64| secs * 1e6 / n;
            run.cpu_us_per_req = per_req(user - user0 + system - system0);
            run.kernel_us_per_req = per_req(system - system0);
            run.switches_per_req = (switches - switches0) / n;
            all.push((run.rps, run.cpu_us_per_req));
            // The lowest CPU round's figures (total and kernel share), whichever round is fastest.
            // A round whose CPU could not be read (NaN) never replaces one that could.
            let least = slot
                .as_ref()
                .filter(|b| b.cpu_us_per_req < run.cpu_us_per_req || run.cpu_us_per_req.is_nan())
                .map(|b| (b.cpu_us_per_req, b.kernel_us_per_req, b.switches_per_req));
            match slot {
                Some(b) if run.rps <= b.rps => {
                    if least.is_none() {
                        (b.cpu_us_per_req, b.kernel_us_per_req, b.switches_per_req) =
                            (run.cpu_us_per_req, run.kernel_us_per_req, run.switches_per_req);
                    }
                }
                _ => {
                    if let Some(cpu) = least {
                        (run.cpu_us_per_req, run.kernel_us_per_req, run.switches_per_req) = cpu;
                    }
                    *slot = Some(run);
                }
            }
        }
    }
    best.into_iter()
        .zip(all)
        .filter_map(|(b, rounds)| b.map(|b| Throughput { rounds, ..b }))
        .collect()
}

/// A server against its baseline, round by round: the ratio of each round's figure to the
/// baseline's in the same round (they ran back to back, under the same load from the rest of the
/// machine), and the median of those ratios, which is what the targets judge.
///
/// Why not the ratio of the best rounds: each side's best is its least disturbed round, and the
/// two need not be the same moment. On a shared 2-core machine the bare server's CPU per request
/// moved from 7.3 to 9.3 µs between runs minutes apart while mockmodel's moved 10.8 to 11.6 µs
/// (issue 12), so a best-of ratio is decided by the baseline's luckiest round.
struct Paired {
    /// Per-round CPU/request ratios, in run order.
    cpu: Vec<f64>,
    /// Per-round requests/s ratios, in run order.
    rps: Vec<f64>,
}

impl Paired {
    fn new(t: &Throughput, base: &Throughput) -> Self {
        let pairs = t.rounds.iter().zip(&base.rounds);
        Paired {
            cpu: pairs.clone().map(|(a, b)| a.1 / b.1).collect(),
            rps: pairs.map(|(a, b)| a.0 / b.0).collect(),
        }
    }

    fn cpu(&self) -> f64 {
        median(&self.cpu)
    }

    fn rps(&self) -> f64 {
        median(&self.rps)
    }

    fn print(&self, name: &str) {
        println!(
            "  {name:<34} per round: CPU/request {} (median {:.2}x), req/s {} (median {:.2}x)",
            list(&self.cpu),
            self.cpu(),
            list(&self.rps),
            self.rps()
        );
    }
}

fn four(v: Vec<Throughput>) -> anyhow::Result<[Throughput; 4]> {
    v.try_into().map_err(|_| anyhow::anyhow!("expected four runs"))
}

fn two(v: Vec<Throughput>) -> anyhow::Result<[Throughput; 2]> {
    v.try_into().map_err(|_| anyhow::anyhow!("expected two runs"))
}

/// Runs every scenario in order, prints the report and the summary table.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let secs = Duration::from_secs(if args.quick { 1 } else { args.seconds });
    let scale = if args.quick { 10 } else { 1 };
    let rounds = if args.quick { 1 } else { args.rounds };
    let conns = args.connections;
    let dir = std::env::temp_dir().join(format!("mockmodel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if args.bidi_only {
        let mut report = Report::default();
        crate::bidi::run(&dir, args.bidi_sessions, &mut report).await?;
        let _ = std::fs::remove_dir_all(&dir);
        report.print();
        return Ok(());
    }
    let small = procs::write_fixtures(&dir, 8, 60, 18)?;
    if let Some(soak) = args.soak {
        let mut report = Report::default();
        stream_runs::soak(&small, Duration::from_secs(soak), args.soak_streams, &mut report).await?;
        let _ = std::fs::remove_dir_all(&dir);
        report.print();
        return Ok(());
    }
    if args.fps_only {
        let mut report = Report::default();
        stream_runs::fps_only(&small, rounds, &mut report).await?;
        let _ = std::fs::remove_dir_all(&dir);
        report.print();
        return Ok(());
    }
    if args.streams_only {
        let mut report = Report::default();
        let extra: Vec<&str> = args.server_arg.iter().map(String::as_str).collect();
        stream_runs::many_streams(&small, args.big_streams, &extra, &mut report).await?;
        let _ = std::fs::remove_dir_all(&dir);
        report.print();
        return Ok(());
    }
    let large = procs::write_fixtures(&dir, 9_997, 60, 18)?;
    let mut report = Report::default();

    println!(
        "mockmodel-bench: {} s throughput runs ({rounds} interleaved rounds: each line shows a server's best round, req/s and CPU/request each from its best; \
         the targets judge the median of per-round ratios), {conns} connections, loopback; \
         server and load generator share the machine ({} CPUs, load average {} at start)",
        secs.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );

    println!(
        "\n[1] non-streaming OpenAI chat, zero delay, {conns} connections (11 fixtures, match is the last one)"
    );
    let base = procs::baseline()?;
    let chat = requests::openai_chat("hello", false);
    let mm = procs::mockmodel(&small, &[])?;
    print_rss("mockmodel idle (o200k tables built)", mm.child.id());
    // The tokenizer tables are most of an idle server; the target is for what serving costs.
    let est = procs::mockmodel(&small, &["--token-count", "estimate"])?;
    let (_, idle) = print_rss("mockmodel idle, --token-count estimate", est.child.id());
    drop(est);
    let nj = procs::mockmodel(&small, &["--journal-size", "0"])?;
    let off = procs::mockmodel(&small, &["--journal-size", "0", "--no-metrics"])?;
    // Three spawns that load the same fixtures and build the same tables: the target judges their
    // median, as one spawn is one sample of a machine whose stalls reach tens of milliseconds
    // (one spawn read 78 to 210 ms across runs of one day, issue 12).
    let ready: Vec<f64> = [&mm, &nj, &off]
        .iter()
        .map(|s| s.ready_after.as_secs_f64() * 1000.0)
        .collect();
    let ready_ms = median(&ready);
    println!(
        "  start to ready                     {} ms, median {ready_ms:.0} ms (three spawns; spawn to listening, fixtures load before bind)",
        list(&ready)
    );
    let [bare, mm_t, nj_t, off_t] =
        four(best_of(rounds, &[&base, &mm, &nj, &off], &chat, conns, secs).await)?;
    print_throughput("bare axum, fixed body", &bare, None);
    print_throughput("mockmodel", &mm_t, Some(&bare));
    print_rss("mockmodel after load", mm.child.id());
    print_throughput("mockmodel, journal off", &nj_t, Some(&bare));
    print_throughput("mockmodel, journal and metrics off", &off_t, Some(&bare));
    let paired = Paired::new(&mm_t, &bare);
    paired.print("mockmodel vs bare");
    // Both measures are printed: on a loaded two-core machine either one moves by a few percent
    // between runs, which is the size of what it measures (issue 12's notes).
    let (journal, both) = (Paired::new(&mm_t, &nj_t), Paired::new(&mm_t, &off_t));
    let overhead = (1.0 - both.rps()) * 100.0;
    println!(
        "  journal cost: {:.1}% of requests/s, {:.1}% CPU/request; metrics + journal cost: {overhead:.1}% of requests/s (rounds {}), {:.1}% CPU/request (medians of per-round ratios)",
        (1.0 - journal.rps()) * 100.0,
        (journal.cpu() - 1.0) * 100.0,
        list(&both.rps),
        (both.cpu() - 1.0) * 100.0,
    );
    drop((nj, off));
    let r = paired.rps();
    report.check(
        "OpenAI chat req/s vs bare",
        ">= 0.7x",
        format!("{r:.2}x"),
        r >= 0.7,
    );
    let c = paired.cpu();
    report.check(
        "OpenAI chat CPU/request vs bare",
        "<= 1.4x",
        format!(
            "{c:.2}x (rounds {}; best {:.1} vs {:.1} µs)",
            list(&paired.cpu),
            mm_t.cpu_us_per_req,
            bare.cpu_us_per_req
        ),
        c <= 1.4,
    );
    report.check(
        "start to ready",
        "< 200 ms",
        format!("{ready_ms:.0} ms (median of {})", list(&ready)),
        ready_ms < 200.0,
    );
    report.check(
        "idle RSS (--token-count estimate)",
        "< 20 MB",
        format!("{idle:.1} MiB"),
        idle < 20.0,
    );
    report.check(
        "metrics + journal cost",
        "< 5% of req/s",
        format!("{overhead:.1}%"),
        overhead < 5.0,
    );

    println!("\n[2] 10,000 fixtures (match is the last one)");
    let big = procs::mockmodel(&large, &[])?;
    println!(
        "  start to ready                     {:.0} ms with 10,000 fixtures",
        big.ready_after.as_secs_f64() * 1000.0
    );
    let [mm_t, big_t] = two(best_of(rounds, &[&mm, &big], &chat, conns, secs).await)?;
    print_throughput("mockmodel, 11 fixtures", &mm_t, Some(&bare));
    print_throughput("mockmodel, 10,000 fixtures", &big_t, Some(&bare));
    let r = Paired::new(&big_t, &mm_t).rps();
    println!("  ratio to the 11-fixture run: {r:.2}x (median of per-round ratios)");
    print_rss("mockmodel, 10,000 fixtures", big.child.id());
    drop((big, mm));
    report.check(
        "10,000 fixtures req/s vs 11",
        ">= 0.8x",
        format!("{r:.2}x"),
        r >= 0.8,
    );

    println!("\n[3] non-streaming Bedrock Converse, zero delay, {conns} connections");
    let conv = requests::converse("hello");
    let mm = procs::mockmodel(&small, &[])?;
    let [bare_c, mm_c] = two(best_of(rounds, &[&base, &mm], &conv, conns, secs).await)?;
    print_throughput("bare axum, fixed Converse body", &bare_c, None);
    print_throughput("mockmodel Converse", &mm_c, Some(&bare_c));
    let paired = Paired::new(&mm_c, &bare_c);
    paired.print("mockmodel Converse vs bare");
    print_rss("mockmodel after load", mm.child.id());
    drop(mm);
    let c = paired.cpu();
    report.check(
        "Bedrock Converse CPU/request vs bare",
        "<= 1.4x",
        format!(
            "{c:.2}x (rounds {}; best {:.1} vs {:.1} µs)",
            list(&paired.cpu),
            mm_c.cpu_us_per_req,
            bare_c.cpu_us_per_req
        ),
        c <= 1.4,
    );
    let r = paired.rps();
    report.check(
        "Bedrock Converse req/s vs bare",
        ">= 0.5x",
        format!("{r:.2}x"),
        r >= 0.5,
    );

    if args.throughput_only {
        let _ = std::fs::remove_dir_all(&dir);
        report.print();
        return Ok(());
    }
    stream_runs::run(
        &base,
        &small,
        scale,
        rounds,
        args.big_streams / scale,
        &mut report,
    )
    .await?;
    keep_alive_streams(&small, 200 / scale, &mut report).await?;
    crate::bidi::run(&dir, args.bidi_sessions, &mut report).await?;

    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\n(chunk size {CHUNK} characters per frame in the stream fixtures; load average {} at end)",
        load_average()
    );
    report.print();
    Ok(())
}

/// Zero-delay streams one after another over one pooled keep-alive connection, as every SDK sends
/// them, against a fresh connection each: with Nagle on, every stream after the first on a pooled
/// connection waited ~40 ms for the client's delayed ACK (issue 12).
async fn keep_alive_streams(fixtures: &std::path::Path, n: usize, report: &mut Report) -> anyhow::Result<()> {
    println!(
        "\n[6] {n} zero-delay streams in sequence: one reused keep-alive connection vs a fresh one each"
    );
    let mm = procs::mockmodel(fixtures, &[])?;
    for t in [
        requests::openai_chat("hello", true),
        requests::responses_stream("hello"),
        requests::anthropic_stream("hello"),
        requests::converse_stream("hello"),
        requests::sagemaker_stream("hello"),
    ] {
        let fresh = load::sequential(mm.addr, &t.path, t.body.clone(), n, false).await;
        let reused = load::sequential(mm.addr, &t.path, t.body.clone(), n, true).await;
        let (f50, r50) = (fresh.pct(50.0), reused.pct(50.0));
        println!(
            "  {:<34} reused p50 {r50:>6.2} / p99 {:>6.2} ms   fresh p50 {f50:>6.2} / p99 {:>6.2} ms   ({}/{} answered)",
            t.name,
            reused.pct(99.0),
            fresh.pct(99.0),
            reused.len(),
            fresh.len()
        );
        // A stall is tens of ms; 1 ms of slack keeps sub-ms noise from deciding the verdict.
        report.check(
            &format!("{} keep-alive p50", t.name),
            "<= fresh p50 + 1 ms",
            format!("{r50:.2} vs {f50:.2} ms"),
            reused.len() == n && r50 <= f50 + 1.0,
        );
    }
    Ok(())
}
