//! The generator's compact model of the ledger: just enough to keep every event valid.
//! Its size is bounded by the number of accounts, people and their active relations.

/// An index-set of `u32` with O(1) insert, remove and random pick.
#[derive(Clone, Debug, Default)]
pub struct Pool {
    items: Vec<u32>,
    pos: Vec<u32>,
}

const ABSENT: u32 = u32::MAX;

impl Pool {
    pub fn insert(&mut self, x: u32) {
        let i = x as usize;
        if self.pos.len() <= i {
            self.pos.resize(i + 1, ABSENT);
        }
        if self.pos[i] == ABSENT {
            self.pos[i] = self.items.len() as u32;
            self.items.push(x);
        }
    }

    pub fn remove(&mut self, x: u32) {
        let i = x as usize;
        let Some(&p) = self.pos.get(i) else { return };
        if p == ABSENT {
            return;
        }
        let last = self.items.pop().expect("pool position implies an item");
        if last != x {
            self.items[p as usize] = last;
            self.pos[last as usize] = p;
        }
        self.pos[i] = ABSENT;
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, k: usize) -> u32 {
        self.items[k]
    }

    pub fn items(&self) -> &[u32] {
        &self.items
    }
}

/// What the generator knows of one account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: Box<str>,
    pub stem: u32,
    pub country: u8,
    pub currency: u8,
    pub scope: u8,
    pub status: u8,
    pub parent: Option<u32>,
    /// Latest valid time of any non-transaction event naming the account (or ending its
    /// team): a back-dated event on the account must not precede it.
    pub eff_us: i64,
    /// Latest valid time of its opening or a status change.
    pub status_eff_us: i64,
    /// Latest valid time of a transaction or reversal on it.
    pub tx_eff_us: i64,
    /// Active assignments (person, role).
    pub team: Vec<(u32, u8)>,
    pub primary: Option<(u32, u8)>,
    /// Active contacts (numbers of `ct-<n>`).
    pub contacts: Vec<u64>,
    /// Recent transactions not yet reversed (txn number), at most [`RECENT_TXNS_MAX`].
    pub recent_txns: Vec<u64>,
    /// Classification: model index + 1 (0 = none) and category index.
    pub model: u8,
    pub category: u8,
}

/// Transactions remembered per account as candidates for a reversal.
pub const RECENT_TXNS_MAX: usize = 3;
/// Largest team the generator builds on one account.
pub const TEAM_MAX: usize = 10;
/// Most contacts the generator keeps on one account.
pub const CONTACTS_MAX: usize = 8;

/// What the generator knows of one person.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: Box<str>,
    pub kind: u8,
    pub left: bool,
    /// Latest valid time of any event naming the person (as person or manager) or ending
    /// one of the person's relations.
    pub eff_us: i64,
    /// Active assignments (account, role).
    pub assignments: Vec<(u32, u8)>,
    pub solid: Option<u32>,
    pub dotted: Vec<u32>,
    /// People with an active line (either kind) to this person.
    pub reports: Vec<u32>,
}

/// Follow-up work queued by an event, done a little later.
#[derive(Clone, Copy, Debug)]
pub enum Task {
    /// Give the account a primary if it has none.
    Primary(u32),
    /// Add this many more team members.
    Team(u32, u8),
    /// Add this many contacts.
    Contacts(u32, u8),
    Classify(u32),
    /// Unassign this (non-primary) member if still assigned.
    Unassign(u32, u32, u8),
    /// Give the person a solid line if it has none.
    Solid(u32),
    /// Add a dotted line to a global account manager.
    Dotted(u32),
}

pub fn remove_first<T: PartialEq>(v: &mut Vec<T>, x: &T) -> bool {
    match v.iter().position(|y| y == x) {
        Some(i) => {
            v.swap_remove(i);
            true
        }
        None => false,
    }
}
