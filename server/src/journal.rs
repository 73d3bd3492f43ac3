//! A bounded, in-memory log of recent requests and what answered them (`/__mockmodel/journal`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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
    pub fixture: Option<Arc<str>>,
    /// `message`, `error <status>`, `embedding` or `no_match`; `forwarded <status>` when no fixture
    /// matched and an upstream answered (`--proxy-unmatched`, `--record`); a bidirectional session
    /// also ends with `session <completed|error|disconnected> (turns: N)`.
    pub outcome: Cow<'static, str>,
    /// The upstream an unmatched request was forwarded to; omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The fixture file its answer was recorded into (`--record`), once written; omitted when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// Faults injected into the answer, by their `mockmodel_faults_total` kind (`throttle`,
    /// `refusal`, `toolArgsInvalidJson`, …); omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<&'static str>,
}

/// Ring buffer of the most recent entries, each with a number so a later step (a forwarded
/// answer being recorded) can complete its entry.
#[derive(Debug)]
pub struct Journal {
    entries: Mutex<Entries>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Entries {
    list: VecDeque<(u64, Entry)>,
    next: u64,
}

impl Journal {
    /// A journal keeping at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Journal {
            entries: Mutex::new(Entries {
                list: VecDeque::with_capacity(capacity.min(1024)),
                next: 0,
            }),
            capacity,
        }
    }

    /// Records an entry, dropping the oldest when full; returns its number for [`Journal::annotate`].
    pub fn record(&self, entry: Entry) -> u64 {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let id = e.next;
        e.next += 1;
        if self.capacity == 0 {
            return id;
        }
        if e.list.len() == self.capacity {
            e.list.pop_front();
        }
        e.list.push_back((id, entry));
        id
    }

    /// Changes entry `id`, if it is still kept (not dropped or cleared since).
    pub fn annotate(&self, id: u64, f: impl FnOnce(&mut Entry)) {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Numbers rise along the list: the entry sits `id - first` places in.
        let first = e.list.front().map_or(0, |(n, _)| *n);
        let at = usize::try_from(id.wrapping_sub(first)).unwrap_or(usize::MAX);
        if let Some((n, entry)) = e.list.get_mut(at)
            && *n == id
        {
            f(entry);
        }
    }

    /// The entries, oldest first.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .list
            .iter()
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .list
            .clear();
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
            upstream: None,
            recorded: None,
            faults: Vec::new(),
        }
    }

    #[test]
    fn the_journal_keeps_only_the_newest_entries() {
        let j = Journal::new(2);
        (0..3).for_each(|n| {
            j.record(entry(n));
        });
        let models: Vec<String> = j.snapshot().into_iter().map(|e| e.model).collect();
        assert_eq!(models, vec!["m1", "m2"]);
        j.clear();
        assert!(j.snapshot().is_empty());
    }

    #[test]
    fn an_entry_is_completed_by_its_number_while_it_is_kept() {
        let j = Journal::new(2);
        let ids: Vec<u64> = (0..3).map(|n| j.record(entry(n))).collect();
        j.annotate(ids[0], |e| e.outcome = "dropped".into());
        j.annotate(ids[2], |e| e.recorded = Some("x.json".into()));
        let got = j.snapshot();
        assert!(got.iter().all(|e| e.outcome == "no_match"));
        assert_eq!(got[1].recorded.as_deref(), Some("x.json"));
        j.clear();
        j.annotate(ids[2], |e| e.outcome = "gone".into());
        assert!(j.snapshot().is_empty());
    }
}
