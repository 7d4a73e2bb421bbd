//! The sessions of an `InMemorySession`, least recently used first: a full store evicts the
//! session nobody used for longest (O(log n)), so a flood of new sessions pushes out idle
//! ones instead of locking every new user out.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{Map, Value};

struct Entry {
    data: Map<String, Value>,
    expires: Instant,
    used: u64,
}

/// Sessions by id, with their use order.
pub(crate) struct Lru {
    entries: HashMap<String, Entry>,
    /// Use tick -> id, oldest first.
    order: BTreeMap<u64, String>,
    tick: u64,
    max: usize,
}

impl Lru {
    /// A store of at most `max` sessions.
    pub(crate) fn new(max: usize) -> Self {
        Lru { entries: HashMap::new(), order: BTreeMap::new(), tick: 0, max: max.max(1) }
    }

    /// How many sessions are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The live session `id`, marked used and kept until `expires`; an expired one is removed.
    pub(crate) fn touch(&mut self, id: &str, now: Instant, expires: Instant) -> Option<Map<String, Value>> {
        let tick = self.next_tick();
        let entry = self.entries.get_mut(id)?;
        if entry.expires <= now {
            self.remove(id);
            return None;
        }
        self.order.remove(&entry.used);
        entry.used = tick;
        entry.expires = expires;
        self.order.insert(tick, id.to_string());
        Some(entry.data.clone())
    }

    /// Replaces the data of a kept session; `false` when it is not kept (evicted, expired).
    pub(crate) fn update(&mut self, id: &str, data: Map<String, Value>, expires: Instant) -> bool {
        let tick = self.next_tick();
        let Some(entry) = self.entries.get_mut(id) else { return false };
        self.order.remove(&entry.used);
        *entry = Entry { data, expires, used: tick };
        self.order.insert(tick, id.to_string());
        true
    }

    /// Adds a new session; when the store is full, the least recently used sessions make
    /// room. Returns how many were evicted.
    pub(crate) fn insert(&mut self, id: String, data: Map<String, Value>, expires: Instant) -> usize {
        let mut evicted = 0;
        while self.entries.len() >= self.max {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            self.entries.remove(&oldest);
            evicted += 1;
        }
        let tick = self.next_tick();
        self.order.insert(tick, id.clone());
        self.entries.insert(id, Entry { data, expires, used: tick });
        evicted
    }

    /// Forgets session `id`.
    pub(crate) fn remove(&mut self, id: &str) {
        if let Some(entry) = self.entries.remove(id) {
            self.order.remove(&entry.used);
        }
    }

    /// Forgets every expired session.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let order = &mut self.order;
        self.entries.retain(|_, e| {
            let live = e.expires > now;
            if !live {
                order.remove(&e.used);
            }
            live
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn data(n: i64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("n".into(), Value::from(n));
        m
    }

    #[test]
    fn a_full_store_evicts_the_least_recently_used() {
        let now = gatehouse_core::Clock::system().instant();
        let later = now + Duration::from_secs(60);
        let mut lru = Lru::new(3);
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(lru.insert(id.into(), data(i as i64), later), 0);
        }
        assert!(lru.touch("a", now, later).is_some(), "a is now the most recently used");
        assert_eq!(lru.insert("d".into(), data(3), later), 1);
        assert!(lru.touch("b", now, later).is_none(), "b was the least recently used");
        assert!(lru.touch("a", now, later).is_some() && lru.touch("c", now, later).is_some());
        assert_eq!(lru.len(), 3);
        assert!(lru.update("d", data(9), later));
        assert_eq!(lru.touch("d", now, later).unwrap()["n"], 9);
        lru.remove("d");
        assert!(!lru.update("d", data(1), later));
        assert!(lru.touch("a", later, later).is_none(), "expired");
        lru.sweep(later);
        assert_eq!(lru.len(), 0);
        assert!(lru.order.is_empty());
    }
}
