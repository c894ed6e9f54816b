//! The Merkle tree of RFC 6962 §2.1 with blake3 in place of SHA-256 (contract §5): leaf and
//! node hashes, the proof verifiers of RFC 9162 §2.1.3.2 and §2.1.4.2, and [`Tree`], a tree
//! held in memory level by level, which gives the same roots and audit paths as RFC 6962's
//! recursive definition.
//!
//! `leaf = blake3(0x00 ‖ data)` (for the log, the data is an envelope's 32-byte hash),
//! `node = blake3(0x01 ‖ left ‖ right)`, and the root of the empty tree is `blake3("")`.
//!
//! One copy for the whole workspace, with no storage: the log (`arl-log`) builds its
//! persisted tree from these hashes, and a checker (`arl-evidence`) verifies with them
//! holding nothing else.

/// A blake3 digest.
pub type Hash = [u8; 32];

/// `blake3(0x00 ‖ data)`: a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(data);
    *h.finalize().as_bytes()
}

/// `blake3(0x01 ‖ left ‖ right)`: an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left);
    h.update(right);
    *h.finalize().as_bytes()
}

/// The root of the empty tree: `blake3("")`.
pub fn empty_root() -> Hash {
    *blake3::hash(b"").as_bytes()
}

/// RFC 9162 §2.1.3.2: does `proof` show the leaf hash `leaf` at `index` in the tree of
/// `size` leaves with root `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show that the tree (`new_size`, `new_root`) extends the
/// tree (`old_size`, `old_root`)?
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree of
/// `n` leaves.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// A range of leaves `start..end`: the subtree RFC 6962's recursion gives them.
pub type LeafRange = (u64, u64);

/// The leaf ranges of the audit path of leaf `index` in the tree of `size` leaves, in the
/// order of RFC 6962's `PATH` (from the leaf up): the i-th hash of an inclusion proof is
/// the root of the i-th range.
pub fn path_ranges(index: u64, size: u64) -> Vec<LeafRange> {
    fn walk(index: u64, start: u64, end: u64, out: &mut Vec<LeafRange>) {
        if end - start <= 1 {
            return;
        }
        let middle = start + split_point(end - start);
        if index < middle {
            walk(index, start, middle, out);
            out.push((middle, end));
        } else {
            walk(index, middle, end, out);
            out.push((start, middle));
        }
    }
    let mut out = Vec::new();
    if index < size {
        walk(index, 0, size, &mut out);
    }
    out
}

/// A multiproof of the leaves at `indices` (sorted, distinct, each below `size`): the
/// ranges of the largest subtrees that hold none of them, left to right. With the leaves,
/// their roots are exactly what [`root_from_leaves`] needs to compute the tree's root; each
/// is also on the audit path of one of the leaves ([`path_ranges`]).
pub fn multiproof_ranges(indices: &[u64], size: u64) -> Vec<LeafRange> {
    fn walk(indices: &[u64], start: u64, end: u64, out: &mut Vec<LeafRange>) {
        if indices.is_empty() {
            out.push((start, end));
            return;
        }
        if end - start == 1 {
            return;
        }
        let middle = start + split_point(end - start);
        let left = indices.partition_point(|&index| index < middle);
        walk(&indices[..left], start, middle, out);
        walk(&indices[left..], middle, end, out);
    }
    let mut out = Vec::new();
    if size > 0 {
        walk(indices, 0, size, &mut out);
    }
    out
}

/// The root of the tree of `size` leaves computed from some of its leaves (`(index, leaf
/// hash)`, sorted by index, distinct) and the roots of the other subtrees, in the order of
/// [`multiproof_ranges`]. `None` when the leaves and nodes do not fit that shape: a leaf
/// beyond the tree, out of order, or too few or too many nodes.
pub fn root_from_leaves(leaves: &[(u64, Hash)], size: u64, nodes: &[Hash]) -> Option<Hash> {
    fn walk(
        leaves: &[(u64, Hash)],
        start: u64,
        end: u64,
        nodes: &mut std::slice::Iter<'_, Hash>,
    ) -> Option<Hash> {
        match leaves {
            [] => nodes.next().copied(),
            [(index, leaf)] if end - start == 1 => (*index == start).then_some(*leaf),
            _ if end - start == 1 => None,
            _ => {
                let middle = start + split_point(end - start);
                let left = leaves.partition_point(|(index, _)| *index < middle);
                let left_root = walk(&leaves[..left], start, middle, nodes)?;
                let right_root = walk(&leaves[left..], middle, end, nodes)?;
                Some(node_hash(&left_root, &right_root))
            }
        }
    }
    let sorted = leaves.windows(2).all(|pair| pair[0].0 < pair[1].0);
    let inside = leaves.last().is_none_or(|(index, _)| *index < size);
    if !sorted || !inside {
        return None;
    }
    if size == 0 {
        return nodes.is_empty().then(empty_root);
    }
    let mut rest = nodes.iter();
    let root = walk(leaves, 0, size, &mut rest)?;
    rest.next().is_none().then_some(root)
}

