//! The Merkle tree of RFC 6962 §2.1 with blake3 in place of SHA-256.
//!
//! The leaves are the raw 32-byte envelope hashes: `leaf = blake3(0x00 ‖ envelope hash)`,
//! `node = blake3(0x01 ‖ left ‖ right)`, and the root of the empty tree is `blake3("")`.
//! Proofs are those of RFC 6962 §2.1.1 (`PATH`) and §2.1.2 (`PROOF`); they verify with the
//! algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, in `arl-merkle` (re-exported here).

use crate::Hash;

pub use arl_merkle::{
    empty_root, leaf_hash, node_hash, split_point, verify_consistency, verify_inclusion,
};

/// Where proofs read the hash of a complete, aligned subtree: `level` 0 is a leaf, and the
/// subtree `index` covers leaves `index << level .. (index + 1) << level`.
pub(crate) trait SubtreeSource {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, crate::LogError>;
}

/// MTH(D[start:end]) for a range produced by RFC 6962's recursive splits: `start` is a
/// multiple of the largest power of two not above `end - start`.
pub(crate) fn range_root(
    src: &mut dyn SubtreeSource,
    start: u64,
    end: u64,
) -> Result<Hash, crate::LogError> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.subtree(n.trailing_zeros() as u8, start / n);
    }
    let k = split_point(n);
    let left = range_root(src, start, start + k)?;
    let right = range_root(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// RFC 6962 §2.1.1 PATH(m, D[start:end]), deepest sibling first.
pub(crate) fn inclusion_path(
    src: &mut dyn SubtreeSource,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> Result<(), crate::LogError> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        inclusion_path(src, m, start, start + k, out)?;
        out.push(range_root(src, start + k, end)?);
    } else {
        inclusion_path(src, m - k, start + k, end, out)?;
        out.push(range_root(src, start, start + k)?);
    }
    Ok(())
}

/// RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b).
pub(crate) fn consistency_path(
    src: &mut dyn SubtreeSource,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), crate::LogError> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_root(src, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        consistency_path(src, m, start, start + k, whole, out)?;
        out.push(range_root(src, start + k, end)?);
    } else {
        consistency_path(src, m - k, start + k, end, false, out)?;
        out.push(range_root(src, start, start + k)?);
    }
    Ok(())
}

/// The compact frontier of a growing tree: the roots of the complete subtrees that the
/// binary digits of its size describe, largest first. Appending a leaf costs O(log n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Frontier {
    pub(crate) size: u64,
    pub(crate) roots: Vec<Hash>,
}

impl Frontier {
    /// Appends one Merkle leaf; calls `completed(level, index, hash)` for every subtree that
    /// this leaf completes, the leaf itself (level 0) included.
    pub(crate) fn push(&mut self, leaf: Hash, completed: &mut dyn FnMut(u8, u64, &Hash)) {
        let old = self.size;
        self.size += 1;
        let mut node = leaf;
        let mut level: u8 = 0;
        completed(0, old, &node);
        while (old >> level) & 1 == 1 {
            let left = self.roots.pop().unwrap_or_default();
            node = node_hash(&left, &node);
            level += 1;
            completed(level, (self.size >> level) - 1, &node);
        }
        self.roots.push(node);
    }

    /// Appends the root of a complete subtree of `2^level` leaves; the size must be a
    /// multiple of `2^level`. Calls `completed` for it and every subtree it completes.
    pub(crate) fn push_subtree(
        &mut self,
        level: u8,
        root: Hash,
        completed: &mut dyn FnMut(u8, u64, &Hash),
    ) {
        debug_assert_eq!(self.size % (1 << level), 0);
        let old = self.size >> level;
        self.size += 1 << level;
        let mut node = root;
        let mut k: u8 = 0;
        completed(level, old, &node);
        while (old >> k) & 1 == 1 {
            let left = self.roots.pop().unwrap_or_default();
            node = node_hash(&left, &node);
            k += 1;
            completed(level + k, (self.size >> (level + k)) - 1, &node);
        }
        self.roots.push(node);
    }

    /// MTH of the whole tree.
    pub(crate) fn root(&self) -> Hash {
        let mut iter = self.roots.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
// The naive models below use RFC 6962's own names (m, n, k, D, b), so they read side by
// side with the RFC.
#[allow(clippy::many_single_char_names)]
mod tests {
    use super::*;

    #[test]
    fn frontier_matches_split() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| leaf_hash(&[i; 32])).collect();
        let mut f = Frontier::default();
        for l in &leaves {
            f.push(*l, &mut |_, _, _| {});
        }
        let left = node_hash(
            &node_hash(&leaves[0], &leaves[1]),
            &node_hash(&leaves[2], &leaves[3]),
        );
        assert_eq!(f.root(), node_hash(&left, &leaves[4]));
        assert_eq!(Frontier::default().root(), *blake3::hash(b"").as_bytes());
    }

