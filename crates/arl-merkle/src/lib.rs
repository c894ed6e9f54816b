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
