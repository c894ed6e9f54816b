//! The log writer's filter of the ids it holds: a blocked Bloom filter in memory, built
//! by the first lookup of many ids (from the pass over the index entries that lookup
//! makes anyway) and kept up to date by every commit, so that the duplicate check of each
//! later batch costs in proportion to the batch, not to the log.
//!
//! A filter answers "may hold" or "does not hold": an id it does not hold is certainly not
//! in the log (every committed id was added), one it may hold is looked up in the index,
//! whose candidates the caller confirms against the stored envelope as before. Bits set
//! for a commit that then failed only add false positives. Nothing of it is persisted: a
//! new writer builds its own.
//!
//! The views use the same filter for the txn ids of `txnids.idx` (validation's check that
//! a new transaction's id is unused), built and kept up to date from that file's entries.
//!
//! Each id sets eight bits in one 64-byte block (one bit in each 64-bit word), so a
//! lookup reads one cache line. A filter has room for the next power of two of the ids it
//! starts with, at 16 bits an id (about 0.1% false positives when it is full, fewer
//! before); past its room the writer drops it and the next lookup of many ids builds one
//! with twice the room. Its memory is 2 to 4 bytes per id of the log (16.8 MB at 8M
//! events), and the passes that build the filters of a growing log read its entries about
//! twice in all. The room stops growing at [`MAX_ROOM`] ids (64 MiB), so that a writer's
//! memory stays bounded whatever the log's size: past it the filter is kept and its false
//! positives rise (a few percent at twice its room), each costing a walk of an id bucket.

use crate::fast::fmix64;

/// Words of a block: one cache line.
const BLOCK_WORDS: usize = 8;
/// Bits of the filter per id of its room.
const BITS_PER_ID: u64 = 16;
/// The least room of a filter, in ids (128 KiB).
const MIN_ROOM: u64 = 1 << 16;
/// The most room of a filter, in ids (64 MiB); see [`IdFilter::for_ids_up_to`].
const MAX_ROOM: u64 = 1 << 25;
/// Mixed into an id's key hash for the bits within its block (the block comes from the
/// key hash's top bits).
const BIT_SALT: u64 = 0x5851_f42d_4c95_7f2d;

/// See the module documentation.
#[derive(Debug)]
pub struct IdFilter {
    blocks: Vec<[u64; BLOCK_WORDS]>,
    /// log2 of the block count.
    block_bits: u32,
    /// Ids added so far (with repeats).
    ids: u64,
    /// Ids past which the filter answers "may hold" too often.
    room: u64,
    /// The most room a filter built again may have.
    room_max: u64,
}

impl IdFilter {
    /// An empty filter with room for at least `ids` ids (the next power of two), at most
    /// [`MAX_ROOM`].
    pub fn for_ids(ids: u64) -> IdFilter {
        IdFilter::for_ids_up_to(ids, MAX_ROOM)
    }

    /// [`IdFilter::for_ids`] with room for at most `room_max` ids (a power of two, at most
    /// [`MAX_ROOM`]): past it the filter is kept and answers "may hold" more often.
    pub fn for_ids_up_to(ids: u64, room_max: u64) -> IdFilter {
        let room_max = room_max.clamp(MIN_ROOM, MAX_ROOM).next_power_of_two();
        let room = ids.clamp(MIN_ROOM, room_max).next_power_of_two();
        let blocks = room * BITS_PER_ID / (64 * BLOCK_WORDS as u64);
        IdFilter {
            blocks: vec![[0u64; BLOCK_WORDS]; blocks as usize],
            block_bits: blocks.trailing_zeros(),
            ids: 0,
            room,
            room_max,
        }
    }

    /// The block of an id's key hash, and the bit each of its words must have.
    fn place(&self, hash: u64) -> (usize, [u64; BLOCK_WORDS]) {
        let block = if self.block_bits == 0 {
            0
        } else {
            (hash >> (64 - self.block_bits)) as usize
        };
        let bits = fmix64(hash ^ BIT_SALT);
        let mut mask = [0u64; BLOCK_WORDS];
        for (i, word) in mask.iter_mut().enumerate() {
            *word = 1 << ((bits >> (6 * i)) & 63);
        }
        (block, mask)
    }

