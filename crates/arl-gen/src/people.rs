//! Staff events: joining, leaving, reporting lines; and made-up names.

use crate::ops::{T_JOINED, T_LEFT, T_LINE_ENDED, T_LINE_SET};
use crate::state::{remove_first, Person, Task};
use crate::time::push_u64;
use crate::vocab::*;
use crate::Generator;

const ACTOR_HR: &str = "hr-feed";
/// Fewest people of one kind the generator keeps on staff.
const KIND_STAFF_MIN: usize = 2;
/// Most dotted lines one person gets.
const DOTTED_MAX: usize = 3;

/// splitmix64's finaliser: a fixed hash of one number.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Appends `syllables` syllables chosen by `bits`, the first letter upper case if asked.
fn push_syllables(buf: &mut String, bits: u64, syllables: u32, capital: bool) {
    for i in 0..syllables {
        let s = SYLLABLES[(bits >> (5 * i)) as usize % SYLLABLES.len()];
        if i == 0 && capital {
            let mut chars = s.chars();
            if let Some(c) = chars.next() {
                buf.push(c.to_ascii_uppercase());
            }
            buf.push_str(chars.as_str());
        } else {
            buf.push_str(s);
        }
    }
}

/// A name part of 2 or `max` syllables.
pub(crate) fn push_capitalised(buf: &mut String, bits: u64, max: u32) {
    let n = if max > 2 && bits & (1 << 40) != 0 {
        max
    } else {
        2
    };
    push_syllables(buf, bits, n, true);
}

/// The made-up company name of a stem (2 or 3 syllables).
pub(crate) fn push_stem(buf: &mut String, stem: u32, capital: bool) {
    let bits = mix(u64::from(stem));
    let n = if bits & (1 << 40) != 0 { 3 } else { 2 };
    push_syllables(buf, bits, n, capital);
}

impl Generator {
    /// A number fixed by the seed and `x`.
    pub(crate) fn seed_mix(&self, x: u64) -> u64 {
        mix(self.config.seed ^ mix(x))
    }

    /// The kind the staff lacks most: any kind with nobody first, then by share.
    fn kind_to_hire(&self) -> u8 {
        if let Some(k) = self
            .staff_by_kind
            .iter()
            .position(super::state::Pool::is_empty)
        {
            return k as u8;
        }
        let total = self.staff.len() as i64 + 1;
        let mut best = (i64::MIN, 0u8);
        for (k, share) in KIND_SHARE_PER_MILLE.iter().enumerate() {
            let deficit = *share as i64 * total - self.staff_by_kind[k].len() as i64 * 1000;
            if deficit > best.0 {
                best = (deficit, k as u8);
            }
        }
        best.1
    }

    pub(crate) fn person_join(&mut self) -> bool {
        let p = self.people.len() as u32;
        let kind = self.kind_to_hire();
        let bits = self.seed_mix(u64::from(p) ^ 0x5EED);
        let eff = self.eff_now(i64::MIN, 500);
        let mut id = String::with_capacity(24);
        push_syllables(&mut id, bits, 2, false);
        id.push('.');
        push_syllables(&mut id, bits >> 20, 2, false);
        id.push('-');
        push_u64(&mut id, u64::from(p));
        self.begin(T_JOINED);
        self.line.str("person", &id);
        let buf = self.line.open_str("name");
        push_syllables(buf, bits, 2, true);
        buf.push(' ');
        push_syllables(buf, bits >> 20, 2, true);
        self.line.close_str();
        self.line.str("title", KIND_TITLES[kind as usize]);
        self.finish(eff, ACTOR_HR, None);
        self.people.push(Person {
            id: id.into_boxed_str(),
            kind,
            left: false,
            eff_us: eff.us(),
            assignments: Vec::new(),
            solid: None,
            dotted: Vec::new(),
            reports: Vec::new(),
        });
        self.staff.insert(p);
        self.staff_by_kind[kind as usize].insert(p);
        if tier(kind) > 0 {
            self.tasks.push_back(Task::Solid(p));
        }
        if (kind == KIND_NATIONAL || kind == KIND_KEY) && self.rng.chance(700) {
            self.tasks.push_back(Task::Dotted(p));
        }
        true
    }

    pub(crate) fn person_leave(&mut self) -> bool {
        if self.staff.is_empty() {
            return false;
        }
        let p = self
            .staff
            .get(self.rng.below(self.staff.len() as u64) as usize);
        let (kind, min_us) = {
            let person = &self.people[p as usize];
            (person.kind, person.eff_us)
        };
        if self.staff_by_kind[kind as usize].len() <= KIND_STAFF_MIN {
            return false;
        }
        let late = self.rng.chance(300);
        let eff = match late.then(|| self.eff_late(min_us, 21)).flatten() {
            Some(eff) => eff,
            None => self.eff_now(min_us, 500),
        };
        let reason = if self.now_us - eff.us() > crate::time::DAY_US {
            Some("recorded late: notice arrived after the last day")
        } else {
            self.rng
                .chance(400)
                .then(|| self.rng.pick(&["resigned", "retired", "contract ended"]))
        };
        self.begin(T_LEFT);
        self.line.str("person", &self.people[p as usize].id);
        self.finish(eff, ACTOR_HR, reason);
        self.apply_leave(p, eff.us());
        true
    }

