//! The session registry: session id → session, sharded so that unrelated sessions do not
//! wait on one lock.
//!
//! The registry is touched when a session opens, expires or closes and on every HTTP receive
//! and send request (to find the session); the message path of a session inside a request or
//! a websocket never touches it. Each shard is a `std::sync::Mutex<HashMap>` held only for a
//! map operation, never across an `.await` or user code. It is bounded: inserting beyond the
//! capacity fails.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 32;

type Shard<V> = Mutex<HashMap<Box<str>, V>>;

/// A bounded, sharded map from session id to `V` (typically an `Arc` of the driver's session
/// state).
#[derive(Debug)]
pub struct Registry<V> {
    shards: Box<[Shard<V>]>,
    hasher: RandomState,
    len: AtomicUsize,
    capacity: usize,
}

/// The registry is at its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryFull;

impl std::fmt::Display for RegistryFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the session registry is full")
    }
}

impl std::error::Error for RegistryFull {}

impl<V: Clone> Registry<V> {
    /// An empty registry holding at most `capacity` sessions.
    pub fn new(capacity: usize) -> Self {
        Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            capacity,
        }
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, HashMap<Box<str>, V>> {
        let index = (self.hasher.hash_one(id) as usize) % SHARDS;
        // A poisoned shard only means a panic happened while a map operation ran; the map
        // itself is still consistent, so keep serving.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session under `id`.
    pub fn get(&self, id: &str) -> Option<V> {
        self.shard(id).get(id).cloned()
    }

    /// The session under `id`, or a new one made by `make` and inserted. The flag says
    /// whether it is new. `make` runs under the shard lock: keep it cheap and free of I/O.
    pub fn get_or_insert_with(
        &self,
        id: &str,
        make: impl FnOnce() -> V,
    ) -> Result<(V, bool), RegistryFull> {
        let mut shard = self.shard(id);
        if let Some(v) = shard.get(id) {
            return Ok((v.clone(), false));
        }
        self.reserve()?;
        let v = make();
        shard.insert(id.into(), v.clone());
        Ok((v, true))
    }

    /// Replace the session under `id` with one made by `make` if `stale` says the present one
    /// is finished (or there is none); otherwise return the present one. The flag says whether
    /// the returned session is new.
    pub fn replace_if(
        &self,
        id: &str,
        stale: impl FnOnce(&V) -> bool,
        make: impl FnOnce() -> V,
    ) -> Result<(V, bool), RegistryFull> {
        let mut shard = self.shard(id);
        match shard.entry(id.into()) {
            Entry::Occupied(mut e) => {
                if stale(e.get()) {
                    let v = make();
                    e.insert(v.clone());
                    Ok((v, true))
                } else {
                    Ok((e.get().clone(), false))
                }
            }
            Entry::Vacant(e) => {
                self.reserve()?;
                let v = make();
                e.insert(v.clone());
                Ok((v, true))
            }
        }
    }

    fn reserve(&self) -> Result<(), RegistryFull> {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| RegistryFull)
    }

    /// Remove the session under `id` if `pred` accepts it (so a driver removes its own session
    /// and not a newer one that reuses the id). Returns the removed session.
    pub fn remove_if(&self, id: &str, pred: impl FnOnce(&V) -> bool) -> Option<V> {
        let mut shard = self.shard(id);
        if shard.get(id).is_some_and(pred) {
            let v = shard.remove(id);
            if v.is_some() {
                self.len.fetch_sub(1, Ordering::AcqRel);
            }
            v
        } else {
            None
        }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of every session, taken shard by shard (no lock is held while the caller
    /// uses it).
    pub fn snapshot(&self) -> Vec<V> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            out.extend(shard.values().cloned());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn insert_get_remove() {
        let r: Registry<Arc<u32>> = Registry::new(10);
        let (a, new) = r.get_or_insert_with("a", || Arc::new(1)).unwrap();
        assert!(new);
        let (a2, new) = r.get_or_insert_with("a", || Arc::new(2)).unwrap();
        assert!(!new);
        assert!(Arc::ptr_eq(&a, &a2));
        assert_eq!(r.len(), 1);
        assert_eq!(r.get("a").as_deref(), Some(&1));
        assert!(r.remove_if("a", |v| **v == 9).is_none());
        assert!(r.remove_if("a", |v| Arc::ptr_eq(v, &a)).is_some());
        assert!(r.get("a").is_none());
        assert!(r.is_empty());
    }

    #[test]
    fn capacity_is_enforced() {
        let r: Registry<u8> = Registry::new(2);
        r.get_or_insert_with("a", || 1).unwrap();
        r.get_or_insert_with("b", || 2).unwrap();
        assert_eq!(r.get_or_insert_with("c", || 3), Err(RegistryFull));
        // existing ids are still found at capacity
        assert_eq!(r.get_or_insert_with("a", || 9), Ok((1, false)));
        r.remove_if("a", |_| true);
        assert_eq!(r.get_or_insert_with("c", || 3), Ok((3, true)));
        assert_eq!(r.snapshot().len(), 2);
    }

    #[test]
    fn replace_if_stale() {
        let r: Registry<u8> = Registry::new(2);
        r.get_or_insert_with("a", || 1).unwrap();
        assert_eq!(r.replace_if("a", |v| *v == 1, || 2), Ok((2, true)));
        assert_eq!(r.replace_if("a", |v| *v == 1, || 3), Ok((2, false)));
        assert_eq!(r.len(), 1);
    }
}
