//! The final summary: each target of issue 7 beside what this run measured, PASS or MISS.

/// One target and its measurement.
struct Check {
    name: String,
    target: String,
    measured: String,
    pass: bool,
}

/// Targets checked during the run, printed at the end.
#[derive(Default)]
pub struct Report(Vec<Check>);

impl Report {
    /// Records a target: `pass` is false for NaN measurements (nothing was measured).
    pub fn check(&mut self, name: &str, target: &str, measured: String, pass: bool) {
        self.0.push(Check {
            name: name.to_string(),
            target: target.to_string(),
            measured,
            pass,
        });
    }

    /// Prints the table and a count of misses.
    pub fn print(&self) {
        let w = self.0.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let t = self.0.iter().map(|c| c.target.len()).max().unwrap_or(0);
        println!("\nSummary: targets vs measured");
        for c in &self.0 {
            let verdict = if c.pass { "PASS" } else { "MISS" };
            println!("  {verdict}  {:<w$}  {:<t$}  {}", c.name, c.target, c.measured);
        }
        let misses = self.0.iter().filter(|c| !c.pass).count();
        println!("  {} of {} targets met", self.0.len() - misses, self.0.len());
    }
}

/// The 1-minute load average of the machine (the benchmark shares it with other work).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
