//! [`Chunked`]: a vector kept in shared chunks, so that a copy costs a pointer per chunk and
//! a change copies only the chunk it falls in.
//!
//! The views' heads hold one entry per account and per person, and every commit hands a
//! copy of them to the readers of that commit (the server publishes one after each
//! append). Kept in one vector, that copy grew with the ledger (at a million generated
//! events, thousands of entries per commit); kept in chunks, a commit copies the few chunks
//! its events touch.

use std::sync::Arc;

/// Entries per chunk: small enough that a changed chunk is cheap to copy, large enough that
/// the chunk pointers are few.
const CHUNK: usize = 128;

/// A growable vector of `T` in chunks of [`CHUNK`] entries shared by its copies.
#[derive(Clone)]
pub struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The entry at `index`, for a change: its chunk is copied first when shared.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        Arc::make_mut(self.chunks.get_mut(index / CHUNK)?).get_mut(index % CHUNK)
    }

    pub fn push(&mut self, value: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = self.chunks.last_mut().expect("a chunk was just ensured");
        Arc::make_mut(last).push(value);
        self.len += 1;
    }

    /// The `count` entries `next` gives in turn, each chunk filled before it is shared
    /// (without the check of its sharing that [`Chunked::push`] makes at each entry);
    /// `None` as soon as `next` gives none.
    pub fn try_from_fn(count: usize, mut next: impl FnMut() -> Option<T>) -> Option<Self> {
        let mut chunks = Vec::with_capacity(count.div_ceil(CHUNK));
        let mut left = count;
        while left > 0 {
            let take = left.min(CHUNK);
            let mut chunk = Vec::with_capacity(CHUNK);
            for _ in 0..take {
                chunk.push(next()?);
            }
            chunks.push(Arc::new(chunk));
            left -= take;
        }
        Some(Chunked { chunks, len: count })
    }

    /// Makes room for the chunk pointers of `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.chunks.reserve(additional.div_ceil(CHUNK));
    }

    /// The chunks, in order: every one full but the last.
    pub fn chunks(&self) -> &[Arc<Vec<T>>] {
        &self.chunks
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }
}

impl<T: Clone> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        match self.get(index) {
            Some(value) => value,
            None => panic!("index {index} out of {} entries", self.len),
        }
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for Chunked<T> {
    fn index_mut(&mut self, index: usize) -> &mut T {
        let len = self.len;
        match self.get_mut(index) {
            Some(value) => value,
            None => panic!("index {index} out of {len} entries"),
        }
    }
}

impl<T: Clone + PartialEq> PartialEq for Chunked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Clone + Eq> Eq for Chunked<T> {}

impl<T: Clone + std::fmt::Debug> std::fmt::Debug for Chunked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Clone> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(values: I) -> Self {
        let mut out = Chunked::default();
        for value in values {
            out.push(value);
        }
        out
    }
}

/// Most numbers a [`SortedNumbers`] chunk holds: a chunk that grows past it is split in two.
const SORTED_CHUNK: usize = 512;

/// Entity numbers in the order of their ids, in chunks shared by its copies: finding an id
/// and inserting a new number cost a binary search and a copy of one chunk, and a copy of
/// the whole costs a pointer per chunk (at a hundred thousand persons, one vector of them
/// took a 400 KB move for each person added and a 400 KB copy for each commit's readers).
#[derive(Clone, Default)]
pub struct SortedNumbers {
    chunks: Vec<Arc<Vec<u32>>>,
    len: usize,
}

impl SortedNumbers {
    /// Numbers already in the order of their ids.
    pub fn from_sorted(numbers: &[u32]) -> SortedNumbers {
        SortedNumbers {
            chunks: numbers
                .chunks(SORTED_CHUNK / 2)
                .map(|chunk| Arc::new(chunk.to_vec()))
                .collect(),
            len: numbers.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The numbers, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter().copied())
    }

    /// The chunk where numbers with keys up to `key` end: the first whose last key is not
    /// below it (the last chunk when every key is below it).
    fn chunk_for<'a, K: Ord + ?Sized + 'a>(&self, key: &K, key_of: impl Fn(u32) -> &'a K) -> usize {
        let last_below = |chunk: &Arc<Vec<u32>>| chunk.last().is_some_and(|&m| key_of(m) < key);
        self.chunks
            .partition_point(last_below)
            .min(self.chunks.len().saturating_sub(1))
    }

    /// The number whose key is `key`, by binary search.
    pub fn find<'a, K: Ord + ?Sized + 'a>(
        &self,
        key: &K,
        key_of: impl Fn(u32) -> &'a K,
    ) -> Option<u32> {
        let chunk = self.chunks.get(self.chunk_for(key, &key_of))?;
        chunk
            .binary_search_by(|&m| key_of(m).cmp(key))
            .ok()
            .map(|i| chunk[i])
    }

