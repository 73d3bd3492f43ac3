//! Answered turns kept for APIs whose next request names an earlier answer instead of replaying it
//! (the Responses API's `previous_response_id`, `GET /v1/responses/{id}`).
//!
//! Neutral: an entry is the conversation's messages up to and including the answer, plus the body
//! as it was sent (opaque JSON to this module). Bounded: the oldest entry is evicted first, so a
//! long-running mock never grows without limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use crate::conversation::Message;

/// Entries kept when the server does not say otherwise.
pub const DEFAULT_CAPACITY: usize = 1000;

/// One answered turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// The conversation's messages, the answer's own last (system prompts are not carried over).
    pub messages: Vec<Message>,
    /// The answer's body as sent, for lookups by id.
    pub body: Value,
}

/// A bounded id → answered-turn store.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Arc<Stored>>,
    /// Insertion order, oldest first (ids of deleted entries are skipped on eviction).
    order: VecDeque<String>,
}

impl Default for History {
    fn default() -> Self {
        History::new(DEFAULT_CAPACITY)
    }
}

impl History {
    /// An empty store keeping at most `capacity` entries (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        History {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-written: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `stored` under `id`, evicting the oldest entries beyond the capacity.
    pub fn insert(&self, id: impl Into<String>, stored: Stored) {
        if self.capacity == 0 {
            return;
        }
        let id = id.into();
        let mut inner = self.lock();
        if inner.entries.insert(id.clone(), Arc::new(stored)).is_none() {
            inner.order.push_back(id);
        }
        while inner.entries.len() > self.capacity {
            let Some(old) = inner.order.pop_front() else { break };
            inner.entries.remove(&old);
        }
    }

    /// The entry under `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Stored>> {
        self.lock().entries.get(id).cloned()
    }

    /// Forgets `id`; whether it was there.
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let found = inner.entries.remove(id).is_some();
        if found {
            inner.order.retain(|o| o != id);
        }
        found
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.order.clear();
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Role;

    fn stored(text: &str) -> Stored {
        Stored {
            messages: vec![Message::text(Role::Assistant, text)],
            body: Value::Null,
        }
    }

    #[test]
    fn the_oldest_entry_is_evicted_beyond_the_capacity() {
        let h = History::new(2);
        h.insert("a", stored("1"));
        h.insert("b", stored("2"));
        h.insert("c", stored("3"));
        assert!(h.get("a").is_none());
        assert_eq!(h.get("c").map(|s| s.messages[0].text.clone()), Some("3".into()));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn removed_and_cleared_entries_are_gone() {
        let h = History::new(10);
        h.insert("a", stored("1"));
        h.insert("b", stored("2"));
        assert!(h.remove("a"));
        assert!(!h.remove("a"));
        h.clear();
        assert!(h.is_empty());
    }

    #[test]
    fn a_zero_capacity_store_keeps_nothing() {
        let h = History::new(0);
        h.insert("a", stored("1"));
        assert!(h.get("a").is_none());
    }
}