    #[test]
    fn subtree_pushes_match_leaf_pushes() {
        let leaves: Vec<Hash> = (0u32..20).map(|i| leaf_hash(&[i as u8; 32])).collect();
        let mut by_leaf = Frontier::default();
        let mut leaf_nodes = Vec::new();
        for l in &leaves {
            by_leaf.push(*l, &mut |lv, i, h| leaf_nodes.push((lv, i, *h)));
        }
        let mut by_pair = Frontier::default();
        let mut pair_nodes = Vec::new();
        for p in leaves.chunks_exact(2) {
            by_pair.push_subtree(1, node_hash(&p[0], &p[1]), &mut |lv, i, h| {
                pair_nodes.push((lv, i, *h));
            });
        }
        assert_eq!(by_pair, by_leaf);
        leaf_nodes.retain(|n| n.0 >= 1);
        assert_eq!(pair_nodes, leaf_nodes);
    }

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }
}

#[cfg(test)]
// RFC 6962's own names (m, n, k, D, b), to read side by side with the RFC.
#[allow(clippy::many_single_char_names)]
mod props {
    use super::*;
    use proptest::prelude::*;

    /// The subtree source of an in-memory tree, computed from its leaves.
    struct Mem(Vec<Hash>);

    impl SubtreeSource for Mem {
        fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, crate::LogError> {
            let start = (index << level) as usize;
            Ok(naive_mth(&self.0[start..start + (1usize << level)]))
        }
    }

    /// RFC 6962 §2.1 MTH over envelope hashes, straight from the definition.
    fn naive_mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => *blake3::hash(b"").as_bytes(),
            1 => leaf_hash(&d[0]),
            n => {
                let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]).
    fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
        let n = d.len();
        if n <= 1 {
            return vec![];
        }
        let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m < k {
            let mut p = naive_path(m, &d[..k]);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_path(m - k, &d[k..]);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    /// RFC 6962 §2.1.2 SUBPROOF(m, D[n], b).
    fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![naive_mth(d)] };
        }
        let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m <= k {
            let mut p = naive_subproof(m, &d[..k], b);
            p.push(naive_mth(&d[k..]));
            p
        } else {
            let mut p = naive_subproof(m - k, &d[k..], false);
            p.push(naive_mth(&d[..k]));
            p
        }
    }

    fn data(n: usize) -> Vec<Hash> {
        (0..n as u64)
            .map(|i| *blake3::hash(&i.to_le_bytes()).as_bytes())
            .collect()
    }

    fn flip(h: &Hash) -> Hash {
        let mut x = *h;
        x[7] ^= 0x20;
        x
    }

    fn check_inclusion(d: &[Hash], m: usize) {
        let n = d.len() as u64;
        let mut src = Mem(d.to_vec());
        let mut proof = Vec::new();
        inclusion_path(&mut src, m as u64, 0, n, &mut proof).unwrap();
        assert_eq!(proof, naive_path(m, d), "PATH({m}, {n})");
        let root = naive_mth(d);
        let leaf = leaf_hash(&d[m]);
        assert!(verify_inclusion(&leaf, m as u64, n, &proof, &root));
        assert!(!verify_inclusion(&flip(&leaf), m as u64, n, &proof, &root));
        assert!(!verify_inclusion(&leaf, m as u64, n, &proof, &flip(&root)));
        assert!(!verify_inclusion(&leaf, m as u64 + 1, n, &proof, &root) || n == 1);
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i]);
            assert!(!verify_inclusion(&leaf, m as u64, n, &bad, &root));
        }
    }

    fn check_consistency(d: &[Hash], m: usize) {
        let n = d.len() as u64;
        let mut src = Mem(d.to_vec());
        let mut proof = Vec::new();
        if m > 0 && (m as u64) < n {
            consistency_path(&mut src, m as u64, 0, n, true, &mut proof).unwrap();
            assert_eq!(proof, naive_subproof(m, d, true), "PROOF({m}, {n})");
        }
        let (old, new) = (naive_mth(&d[..m]), naive_mth(d));
        assert!(verify_consistency(m as u64, n, &old, &new, &proof));
        assert!(!verify_consistency(m as u64, n, &flip(&old), &new, &proof));
        assert!(!verify_consistency(m as u64, n, &old, &flip(&new), &proof) || m == 0);
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i]);
            assert!(!verify_consistency(m as u64, n, &old, &new, &bad));
        }
    }

    #[test]
    fn every_size_up_to_300() {
        let all = data(300);
        let mut frontier = Frontier::default();
        for n in 1..=all.len() {
            frontier.push(leaf_hash(&all[n - 1]), &mut |_, _, _| {});
            let d = &all[..n];
            assert_eq!(frontier.root(), naive_mth(d));
            let mut src = Mem(d.to_vec());
            assert_eq!(range_root(&mut src, 0, n as u64).unwrap(), naive_mth(d));
            for m in 0..n {
                check_inclusion(d, m);
                check_consistency(d, m);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_large_sizes(n in 301usize..5000, a in any::<u64>(), b in any::<u64>()) {
            let d = data(n);
            let m = (a % n as u64) as usize;
            let old = (b % (n as u64 + 1)) as usize;
            let mut src = Mem(d.clone());
            prop_assert_eq!(range_root(&mut src, 0, n as u64).unwrap(), naive_mth(&d));
            check_inclusion(&d, m);
            check_consistency(&d, old);
        }
    }
}
