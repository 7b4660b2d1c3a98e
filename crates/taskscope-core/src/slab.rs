//! A minimal slab: O(1) insert and remove by key, slots reused.

#[derive(Debug)]
enum Entry<T> {
    Occupied(T),
    Vacant(usize),
}

/// Keys stay valid until removed; freed slots are reused first.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    next_free: usize,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Self {
        Self { entries: Vec::new(), next_free: 0, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        let key = self.next_free;
        if let Some(slot) = self.entries.get_mut(key) {
            let Entry::Vacant(next) = *slot else { unreachable!("slab free list points at an occupied slot") };
            self.next_free = next;
            *slot = Entry::Occupied(value);
        } else {
            self.entries.push(Entry::Occupied(value));
            self.next_free = self.entries.len();
        }
        key
    }

    /// The value at `key`, if occupied.
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        match self.entries.get_mut(key) {
            Some(Entry::Occupied(v)) => Some(v),
            _ => None,
        }
    }

    /// Replaces the value at an occupied `key`.
    pub(crate) fn set(&mut self, key: usize, value: T) {
        match self.entries.get_mut(key) {
            Some(slot @ Entry::Occupied(_)) => *slot = Entry::Occupied(value),
            _ => unreachable!("slab key {key} is not occupied"),
        }
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let slot = self.entries.get_mut(key)?;
        if matches!(slot, Entry::Vacant(_)) {
            return None;
        }
        let Entry::Occupied(value) = std::mem::replace(slot, Entry::Vacant(self.next_free)) else { unreachable!() };
        self.next_free = key;
        self.len -= 1;
        if self.len == 0 {
            // Long-lived owners with bursts of short-lived entries must not keep the peak forever.
            self.entries = Vec::new();
            self.next_free = 0;
        }
        Some(value)
    }

    /// Removes every entry, returning them.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let entries = std::mem::take(&mut self.entries);
        self.next_free = 0;
        self.len = 0;
        entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Occupied(v) => Some(v),
                Entry::Vacant(_) => None,
            })
            .collect()
    }
}

#[cfg(all(test, not(taskscope_loom)))]
mod tests {
    use super::Slab;

    #[test]
    fn reuses_freed_slots() {
        let mut s = Slab::new();
        let a = s.insert(1);
        let b = s.insert(2);
        assert_eq!(s.remove(a), Some(1));
        assert_eq!(s.insert(3), a);
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(b), Some(2));
        assert_eq!(s.remove(b), None);
    }

    #[test]
    fn empty_slab_releases_memory() {
        let mut s = Slab::new();
        let keys: Vec<_> = (0..1000).map(|i| s.insert(i)).collect();
        for k in keys {
            s.remove(k);
        }
        assert_eq!(s.len(), 0);
        assert_eq!(s.entries.capacity(), 0);
    }

    #[test]
    fn take_all_returns_occupied_only() {
        let mut s = Slab::new();
        let a = s.insert(1);
        s.insert(2);
        s.remove(a);
        assert_eq!(s.take_all(), vec![2]);
        assert_eq!(s.len(), 0);
    }
}