/// A Merkle tree held level by level: level 0 the leaf hashes, each level above the pairs of
/// the one below, a last node without a pair carried up unchanged. That is RFC 6962's tree:
/// the same root and the same audit paths.
#[derive(Debug, Clone)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over these leaf hashes.
    pub fn new(leaves: Vec<Hash>) -> Tree {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().expect("a level");
            let above: Vec<Hash> = below
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [single] => *single,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            levels.push(above);
        }
        Tree { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The root (of the empty tree when there are no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|level| level.first()) {
            Some(root) if self.size() > 0 => *root,
            _ => empty_root(),
        }
    }

    /// The audit path of leaf `index`, from the leaf up.
    pub fn path(&self, index: u64) -> Vec<Hash> {
        assert!(index < self.size(), "leaf {index} of {}", self.size());
        let mut at = index as usize;
        let mut out = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = at ^ 1;
            if sibling < level.len() {
                out.push(level[sibling]);
            }
            at /= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962 §2.1's recursive root, the model.
    fn model_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                node_hash(&model_root(&leaves[..k]), &model_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn multiproofs_give_the_root_and_any_change_does_not() {
        for size in 0..34u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let tree = Tree::new(leaves.clone());
            // Subsets: every single leaf, every pair, and a few spread sets.
            let mut subsets: Vec<Vec<u64>> = (0..size).map(|i| vec![i]).collect();
            for a in 0..size {
                for b in a + 1..size {
                    subsets.push(vec![a, b]);
                }
            }
            subsets.push((0..size).step_by(3).collect());
            subsets.push((0..size).collect());
            subsets.push(Vec::new());
            for indices in subsets {
                let ranges = multiproof_ranges(&indices, size);
                // Each range is on the audit path of one of the leaves, so a prover holding
                // their inclusion proofs has every node.
                let on_paths: Vec<LeafRange> = indices
                    .iter()
                    .flat_map(|&index| path_ranges(index, size))
                    .collect();
                let nodes: Vec<Hash> = ranges
                    .iter()
                    .map(|&(start, end)| {
                        assert!(
                            indices.is_empty() || on_paths.contains(&(start, end)),
                            "{start}..{end} of {size} for {indices:?}"
                        );
                        model_root(&leaves[start as usize..end as usize])
                    })
                    .collect();
                let given: Vec<(u64, Hash)> =
                    indices.iter().map(|&i| (i, leaves[i as usize])).collect();
                assert_eq!(
                    root_from_leaves(&given, size, &nodes),
                    Some(tree.root()),
                    "size {size}, {indices:?}"
                );
                if let Some(first) = given.first() {
                    let mut altered = given.clone();
                    altered[0].1 = leaf_hash(b"other");
                    assert_ne!(root_from_leaves(&altered, size, &nodes), Some(tree.root()));
                    let fewer = &given[1..];
                    assert_ne!(root_from_leaves(fewer, size, &nodes), Some(tree.root()));
                    let moved = [(first.0 + 1, first.1)];
                    if given.len() == 1 && first.0 + 1 < size {
                        assert_ne!(root_from_leaves(&moved, size, &nodes), Some(tree.root()));
                    }
                }
                if !nodes.is_empty() {
                    let short = &nodes[..nodes.len() - 1];
                    assert_eq!(root_from_leaves(&given, size, short), None);
                }
                let mut long = nodes.clone();
                long.push(leaf_hash(b"extra"));
                assert_eq!(root_from_leaves(&given, size, &long), None);
            }
        }
    }

    #[test]
    fn path_ranges_are_the_ranges_of_inclusion_proofs() {
        for size in 1..40u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let tree = Tree::new(leaves.clone());
            for index in 0..size {
                let from_ranges: Vec<Hash> = path_ranges(index, size)
                    .iter()
                    .map(|&(start, end)| model_root(&leaves[start as usize..end as usize]))
                    .collect();
                assert_eq!(from_ranges, tree.path(index), "leaf {index} of {size}");
            }
        }
    }

    #[test]
    fn level_tree_agrees_with_rfc_6962_and_its_paths_verify() {
        for size in 0..40u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let tree = Tree::new(leaves.clone());
            assert_eq!(tree.root(), model_root(&leaves), "size {size}");
            for index in 0..size {
                let path = tree.path(index);
                assert!(verify_inclusion(
                    &leaves[index as usize],
                    index,
                    size,
                    &path,
                    &tree.root()
                ));
                let other = leaf_hash(b"other");
                assert!(!verify_inclusion(&other, index, size, &path, &tree.root()));
            }
        }
    }
}
