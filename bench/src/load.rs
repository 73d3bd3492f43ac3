//! The load generator: closed-loop request workers and timed-stream readers, each on its own
//! HTTP/1.1 keep-alive connection to a loopback server. Bounded by count and time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::stats::Samples;
use crate::wire::{Counter, Wire};

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn post(path: &str, body: &Bytes) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .expect("valid request")
}

/// Throughput run results.
pub struct Throughput {
    /// Completed requests per second.
    pub rps: f64,
    /// Latency samples in ms.
    pub latency_ms: Samples,
    /// Requests that failed or got a non-200.
    pub errors: usize,
    /// Server CPU time per completed request, µs (NaN until the caller measures it).
    pub cpu_us_per_req: f64,
    /// The kernel's (system time's) part of `cpu_us_per_req`, µs.
    pub kernel_us_per_req: f64,
    /// Server context switches per completed request (NaN until the caller measures it).
    pub switches_per_req: f64,
    /// Every round's requests/s and CPU µs per request, in run order (filled by the caller).
    pub rounds: Vec<(f64, f64)>,
}

/// `connections` workers send `path`/`body` back to back for `duration`.
pub async fn closed_loop(
    addr: SocketAddr,
    path: &str,
    body: Bytes,
    connections: usize,
    duration: Duration,
) -> Throughput {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (path, body) = (path.to_string(), body.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let Ok(mut sender) = connect(addr).await else {
                    return (lat, 1);
                };
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = match sender.send_request(post(&path, &body)).await {
                        Ok(res) => res.status() == 200 && res.into_body().collect().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                        match connect(addr).await {
                            Ok(s) => sender = s,
                            Err(_) => break,
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for w in workers {
        if let Ok((lat, e)) = w.await {
            all.extend(lat);
            errors += e;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    Throughput {
        rps: all.len() as f64 / secs,
        latency_ms: Samples::new(all),
        errors,
        cpu_us_per_req: f64::NAN,
        kernel_us_per_req: f64::NAN,
        switches_per_req: f64::NAN,
        rounds: Vec::new(),
    }
}

/// `n` zero-delay streamed answers read to their end one after another, on one reused keep-alive
/// connection (`reuse`) or on a fresh connection each: what an SDK's connection pool does versus a
/// client without one. Per answer, from sending the request to the body's end, ms.
pub async fn sequential(addr: SocketAddr, path: &str, body: Bytes, n: usize, reuse: bool) -> Samples {
    let mut times = Vec::with_capacity(n);
    let mut pooled = None;
    for _ in 0..n {
        let t = Instant::now();
        let sender = match pooled.take() {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => s,
                Err(_) => continue,
            },
        };
        let mut sender: Sender = sender;
        // A pooled connection takes the next request only once the last answer is fully read.
        if sender.ready().await.is_err() {
            continue;
        }
        let ok = match sender.send_request(post(path, &body)).await {
            Ok(res) => res.status() == 200 && res.into_body().collect().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if reuse {
                pooled = Some(sender);
            }
        }
    }
    Samples::new(times)
}

/// What a set of concurrent timed streams measured.
pub struct Streams {
    /// Streams that received every expected content frame and ended cleanly.
    pub completed: usize,
    /// Streams that failed to connect, errored or were short.
    pub failed: usize,
    /// Most streams with response headers received and not yet finished, at once.
    pub max_live: usize,
    /// Time from the first connect to the last stream's response headers, ms.
    pub all_connected_ms: f64,
    /// First content frame arrival minus the scheduled TTFT, ms.
    pub ttft_err_ms: Samples,
    /// |actual gap - scheduled gap| between consecutive content frames, ms.
    pub gap_err_ms: Samples,
}

/// Opens `n` streams (starts spread over `ramp`) and checks each content frame of `wire` against
/// the schedule.
pub async fn streams(
    addr: SocketAddr,
    wire: Wire,
    path: &str,
    body: Bytes,
    n: usize,
    ramp: Duration,
    (ttft_ms, tps, frames): (f64, f64, usize),
) -> Streams {
    let live = Arc::new(AtomicUsize::new(0));
    let max_live = Arc::new(AtomicUsize::new(0));
    let begin = Instant::now();
    let gap_ms = 1000.0 / tps;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (path, body, live, max_live) =
                (path.to_string(), body.clone(), live.clone(), max_live.clone());
            tokio::spawn(async move {
                tokio::time::sleep(ramp.mul_f64(i as f64 / n.max(1) as f64)).await;
                let mut sender = connect(addr).await.ok()?;
                let t0 = Instant::now();
                let res = sender.send_request(post(&path, &body)).await.ok()?;
                let connected_at = begin.elapsed();
                let now_live = live.fetch_add(1, Ordering::SeqCst) + 1;
                max_live.fetch_max(now_live, Ordering::SeqCst);
                let mut body = res.into_body();
                let mut arrivals = Vec::with_capacity(frames);
                let mut counter = Counter::new(wire);
                let mut ok = true;
                while let Some(frame) = body.frame().await {
                    match frame {
                        Ok(f) => {
                            if let Some(data) = f.data_ref() {
                                let at = t0.elapsed().as_secs_f64() * 1000.0;
                                arrivals.extend(std::iter::repeat_n(at, counter.feed(data)));
                            }
                        }
                        Err(_) => {
                            ok = false;
                            break;
                        }
                    }
                }
                live.fetch_sub(1, Ordering::SeqCst);
                let ok = ok && !counter.broken && arrivals.len() == frames;
                Some((ok, arrivals, connected_at))
            })
        })
        .collect();
    let (mut completed, mut failed, mut ttft, mut gaps, mut last_connect) =
        (0, 0, Vec::new(), Vec::new(), Duration::ZERO);
    for t in tasks {
        match t.await.ok().flatten() {
            Some((ok, arrivals, connected_at)) => {
                if ok {
                    completed += 1
                } else {
                    failed += 1
                }
                last_connect = last_connect.max(connected_at);
                if let Some(first) = arrivals.first() {
                    ttft.push(first - ttft_ms);
                }
                gaps.extend(arrivals.windows(2).map(|w| ((w[1] - w[0]) - gap_ms).abs()));
            }
            None => failed += 1,
        }
    }
    Streams {
        completed,
        failed,
        max_live: max_live.load(Ordering::SeqCst),
        all_connected_ms: last_connect.as_secs_f64() * 1000.0,
        ttft_err_ms: Samples::new(ttft),
        gap_err_ms: Samples::new(gaps),
    }
}
