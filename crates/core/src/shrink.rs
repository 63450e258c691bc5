//! When an in-memory table grown by a burst (pending handshakes, lockout
//! counters) gives its memory back: a map never shrinks by itself, so the
//! periodic sweep asks here. One rule for both tables.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Below this many slots a map is never shrunk (not worth a rehash).
pub(crate) const FLOOR: usize = 1024;

/// The capacity a map of `len` entries in `capacity` slots shrinks to, if
/// any: once a quarter full or less, to twice its entries, so that it has
/// room to grow again without shrinking back and forth.
pub(crate) fn target(len: usize, capacity: usize) -> Option<usize> {
    (capacity > FLOOR && len <= capacity / 4).then_some(len * 2)
}

/// Shrinks `map` as [`target`] says (the sweep is rare enough for the
/// rehash not to matter).
pub(crate) fn give_back<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if let Some(keep) = target(map.len(), map.capacity()) {
        map.shrink_to(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_a_quarter_full_or_less_above_the_floor_shrinks_to_twice_its_entries() {
        let cap = 4 * FLOOR;
        assert_eq!(target(cap / 4, cap), Some(cap / 2));
        assert_eq!(target(3, cap), Some(6));
        assert_eq!(target(0, cap), Some(0));
        // Over a quarter full: kept.
        assert_eq!(target(cap / 4 + 1, cap), None);
        // At or below the floor: kept, however empty.
        assert_eq!(target(0, FLOOR), None);
        assert_eq!(target(0, FLOOR + 1), Some(0));
    }

    #[test]
    fn give_back_frees_the_slots_of_a_burst() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        map.retain(|k, _| *k < 10);
        give_back(&mut map);
        assert!(map.capacity() < FLOOR, "{}", map.capacity());
        assert_eq!(map.len(), 10);
        let small: HashMap<u32, u32> = (0..10).map(|i| (i, i)).collect();
        let mut kept = small.clone();
        kept.reserve(FLOOR / 2);
        let before = kept.capacity();
        give_back(&mut kept);
        assert_eq!(kept.capacity(), before, "at or below the floor");
    }
}