    /// Adds an id's key hash (any well-mixed 64-bit hash of the id).
    pub fn insert(&mut self, hash: u64) {
        let (block, mask) = self.place(hash);
        for (word, bit) in self.blocks[block].iter_mut().zip(mask) {
            *word |= bit;
        }
        self.ids += 1;
    }

    /// False when no id with this key hash was added.
    pub fn may_hold(&self, hash: u64) -> bool {
        let (block, mask) = self.place(hash);
        self.blocks[block]
            .iter()
            .zip(mask)
            .all(|(word, bit)| word & bit != 0)
    }

    /// True once the filter holds more ids than it has room for and a larger one may be
    /// built: it is to be built again.
    pub fn is_outgrown(&self) -> bool {
        self.ids > self.room && self.room < self.room_max
    }

    /// Bytes of memory the filter takes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK_WORDS * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::key_hash;

    /// Adds `ids` key hashes of held ids, checks each is held, and returns the share of
    /// a million other ids the filter says it may hold.
    fn false_positives(filter: &mut IdFilter, ids: u64) -> f64 {
        for i in 0..ids {
            filter.insert(key_hash(&format!("line-{i}-held")));
        }
        for i in 0..ids {
            assert!(
                filter.may_hold(key_hash(&format!("line-{i}-held"))),
                "id {i}"
            );
        }
        let others = 1_000_000u64;
        let seeming = (0..others)
            .filter(|i| filter.may_hold(key_hash(&format!("line-{i}-new"))))
            .count();
        seeming as f64 / others as f64
    }

    #[test]
    fn every_id_added_is_held_and_few_others_seem_to_be() {
        let mut filter = IdFilter::for_ids(300_000);
        assert_eq!(filter.room, 1 << 19);
        assert_eq!(filter.bytes(), (1 << 19) * 2);
        let share = false_positives(&mut filter, 300_000);
        assert!(!filter.is_outgrown());
        assert!(share < 0.0005, "{share} of other ids seem held");
    }

    #[test]
    fn a_full_filter_still_answers_well() {
        let mut filter = IdFilter::for_ids(0);
        assert_eq!(filter.room, MIN_ROOM);
        let share = false_positives(&mut filter, MIN_ROOM);
        assert!(!filter.is_outgrown());
        assert!(share < 0.002, "{share} of other ids seem held");
        filter.insert(1);
        assert!(filter.is_outgrown());
        // Built again for the ids it held, it has twice the room.
        assert_eq!(IdFilter::for_ids(MIN_ROOM + 1).room, 2 * MIN_ROOM);
    }

    /// A filter built with a smaller most room stops growing there, and past its room
    /// answers "may hold" more often, in step with how far past it is (the txn ids'
    /// filter of the views counts on these shares).
    #[test]
    fn a_filter_of_a_smaller_most_room_is_kept_past_it() {
        let mut filter = IdFilter::for_ids_up_to(u64::MAX / 2, MIN_ROOM);
        assert_eq!(filter.room, MIN_ROOM);
        let share = false_positives(&mut filter, MIN_ROOM + MIN_ROOM / 4);
        assert!(!filter.is_outgrown());
        assert!(
            share < 0.005,
            "{share} of other ids seem held at 1.25 times the room"
        );
        let mut filter = IdFilter::for_ids_up_to(0, MIN_ROOM);
        let share = false_positives(&mut filter, MIN_ROOM * 5 / 2);
        assert!(!filter.is_outgrown());
        assert!(
            share < 0.1,
            "{share} of other ids seem held at 2.5 times the room"
        );
        assert!(share > 0.01, "{share}: the bound did not hold the room");
    }

    #[test]
    fn the_room_stops_growing_at_its_most() {
        let mut filter = IdFilter::for_ids(u64::MAX / 2);
        assert_eq!(filter.room, MAX_ROOM);
        assert_eq!(filter.bytes(), 64 << 20);
        // Past its room a filter of the most room is kept: it answers for every id it
        // took, with more false positives.
        filter.ids = MAX_ROOM;
        filter.insert(7);
        assert!(!filter.is_outgrown());
        assert!(filter.may_hold(7));
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = IdFilter::for_ids(10);
        assert!((0..10_000u64).all(|i| !filter.may_hold(key_hash(&i.to_string()))));
    }
}
