//! Percentiles and the report table.

/// Sorted samples with percentile lookups.
pub struct Samples(Vec<f64>);

impl Samples {
    /// Sorts the samples.
    pub fn new(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        Samples(v)
    }

    /// The p-th percentile (0-100), or NaN with no samples.
    pub fn pct(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[i.min(self.0.len() - 1)]
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The median (the mean of the middle two for an even count); NaN for none. NaN ratios (a CPU
/// time that could not be read) sort last.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Per-round figures for the report: "1.38 1.42 1.35".
pub fn list(v: &[f64]) -> String {
    v.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ")
}

/// Peak and current resident memory of a process, in MiB, from /proc (Linux).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time (all threads) a process has used so far, as user and system (kernel) seconds, from
/// /proc/<pid>/stat (Linux reports it in USER_HZ ticks, 100 a second on every architecture's ABI).
pub fn cpu_split(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| {
        rest.split_whitespace()
            .nth(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (field(11) / 100.0, field(12) / 100.0)
}

/// Context switches so far, summed over the process's live threads (/proc/<pid>/task/*/status,
/// voluntary and not): a server thread that parks and is woken again switches twice, so switches
/// per request show how often the server sleeps and wakes between requests, which costs kernel
/// time (issue 12: the kernel's part of CPU per request).
pub fn context_switches(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return f64::NAN;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

pub fn print_rss(name: &str, pid: u32) -> (f64, f64) {
    let (peak, now) = rss_mib(pid);
    println!("  {name:<34} peak RSS {peak:.1} MiB, current {now:.1} MiB");
    (peak, now)
}