    /// Inserts `number`, whose key is `key`, after every number with a lower key.
    pub fn insert<'a, K: Ord + ?Sized + 'a>(
        &mut self,
        number: u32,
        key: &K,
        key_of: impl Fn(u32) -> &'a K,
    ) {
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(Vec::new()));
        }
        let c = self.chunk_for(key, &key_of);
        let chunk = Arc::make_mut(&mut self.chunks[c]);
        let at = chunk.partition_point(|&m| key_of(m) < key);
        chunk.insert(at, number);
        if chunk.len() > SORTED_CHUNK {
            let upper = chunk.split_off(chunk.len() / 2);
            self.chunks.insert(c + 1, Arc::new(upper));
        }
        self.len += 1;
    }
}

impl PartialEq for SortedNumbers {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for SortedNumbers {}

impl std::fmt::Debug for SortedNumbers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filled from a function, the entries are those pushed one by one, in the same
    /// chunks (and pushing after it goes on where it ends); a function that stops early
    /// gives nothing.
    #[test]
    fn chunks_filled_from_a_function_are_those_pushed() {
        for count in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 3] {
            let mut given = 0..;
            let mut filled =
                Chunked::try_from_fn(count, || given.next()).expect("as many as asked");
            let mut pushed: Chunked<usize> = (0..count).collect();
            assert_eq!(filled, pushed, "{count}");
            let sizes = |c: &Chunked<usize>| c.chunks.iter().map(|k| k.len()).collect::<Vec<_>>();
            assert_eq!(sizes(&filled), sizes(&pushed), "{count}");
            filled.push(count);
            pushed.push(count);
            assert_eq!(
                (filled.len(), sizes(&filled)),
                (pushed.len(), sizes(&pushed))
            );
            let mut few = 0..count.saturating_sub(1);
            assert!(count == 0 || Chunked::try_from_fn(count, || few.next()).is_none());
        }
    }

    #[test]
    fn a_copy_shares_chunks_until_one_is_changed() {
        let mut a: Chunked<u32> = (0..1000).collect();
        assert_eq!(a.len(), 1000);
        assert_eq!(a[999], 999);
        assert_eq!(a.get(1000), None);
        let b = a.clone();
        a[300] = 7;
        a.push(1000);
        assert_eq!((a[300], b[300]), (7, 300));
        assert_eq!((a.len(), b.len()), (1001, 1000));
        // Only the changed chunk was copied: the others are still shared.
        let shared = (a.chunks.iter().zip(&b.chunks))
            .filter(|(x, y)| Arc::ptr_eq(x, y))
            .count();
        assert_eq!(
            shared,
            b.chunks.len() - 2,
            "chunks 2 (the change) and 7 (the push)"
        );
        assert_eq!(a.iter().copied().collect::<Vec<_>>().len(), 1001);
        assert_ne!(a, b);
        let mut c = b.clone();
        assert_eq!(c, b);
        c[999] = 1;
        assert_ne!(c, b);
    }

    #[test]
    fn sorted_numbers_find_and_insert_in_key_order() {
        // Keys: number n has key (n * 7919) % 10007, distinct for n < 10007.
        let key = |n: u32| (n * 7919) % 10007;
        let keys: Vec<u32> = (0..3000).map(key).collect();
        let mut sorted = SortedNumbers::default();
        let mut model: Vec<u32> = Vec::new();
        for n in 0..3000u32 {
            sorted.insert(n, &keys[n as usize], |m| &keys[m as usize]);
            let at = model.partition_point(|&m| keys[m as usize] < keys[n as usize]);
            model.insert(at, n);
            if n % 499 == 0 {
                let copy = sorted.clone();
                assert_eq!(copy.iter().collect::<Vec<_>>(), model);
            }
        }
        assert_eq!(sorted.len(), 3000);
        assert_eq!(sorted.iter().collect::<Vec<_>>(), model);
        assert!(sorted.chunks.len() > 6, "chunks split as they grew");
        assert!(sorted.chunks.iter().all(|c| c.len() <= SORTED_CHUNK));
        for n in (0..3000u32).step_by(7) {
            assert_eq!(
                sorted.find(&keys[n as usize], |m| &keys[m as usize]),
                Some(n)
            );
        }
        let absent = (0..10007).find(|k| !keys.contains(k)).expect("a free key");
        assert_eq!(sorted.find(&absent, |m| &keys[m as usize]), None);
        assert_eq!(SortedNumbers::from_sorted(&model), sorted);
        assert_eq!(
            SortedNumbers::default().find(&1, |m| &keys[m as usize]),
            None
        );
    }
}
