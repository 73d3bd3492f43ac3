//! mockmodel-bench: load-tests mockmodel-server next to bare baselines and prints throughput,
//! latency percentiles, stream timing error and memory. Loopback only, bounded in time and count.
//!
//! Run with: `make bench` (release build), or `make bench ARGS=--quick` for a short smoke run.

mod baseline;
mod bidi;
mod load;
mod procs;
mod report;
mod requests;
mod scenarios;
mod stats;
mod stream_runs;
mod wire;

use clap::Parser;

/// Benchmark mockmodel-server against a bare axum server and a minimal timed-SSE server.
#[derive(Debug, Parser)]
#[command(name = "mockmodel-bench")]
pub struct Args {
    /// Seconds per throughput run.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Interleaved rounds of the throughput runs and of the 60 frames/s stream runs. Each
    /// throughput line shows a server's best round; the targets judge the median of the per-round
    /// ratios to the baseline (an odd count has a middle round).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Connections for throughput runs.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Concurrent streams of the large stream run (ttft 500 ms, 6 frames/s).
    #[arg(long, default_value_t = 10_000)]
    pub big_streams: usize,
    /// Concurrent Nova Sonic sessions (InvokeModelWithBidirectionalStream) of the bidirectional run.
    #[arg(long, default_value_t = 100)]
    pub bidi_sessions: usize,
    /// Run only the large stream run ([5], `--big-streams` streams) and print idle RSS and RSS
    /// after the streams end (issue 12's memory target), without the other scenarios.
    #[arg(long)]
    pub streams_only: bool,
    /// Extra argument for the mockmodel-server processes of `--streams-only` (repeatable), e.g.
    /// `--server-arg=--token-count --server-arg=estimate`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// Run only the bidirectional-session scenario.
    #[arg(long)]
    pub bidi_only: bool,
    /// Run only the 60 frames/s stream runs ([4], 100 and 1,000 streams), `--rounds` times, to
    /// see the spread of their timing targets on this machine.
    #[arg(long)]
    pub fps_only: bool,
    /// Run only the throughput runs ([1] to [3]: OpenAI chat, 10,000 fixtures, Bedrock Converse),
    /// the CPU-per-request and requests/s targets, without the stream runs.
    #[arg(long)]
    pub throughput_only: bool,
    /// Run only a soak of this many seconds: waves of `--soak-streams` timed streams opening and
    /// closing back to back, with the server's RSS sampled after each wave (issue 12: no growth).
    #[arg(long, value_name = "SECS")]
    pub soak: Option<u64>,
    /// Concurrent streams per soak wave.
    #[arg(long, default_value_t = 1000)]
    pub soak_streams: usize,
    /// Short run: 1 s throughput runs and 10x fewer streams.
    #[arg(long)]
    pub quick: bool,
    /// Internal: run the baseline servers (used by the benchmark itself).
    #[arg(hide = true)]
    pub mode: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.mode.as_deref() == Some("baseline") {
        return baseline::serve().await;
    }
    scenarios::run(args).await
}
