//! A bounded, in-memory log of recent requests and what answered them (`/__mockmodel/journal`).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// One request as the journal remembers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u128,
    /// `openai`, `bedrock` or `sagemaker`.
    pub protocol: &'static str,
    /// Operation, e.g. `chat.completions`, `Converse`.
    pub operation: &'static str,
    /// Model id or endpoint name (percent-decoded).
    pub model: String,
    /// Whether a stream was requested.
    pub stream: bool,
    /// The last user message's text.
    pub user_message: Option<String>,
    /// `X-Test-Id`, if sent.
    pub test_id: Option<String>,
    /// The fixture that answered (`file#index`), or `None` when nothing matched.
    pub fixture: Option<String>,
    /// `message`, `error <status>`, `embedding` or `no_match`; a bidirectional session also ends
    /// with `session <completed|error|disconnected> (turns: N)`.
    pub outcome: String,
    /// Faults injected into the answer, by their `mockmodel_faults_total` kind (`throttle`,
    /// `refusal`, `toolArgsInvalidJson`, …); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<&'static str>,
}

/// Ring buffer of the most recent entries.
#[derive(Debug)]
pub struct Journal {
    entries: Mutex<VecDeque<Entry>>,
    capacity: usize,
}

impl Journal {
    /// A journal keeping at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Journal {
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
            capacity,
        }
    }

    /// Records an entry, dropping the oldest when full.
    pub fn record(&self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() == self.capacity {
            e.pop_front();
        }
        e.push_back(entry);
    }

    /// The entries, oldest first.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Entry {
        Entry {
            timestamp_ms: 0,
            protocol: "openai",
            operation: "chat.completions",
            model: format!("m{n}"),
            stream: false,
            user_message: None,
            test_id: None,
            fixture: None,
            outcome: "no_match".into(),
            faults: Vec::new(),
        }
    }

    #[test]
    fn the_journal_keeps_only_the_newest_entries() {
        let j = Journal::new(2);
        (0..3).for_each(|n| j.record(entry(n)));
        let models: Vec<String> = j.snapshot().into_iter().map(|e| e.model).collect();
        assert_eq!(models, vec!["m1", "m2"]);
        j.clear();
        assert!(j.snapshot().is_empty());
    }
}
