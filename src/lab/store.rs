//! The lab's object store: every object as JSON, one cluster-wide resourceVersion counter, and a
//! bounded event history that watches replay from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

pub(crate) type StoreKey = (String, String);
/// Live events from the moment of subscription on.
pub(crate) type Subscription = broadcast::Receiver<Arc<Event>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    pub key: StoreKey,
    pub namespace: String,
    pub kind: EventType,
    pub object: Value,
    /// The object's approximate size as JSON.
    pub size: usize,
}

pub(crate) struct Store {
    rv: u64,
    uid: u64,
    objects: HashMap<StoreKey, BTreeMap<(String, String), Value>>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Approximate JSON bytes of the objects in `history`, and their bound.
    history_bytes: usize,
    history_bytes_limit: usize,
    /// Events older than this were compacted away; a watch from before it gets 410 Gone.
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            rv: 1,
            uid: 0,
            objects: HashMap::new(),
            history: VecDeque::new(),
            history_limit,
            history_bytes: 0,
            history_bytes_limit: usize::MAX,
            compacted_rv: 1,
            tx,
        }
    }

    /// Bounds the watch history by event count and size; what falls out is compacted (410).
    pub(crate) fn set_history_limits(&mut self, events: usize, bytes: usize) {
        self.history_limit = events;
        self.history_bytes_limit = bytes;
        self.trim_history();
    }

    /// Events and approximate bytes held for watches.
    pub(crate) fn history_usage(&self) -> (usize, usize) {
        (self.history.len(), self.history_bytes)
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub(crate) fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    /// Forgets all history: every resourceVersion handed out so far is now too old to watch from
    /// (410 Gone). The counter moves on so that a fresh list yields a usable version again.
    pub(crate) fn compact(&mut self) {
        self.rv += 1;
        self.history.clear();
        self.history_bytes = 0;
        self.compacted_rv = self.rv;
    }

    pub(crate) fn next_uid(&mut self) -> String {
        self.uid += 1;
        let n = self.uid;
        // A stable, UUID-shaped identifier: deterministic, so scenario runs are reproducible.
        format!("6c62c7a1-0000-4000-8000-{n:012x}")
    }

    pub fn get(&self, key: &StoreKey, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of one kind, in one namespace or all (`ns == None`), ordered by namespace and name.
    pub fn list<'a>(
        &'a self,
        key: &StoreKey,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .get(key)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(move |((ons, _), _)| ns.is_none_or(|n| n == ons))
            .map(|(_, v)| v)
    }

    pub fn count(&self, key: &StoreKey) -> usize {
        self.objects.get(key).map_or(0, |m| m.len())
    }

    /// Stores `obj` (already validated and defaulted), stamping a new resourceVersion.
    pub fn put(&mut self, key: &StoreKey, ns: &str, name: &str, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        let map = self.objects.entry(key.clone()).or_default();
        let kind = if map
            .insert((ns.to_string(), name.to_string()), obj.clone())
            .is_some()
        {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(key, ns, kind, obj.clone());
        obj
    }

    pub fn delete(&mut self, key: &StoreKey, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(key)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = Value::String(self.rv.to_string());
        self.record(key, ns, EventType::Deleted, obj.clone());
        Some(obj)
    }

    fn record(&mut self, key: &StoreKey, ns: &str, kind: EventType, object: Value) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key: key.clone(),
            namespace: ns.to_string(),
            kind,
            size: super::limits::json_size(&object),
            object,
        });
        self.history_bytes += ev.size;
        self.history.push_back(ev.clone());
        self.trim_history();
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
    }

    fn trim_history(&mut self) {
        while self.history.len() > self.history_limit
            || (self.history_bytes > self.history_bytes_limit && !self.history.is_empty())
        {
            if let Some(old) = self.history.pop_front() {
                self.history_bytes -= old.size;
                // A watch from before this event could no longer see it: 410 Gone from now on.
                self.compacted_rv = old.rv;
            }
        }
    }

    /// Events after `from_rv` still in history plus a live subscription, taken atomically so no
    /// event falls between them. `None` when `from_rv` is older than the retained window.
    pub(crate) fn watch_from(&self, from_rv: u64) -> Option<(Vec<Arc<Event>>, Subscription)> {
        if from_rv < self.compacted_rv {
            return None;
        }
        let past = self
            .history
            .iter()
            .filter(|e| e.rv > from_rv)
            .cloned()
            .collect();
        Some((past, self.tx.subscribe()))
    }
}
