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

#[cfg(test)]
mod tests {
    use super::*;

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
}
