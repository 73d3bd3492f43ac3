//! A bounded, in-memory log of recent requests and what answered them (`/__mockmodel/journal`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use thread_local::ThreadLocal;

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

/// The most recent entries, each with a number so a later step (a forwarded answer being
/// recorded) can complete its entry.
///
/// Each thread records into a ring of its own (`thread_local`), and a read merges them by number:
/// one lock and one ring written by every worker moved a cache line between cores on every
/// request (issue 12's hot path). Each ring keeps at most `capacity` entries and a read shows the
/// newest `capacity` of them all, so what is kept is bounded by the threads that record (the
/// runtime's workers) times `capacity`.
pub struct Journal {
    rings: ThreadLocal<Mutex<VecDeque<(u64, Entry)>>>,
    next: AtomicU64,
    capacity: usize,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("capacity", &self.capacity)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal keeping at most `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        Journal {
            rings: ThreadLocal::new(),
            next: AtomicU64::new(0),
            capacity,
        }
    }

    /// Records an entry, dropping this thread's oldest when its ring is full; returns its number
    /// for [`Journal::annotate`].
    pub fn record(&self, entry: Entry) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if self.capacity == 0 {
            return id;
        }
        let ring = self
            .rings
            .get_or(|| Mutex::new(VecDeque::with_capacity(self.capacity.min(1024))));
        let mut ring = lock(ring);
        if ring.len() >= self.capacity {
            ring.pop_front();
        }
        // A thread's numbers rise along its ring: it takes each number just before it pushes.
        ring.push_back((id, entry));
        id
    }

    /// Changes entry `id`, if it is still kept (not dropped or cleared since).
    pub fn annotate(&self, id: u64, f: impl FnOnce(&mut Entry)) {
        for ring in self.rings.iter() {
            let mut ring = lock(ring);
            if let Ok(at) = ring.binary_search_by_key(&id, |(n, _)| *n) {
                if let Some((_, entry)) = ring.get_mut(at) {
                    f(entry);
                }
                return;
            }
        }
    }

    /// The newest `capacity` entries, oldest first.
    pub fn snapshot(&self) -> Vec<Entry> {
        let mut all = Vec::new();
        for ring in self.rings.iter() {
            all.extend(lock(ring).iter().cloned());
        }
        all.sort_unstable_by_key(|(n, _)| *n);
        let skip = all.len().saturating_sub(self.capacity);
        all.into_iter().skip(skip).map(|(_, e)| e).collect()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        for ring in self.rings.iter() {
            lock(ring).clear();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    fn entries_from_several_threads_read_back_in_the_order_they_were_recorded() {
        let j = Journal::new(5);
        std::thread::scope(|s| {
            for t in 0..3 {
                let j = &j;
                s.spawn(move || {
                    for n in 0..4 {
                        j.record(entry(t * 10 + n));
                    }
                });
            }
        });
        j.record(entry(99));
        let got = j.snapshot();
        assert_eq!(got.len(), 5, "only the newest `capacity` are shown");
        assert_eq!(got.last().map(|e| e.model.as_str()), Some("m99"));
        let mut per_thread = [0usize; 3];
        for e in &got[..4] {
            let n: usize = e.model[1..].parse().unwrap();
            assert!(
                n % 10 >= per_thread[n / 10],
                "each thread's entries keep their order"
            );
            per_thread[n / 10] = n % 10;
        }
        let ids: Vec<u64> = (0..2).map(|n| j.record(entry(100 + n))).collect();
        j.annotate(ids[0], |e| e.outcome = "annotated".into());
        assert!(
            j.snapshot()
                .iter()
                .any(|e| e.model == "m100" && e.outcome == "annotated")
        );
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