    /// Ends every assignment and reporting line of `p`, as `person.left` does.
    fn apply_leave(&mut self, p: u32, eff_us: i64) {
        let person = &mut self.people[p as usize];
        person.left = true;
        person.eff_us = person.eff_us.max(eff_us);
        let kind = person.kind;
        let assignments = std::mem::take(&mut person.assignments);
        let solid = person.solid.take();
        let dotted = std::mem::take(&mut person.dotted);
        let reports = std::mem::take(&mut person.reports);
        self.staff.remove(p);
        self.staff_by_kind[kind as usize].remove(p);
        for (a, role) in assignments {
            let acct = &mut self.accounts[a as usize];
            remove_first(&mut acct.team, &(p, role));
            acct.eff_us = acct.eff_us.max(eff_us);
            if acct.primary == Some((p, role)) {
                acct.primary = None;
                self.tasks.push_back(Task::Primary(a));
            }
        }
        for m in solid.into_iter().chain(dotted) {
            let manager = &mut self.people[m as usize];
            remove_first(&mut manager.reports, &p);
            manager.eff_us = manager.eff_us.max(eff_us);
        }
        for s in reports {
            let sub = &mut self.people[s as usize];
            sub.eff_us = sub.eff_us.max(eff_us);
            if sub.solid == Some(p) {
                sub.solid = None;
                self.tasks.push_back(Task::Solid(s));
            } else {
                remove_first(&mut sub.dotted, &p);
            }
        }
    }

    fn pick_staff_of(&mut self, kind: u8) -> Option<u32> {
        let pool = &self.staff_by_kind[kind as usize];
        if pool.is_empty() {
            return None;
        }
        Some(pool.get(self.rng.below(pool.len() as u64) as usize))
    }

    /// Gives `p` a solid line to an account director if it has none.
    pub(crate) fn set_solid(&mut self, p: u32) -> bool {
        let person = &self.people[p as usize];
        if person.left || person.solid.is_some() || tier(person.kind) == 0 {
            return false;
        }
        match self.pick_staff_of(KIND_DIRECTOR) {
            Some(m) => self.line_set(p, m, true),
            None => false,
        }
    }

    /// Adds a dotted line from `p` to a global account manager.
    pub(crate) fn set_dotted(&mut self, p: u32) -> bool {
        let person = &self.people[p as usize];
        if person.left || tier(person.kind) < 2 || person.dotted.len() >= DOTTED_MAX {
            return false;
        }
        match self.pick_staff_of(KIND_GLOBAL) {
            Some(m) => self.line_set(p, m, false),
            None => false,
        }
    }

    /// Sets the line `p` → `m`; tiers make a cycle impossible.
    fn line_set(&mut self, p: u32, m: u32, solid: bool) -> bool {
        let (person, manager) = (&self.people[p as usize], &self.people[m as usize]);
        debug_assert!(tier(manager.kind) < tier(person.kind) && !manager.left);
        if person.solid == Some(m) || person.dotted.contains(&m) {
            return false;
        }
        let old = if solid { person.solid } else { None };
        let mut min_us = person.eff_us.max(manager.eff_us);
        if let Some(o) = old {
            min_us = min_us.max(self.people[o as usize].eff_us);
        }
        let eff = self.eff_now(min_us, 500);
        self.begin(T_LINE_SET);
        self.line.str("person", &self.people[p as usize].id);
        self.line.str("manager", &self.people[m as usize].id);
        self.line
            .str("line", if solid { "solid" } else { "dotted" });
        let reason =
            (!solid && self.rng.chance(300)).then_some("matrix: global account coordination");
        self.finish(eff, ACTOR_HR, reason);
        if let Some(o) = old {
            let previous = &mut self.people[o as usize];
            remove_first(&mut previous.reports, &p);
            previous.eff_us = previous.eff_us.max(eff.us());
        }
        let person = &mut self.people[p as usize];
        if solid {
            person.solid = Some(m);
        } else {
            person.dotted.push(m);
        }
        person.eff_us = person.eff_us.max(eff.us());
        let manager = &mut self.people[m as usize];
        manager.reports.push(p);
        manager.eff_us = manager.eff_us.max(eff.us());
        true
    }

    fn line_end(&mut self, p: u32, m: u32) -> bool {
        let min_us = self.people[p as usize]
            .eff_us
            .max(self.people[m as usize].eff_us);
        let eff = self.eff_now(min_us, 500);
        self.begin(T_LINE_ENDED);
        self.line.str("person", &self.people[p as usize].id);
        self.line.str("manager", &self.people[m as usize].id);
        self.finish(eff, ACTOR_HR, None);
        let person = &mut self.people[p as usize];
        if person.solid == Some(m) {
            person.solid = None;
            self.tasks.push_back(Task::Solid(p));
        } else {
            remove_first(&mut person.dotted, &m);
        }
        person.eff_us = person.eff_us.max(eff.us());
        let manager = &mut self.people[m as usize];
        remove_first(&mut manager.reports, &p);
        manager.eff_us = manager.eff_us.max(eff.us());
        true
    }

    /// A change of manager, a new matrix line or the end of one.
    pub(crate) fn reporting_change(&mut self) -> bool {
        if self.staff.is_empty() {
            return false;
        }
        let p = self
            .staff
            .get(self.rng.below(self.staff.len() as u64) as usize);
        let r = self.rng.below(100);
        let (solid, first_dotted) = {
            let person = &self.people[p as usize];
            (person.solid, person.dotted.first().copied())
        };
        match (r, solid, first_dotted) {
            (0..50, Some(current), _) => match self.pick_staff_of(KIND_DIRECTOR) {
                Some(m) if m != current => self.line_set(p, m, true),
                _ => false,
            },
            (50..75, _, _) => self.set_dotted(p),
            (75.., _, Some(m)) => self.line_end(p, m),
            _ => false,
        }
    }
}
