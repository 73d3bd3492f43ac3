//! Starting the servers under test as child processes (so their memory is measured alone) and
//! writing the benchmark's fixture files.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child server.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its address.
    pub addr: SocketAddr,
    /// Spawn to answering `/readyz` (mockmodel) or to listening (baselines).
    pub ready_after: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sibling binary of the benchmark (same cargo profile directory).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.with_file_name(name)
}

/// Spawns `cmd`, waits for its "listening on http://ADDR" log line, keeps draining its stderr.
pub fn spawn(mut cmd: Command) -> anyhow::Result<Server> {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    let stderr = child.stderr.take().ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let Some(line) = lines.next() else {
            anyhow::bail!("server exited before listening")
        };
        let line = line?;
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .parse::<SocketAddr>()?;
        }
    };
    let ready_after = started.elapsed();
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server {
        child,
        addr,
        ready_after,
    })
}

/// Starts mockmodel-server on `fixtures` with extra args.
pub fn mockmodel(fixtures: &Path, extra: &[&str]) -> anyhow::Result<Server> {
    let mut cmd = Command::new(sibling("mockmodel-server"));
    cmd.args(["--port", "0", "--fixtures"])
        .arg(fixtures)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    spawn(cmd)
}

/// Starts the baseline servers (this binary's hidden `baseline` mode).
pub fn baseline() -> anyhow::Result<Server> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("baseline");
    spawn(cmd)
}

/// Characters per streamed chunk in the stream fixtures: one frame per 8 characters.
pub const CHUNK: usize = 8;

/// Writes a fixture file: two timed-stream fixtures, `fillers` non-matching fixtures, then "hello"
/// last, so every chat request scans the whole set (the worst case for matching).
pub fn write_fixtures(
    dir: &Path,
    fillers: usize,
    stream_60_frames: usize,
    stream_6_frames: usize,
) -> anyhow::Result<PathBuf> {
    use std::fmt::Write as _;
    let mut y = String::from("fixtures:\n");
    let text = |frames: usize| "abcdefgh".repeat(frames);
    writeln!(
        y,
        "- {{match: {{userMessage: stream-60}}, chunkSize: {CHUNK}, streamingProfile: {{ttft: 100, tps: 60}}, response: {{content: {}}}}}",
        text(stream_60_frames)
    )?;
    writeln!(
        y,
        "- {{match: {{userMessage: stream-6}}, chunkSize: {CHUNK}, streamingProfile: {{ttft: 500, tps: 6}}, response: {{content: {}}}}}",
        text(stream_6_frames)
    )?;
    for i in 0..fillers {
        writeln!(
            y,
            "- {{match: {{userMessage: filler-topic-{i}}}, response: {{content: filler {i}}}}}"
        )?;
    }
    y.push_str(
        "- {match: {userMessage: hello}, response: {content: \"Hello! How can I help you today?\"}}\n",
    );
    let path = dir.join(format!("bench-{fillers}.yaml"));
    std::fs::write(&path, y)?;
    Ok(path)
}
