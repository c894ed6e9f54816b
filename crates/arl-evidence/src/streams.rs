//! The stream map: what each checkpoint commits to so that leaving an event out is seen.
//!
//! The fold reads the log through a few lists per entity (the [`arl_fold::Source`]
//! methods). Each such list is a **stream part**, named by a key:
//!
//! | key | the envelopes in it |
//! |---|---|
//! | `account/<id>#hier` | `account.opened`, `account.parent_changed`, `account.status_changed` of the account |
//! | `account/<id>#rest` | the account's other non-transaction events (renamed, scope, classified, team, contact) |
//! | `account/<id>#txns` | the account's `transaction.*` events |
//! | `account/<id>#children` | `account.opened` and `account.parent_changed` of other accounts naming it as parent |
//! | `person/<id>#life` | `person.joined`, `person.left` |
//! | `person/<id>#lines` | `reporting.*` events whose subject is the person |
//! | `person/<id>#teams` | `team.*` events that name the person |
//!
//! Every envelope is in one part of its subject stream and, when it names a parent or a
//! person, in one more. The map's leaves are the non-empty parts sorted by key, each with the
//! number of envelopes in it and a running hash over them in seq order:
//! `running_0 = 32 zero bytes`, `running_i = blake3(running_{i-1} ‖ seq_i (u64 BE) ‖ hash_i)`.
//! Leaf hash: `blake3(0x00 ‖ len(key) (u32 BE) ‖ key ‖ count (u64 BE) ‖ running)`; the tree
//! over the leaves is RFC 6962's, as the log's. A present part is proven by its leaf and
//! audit path; an absent part by the two neighbouring leaves (or the one at an end).

use crate::merkle::{
    leaf_hash, multiproof_ranges, path_ranges, root_from_leaves, verify_inclusion, Hash, LeafRange,
    Tree,
};
use crate::JsonHash;
use arl_domain::Event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The running hash of an empty part.
pub const RUNNING_EMPTY: Hash = [0; 32];

/// The keys of the stream parts an event belongs to (one to three).
pub fn keys_of(event: &Event) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    if matches!(event, Event::SubjectErased(_)) {
        // An erasure's audit record is on no list the fold reads.
        return keys;
    }
    if let Some(account) = event.account() {
        let part = if event.is_transaction() {
            "txns"
        } else if arl_fold::subset::is_hierarchy(event) {
            "hier"
        } else {
            "rest"
        };
        keys.push(format!("account/{account}#{part}"));
        let parent = match event {
            Event::AccountOpened(d) => d.parent.as_deref(),
            Event::ParentChanged(d) => d.parent.as_deref(),
            _ => None,
        };
        if let Some(parent) = parent {
            keys.push(format!("account/{parent}#children"));
        }
        if let Some(person) = event.person() {
            keys.push(format!("person/{person}#teams"));
        }
    } else {
        let person = event.person().unwrap_or_default();
        let part = match event {
            Event::PersonJoined(_) | Event::PersonLeft(_) => "life",
            _ => "lines",
        };
        keys.push(format!("person/{person}#{part}"));
    }
    keys
}

/// The running hash after one more envelope.
pub fn running_next(running: &Hash, seq: u64, hash: &Hash) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(running);
    h.update(&seq.to_be_bytes());
    h.update(hash);
    *h.finalize().as_bytes()
}

/// One leaf of the map: a non-empty stream part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapLeaf {
    pub key: String,
    pub count: u64,
    pub running: JsonHash,
}

impl MapLeaf {
    /// The leaf's hash in the map's tree.
    pub fn hash(&self) -> Hash {
        let key = self.key.as_bytes();
        let mut data = Vec::with_capacity(4 + key.len() + 8 + 32);
        data.extend_from_slice(&(key.len() as u32).to_be_bytes());
        data.extend_from_slice(key);
        data.extend_from_slice(&self.count.to_be_bytes());
        data.extend_from_slice(&self.running.0);
        leaf_hash(&data)
    }
}

