//! A map split into shards, each behind its own `std::sync::Mutex`, so that operations on
//! unrelated keys (two rooms, two users) do not wait on one lock.
//!
//! A shard is locked only for a map operation: never across an `.await`, never while calling
//! session code (which may close the session and re-enter the hub).

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 32;

pub(crate) struct Sharded<K, V> {
    shards: Box<[Mutex<HashMap<K, V>>]>,
    hasher: RandomState,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    pub(crate) fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// The shard that holds `key`, locked.
    pub(crate) fn lock<Q>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        lock(&self.shards[index])
    }

    /// Every shard in turn, locked one at a time.
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut HashMap<K, V>)) {
        for shard in self.shards.iter() {
            f(&mut lock(shard));
        }
    }
}

/// Lock a mutex whose data stays consistent even if a holder panicked (every critical
/// section here is a map operation that leaves the map valid).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn borrowed_lookups_find_owned_keys() {
        let m: Sharded<Arc<str>, u32> = Sharded::new();
        m.lock("a").insert("a".into(), 1);
        m.lock("b").insert("b".into(), 2);
        assert_eq!(m.lock("a").get("a"), Some(&1));
        let mut n = 0;
        m.for_each_shard(|s| n += s.len());
        assert_eq!(n, 2);
    }
}