/// The stream map as it grows: every part's count and running hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMap {
    /// Envelopes `1..=size` are in it.
    pub size: u64,
    pub parts: BTreeMap<String, (u64, Hash)>,
}

impl StreamMap {
    /// Adds the next envelope of the log (seq `size + 1`).
    pub fn push(&mut self, seq: u64, hash: &Hash, event: &Event) {
        assert_eq!(seq, self.size + 1, "envelopes come in seq order");
        for key in keys_of(event) {
            let entry = self.parts.entry(key).or_insert((0, RUNNING_EMPTY));
            entry.0 += 1;
            entry.1 = running_next(&entry.1, seq, hash);
        }
        self.size = seq;
    }

    /// The map's tree, ready to prove.
    pub fn snapshot(&self) -> MapSnapshot {
        let leaves: Vec<MapLeaf> = self
            .parts
            .iter()
            .map(|(key, (count, running))| MapLeaf {
                key: key.clone(),
                count: *count,
                running: JsonHash(*running),
            })
            .collect();
        let tree = Tree::new(leaves.iter().map(MapLeaf::hash).collect());
        MapSnapshot { leaves, tree }
    }
}

/// A leaf with its place and audit path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub index: u64,
    pub leaf: MapLeaf,
    /// Its audit path (bundle format 1; format 2 proves all members together with one
    /// multiproof, [`MapSnapshot::multiproof`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<JsonHash>,
}

/// A proof that a part is in the map (with its count and running hash) or is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapProof {
    Present(Member),
    Absent {
        key: String,
        left: Option<Member>,
        right: Option<Member>,
    },
}

/// What a map proof proves about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proven {
    pub count: u64,
    pub running: Hash,
}

impl MapProof {
    /// The key the proof is about.
    pub fn key(&self) -> &str {
        match self {
            MapProof::Present(member) => &member.leaf.key,
            MapProof::Absent { key, .. } => key,
        }
    }

    /// The members it names (one when present, the neighbours when absent).
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        let (one, left, right) = match self {
            MapProof::Present(member) => (Some(member), None, None),
            MapProof::Absent { left, right, .. } => (None, left.as_ref(), right.as_ref()),
        };
        one.into_iter().chain(left).chain(right)
    }

    /// Checks the proof against the map's size and root, each member by its own audit path
    /// (format 1): the part's count and running hash (zero and [`RUNNING_EMPTY`] when
    /// absent), or `None` when it does not verify.
    pub fn verify(&self, size: u64, root: &Hash) -> Option<Proven> {
        let holds = |m: &Member| {
            let path: Vec<Hash> = m.path.iter().map(|h| h.0).collect();
            verify_inclusion(&m.leaf.hash(), m.index, size, &path, root)
        };
        self.members()
            .all(holds)
            .then(|| self.claim(size))
            .flatten()
    }

    /// What the proof says, once its members are known to be leaves of the map of `size`
    /// leaves at their indices: present with a count, or absent between two adjacent
    /// neighbours (or beyond an end).
    pub fn claim(&self, size: u64) -> Option<Proven> {
        match self {
            MapProof::Present(m) => (m.leaf.count > 0).then_some(Proven {
                count: m.leaf.count,
                running: m.leaf.running.0,
            }),
            MapProof::Absent { key, left, right } => {
                let left_ok = match left {
                    Some(m) => m.leaf.key.as_str() < key.as_str(),
                    None => right.as_ref().is_some_and(|r| r.index == 0) || size == 0,
                };
                let right_ok = match right {
                    Some(m) => m.leaf.key.as_str() > key.as_str(),
                    None => left.as_ref().is_some_and(|l| l.index + 1 == size) || size == 0,
                };
                let adjacent = match (left, right) {
                    (Some(l), Some(r)) => l.index + 1 == r.index,
                    _ => true,
                };
                (left_ok && right_ok && adjacent).then_some(Proven {
                    count: 0,
                    running: RUNNING_EMPTY,
                })
            }
        }
    }
}

/// The map's leaves in key order and their tree.
#[derive(Debug, Clone)]
pub struct MapSnapshot {
    leaves: Vec<MapLeaf>,
    tree: Tree,
}

impl MapSnapshot {
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The root.
    pub fn root(&self) -> Hash {
        self.tree.root()
    }

    fn member(&self, index: usize, with_path: bool) -> Member {
        let path = if with_path {
            self.tree
                .path(index as u64)
                .into_iter()
                .map(JsonHash)
                .collect()
        } else {
            Vec::new()
        };
        Member {
            index: index as u64,
            leaf: self.leaves[index].clone(),
            path,
        }
    }

    /// The proof for `key`, present or absent, each member with its audit path (format 1).
    pub fn prove(&self, key: &str) -> MapProof {
        self.prove_member(key, true)
    }

    /// The proof for `key` without audit paths: its members are proven together with the
    /// other parts' by [`MapSnapshot::multiproof`] (format 2).
    pub fn prove_without_path(&self, key: &str) -> MapProof {
        self.prove_member(key, false)
    }

    fn prove_member(&self, key: &str, with_path: bool) -> MapProof {
        match self
            .leaves
            .binary_search_by(|leaf| leaf.key.as_str().cmp(key))
        {
            Ok(index) => MapProof::Present(self.member(index, with_path)),
            Err(index) => MapProof::Absent {
                key: key.to_string(),
                left: index.checked_sub(1).map(|i| self.member(i, with_path)),
                right: (index < self.leaves.len()).then(|| self.member(index, with_path)),
            },
        }
    }

    /// The multiproof of the leaves at `indices` (sorted, distinct): the roots of the
    /// largest subtrees holding none of them, taken from the leaves' audit paths.
    pub fn multiproof(&self, indices: &[u64]) -> Vec<JsonHash> {
        let size = self.size();
        let mut known: BTreeMap<LeafRange, Hash> = BTreeMap::new();
        for &index in indices {
            known.extend(
                path_ranges(index, size)
                    .into_iter()
                    .zip(self.tree.path(index)),
            );
        }
        multiproof_ranges(indices, size)
            .into_iter()
            .map(|range| JsonHash(known[&range]))
            .collect()
    }
}

/// Format 2: the members that `proofs` name (the same index must name the same leaf) and
/// `nodes` give the map's `root`.
pub fn members_in_map(proofs: &[MapProof], size: u64, root: &Hash, nodes: &[Hash]) -> bool {
    let mut leaves: BTreeMap<u64, Hash> = BTreeMap::new();
    for member in proofs.iter().flat_map(MapProof::members) {
        if !member.path.is_empty() {
            return false;
        }
        let hash = member.leaf.hash();
        if *leaves.entry(member.index).or_insert(hash) != hash {
            return false;
        }
    }
    let leaves: Vec<(u64, Hash)> = leaves.into_iter().collect();
    root_from_leaves(&leaves, size, nodes) == Some(*root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_and_absent_keys_are_proven_and_lies_are_not() {
        for size in 0..12usize {
            let mut map = StreamMap::default();
            for i in 0..size {
                let key = format!("k{:02}", i * 2);
                map.parts.insert(key, (i as u64 + 1, [i as u8; 32]));
            }
            let snapshot = map.snapshot();
            let (n, root) = (snapshot.size(), snapshot.root());
            for probe in 0..(size * 2 + 2) {
                let key = format!("k{probe:02}");
                let proof = snapshot.prove(&key);
                let proven = proof.verify(n, &root).expect("honest proof verifies");
                let present = probe % 2 == 0 && probe / 2 < size;
                assert_eq!(proven.count > 0, present, "{key} in {size}");
                // Claiming a present key absent (by hiding it between its neighbours) fails.
                if let MapProof::Present(member) = &proof {
                    let i = member.index as usize;
                    let lie = MapProof::Absent {
                        key: key.clone(),
                        left: i.checked_sub(1).map(|i| snapshot.member(i, true)),
                        right: (i + 1 < size).then(|| snapshot.member(i + 1, true)),
                    };
                    assert_eq!(lie.verify(n, &root), None, "{key} hidden in {size}");
                }
            }
        }
    }
}
