//! `arl-gen`: one deterministic, realistic workload generator for the demo, the benchmark
//! and the tests.
//!
//! [`Generator`] is an [`Iterator`] of input lines (CONTRACT §2, with `recorded_at`, for
//! `arl append --imported`). The whole output is fixed by [`Config`] (event count and
//! seed): the crate carries its own PRNG ([`rng::Rng`]) and uses integer arithmetic only.
//! It streams: memory grows with the number of accounts and people, never with events.
//! Every line is valid when appended in order, against the state as of its `effective_at`
//! (CONTRACT §3), including the ~2% of events recorded late.
//!
//! How validity is kept: an event at its record time sees the generator's current state.
//! An event dated earlier (a date at midnight of the same day, or days back) is only
//! written when no earlier line touching the same account or person has a later
//! `effective_at` (each account and person remembers the latest one), so its effect
//! commutes with everything recorded before it: it is valid at append, it turns no
//! earlier line invalid in the (`effective_at`, line) fold, and the current state stays
//! exact. Parent changes are never back-dated; reporting lines only point from a lower
//! tier (sales, national, key account) to a higher one (global account manager, account
//! director), so they cannot form a cycle.
//!
//! Main types: [`Config`] (scale knobs derived from the event count), [`Generator`],
//! [`Stats`]. `tests/replay.rs` replays the output against an independent rule model.
//!
//! ```
//! let lines: Vec<String> = arl_gen::Generator::new(arl_gen::Config::new(5, 42)).collect();
//! assert_eq!(lines.len(), 5);
//! assert!(lines[0].starts_with(r#"{"type":"person.joined""#));
//! assert!(lines.iter().all(|l| l.contains(r#""recorded_at":"2020-"#)));
//! ```

mod line;
mod ops;
mod people;
pub mod rng;
mod state;
pub mod time;
mod txns;
pub mod vocab;

use std::collections::VecDeque;

use line::{Eff, Line};
use rng::Rng;
use state::{Account, Person, Pool, Task};
use time::{days_from_civil, OfficeClock, DAY_US};

/// Event types, in the order used by [`Stats::by_type`].
pub const EVENT_TYPES: [&str; 16] = [
    "account.opened",
    "account.renamed",
    "account.parent_changed",
    "account.scope_changed",
    "account.classified",
    "account.status_changed",
    "person.joined",
    "person.left",
    "team.assigned",
    "team.unassigned",
    "reporting.line_set",
    "reporting.line_ended",
    "contact.added",
    "contact.removed",
    "transaction.recorded",
    "transaction.reversed",
];

/// What to generate. [`Config::new`] derives every scale knob from the event count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of lines to generate.
    pub events: u64,
    pub seed: u64,
    /// First day of the history (year, month, day), default 2020-01-01.
    pub start_date: (i32, u32, u32),
    /// Days the history spans; default grows with `events`, capped by `end_date`.
    pub days: u32,
    /// No `recorded_at` reaches this day (exclusive), default 2026-06-30.
    pub end_date: (i32, u32, u32),
    /// Accounts opened over the history, default `events / 300` in `[20, 30000]`.
    pub accounts: u32,
    /// Staff size aimed at, default `events / 3000` in `[16, 3000]`.
    pub people: u32,
    /// Share of transactions recorded late (days or weeks back), per mille; default 20.
    pub late_per_mille: u32,
}

/// Default first day of the history.
pub const START_DATE_DEFAULT: (i32, u32, u32) = (2020, 1, 1);
/// Default bound on the history: well before today.
pub const END_DATE_DEFAULT: (i32, u32, u32) = (2026, 6, 30);
const DAYS_MIN: u64 = 90;

impl Config {
    pub fn new(events: u64, seed: u64) -> Config {
        let mut config = Config {
            events,
            seed,
            start_date: START_DATE_DEFAULT,
            days: 0,
            end_date: END_DATE_DEFAULT,
            accounts: (events / 300).clamp(20, 30_000) as u32,
            people: (events / 3000).clamp(16, 3000) as u32,
            late_per_mille: 20,
        };
        config.days = config.days_max().min(DAYS_MIN + events / 500) as u32;
        config
    }

    /// Days between `start_date` and `end_date`.
    pub fn days_max(&self) -> u64 {
        let (y, m, d) = self.start_date;
        let (ey, em, ed) = self.end_date;
        (days_from_civil(ey, em, ed) - days_from_civil(y, m, d)).max(1) as u64
    }
}

/// Counts of what was generated so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines per event type, indexed like [`EVENT_TYPES`].
    pub by_type: [u64; 16],
    /// Lines whose `effective_at` lies more than a day before their `recorded_at`.
    pub late: u64,
}

/// The generator: an iterator of exactly `config.events` lines.
pub struct Generator {
    config: Config,
    rng: Rng,
    clock: OfficeClock,
    office_us: i64,
    office_step_us: i64,
    now_us: i64,
    emitted: u64,
    line: Line,
    stats: Stats,
    accounts: Vec<Account>,
    people: Vec<Person>,
    tasks: VecDeque<Task>,
    /// Accounts by status (active, prospect, paused = on hold or dormant, closed), open
    /// (not closed), and open by scope (global, national).
    active: Pool,
    prospects: Pool,
    paused: Pool,
    closed: Pool,
    open: Pool,
    globals: Pool,
    nationals: Pool,
    /// People who have not left, all and by kind.
    staff: Pool,
    staff_by_kind: Vec<Pool>,
    next_txn: u64,
    next_contact: u64,
    next_stem: u32,
}

impl Generator {
    pub fn new(config: Config) -> Generator {
        let (y, m, d) = config.start_date;
        let start_day = days_from_civil(y, m, d);
        let clock = OfficeClock::new(start_day, start_day + i64::from(config.days.max(1)));
        let office_step_us = (clock.total_us / config.events.max(1) as i64).max(1);
        Generator {
            rng: Rng::new(config.seed),
            now_us: clock.wall_us(0),
            clock,
            office_us: 0,
            office_step_us,
            emitted: 0,
            line: Line::default(),
            stats: Stats::default(),
            accounts: Vec::new(),
            people: Vec::new(),
            tasks: VecDeque::new(),
            active: Pool::default(),
            prospects: Pool::default(),
            paused: Pool::default(),
            closed: Pool::default(),
            open: Pool::default(),
            globals: Pool::default(),
            nationals: Pool::default(),
            staff: Pool::default(),
            staff_by_kind: vec![Pool::default(); vocab::KIND_COUNT],
            next_txn: 1,
            next_contact: 1,
            next_stem: 1,
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counts of the lines generated so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Ids of every account opened so far.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.accounts.iter().map(|a| &*a.id)
    }

    /// Ids of accounts that are not closed now.
    pub fn open_accounts(&self) -> impl Iterator<Item = &str> {
        self.open
            .items()
            .iter()
            .map(|&a| &*self.accounts[a as usize].id)
    }

    /// Ids of open accounts whose current scope is `global` (roots of hierarchies).
    pub fn global_accounts(&self) -> impl Iterator<Item = &str> {
        self.globals
            .items()
            .iter()
            .map(|&a| &*self.accounts[a as usize].id)
    }

    /// Ids of every person who joined so far.
    pub fn people(&self) -> impl Iterator<Item = &str> {
        self.people.iter().map(|p| &*p.id)
    }

    /// Ids of people who have not left.
    pub fn staff(&self) -> impl Iterator<Item = &str> {
        self.staff
            .items()
            .iter()
            .map(|&p| &*self.people[p as usize].id)
    }

    /// Number of transaction ids used so far (`inv-<n>` / `po-<n>` for n in 1..=this).
    pub fn transactions(&self) -> u64 {
        self.next_txn - 1
    }

    /// Generates the next line into an internal buffer and lends it (no allocation).
    pub fn next_line(&mut self) -> Option<&str> {
        if self.emitted >= self.config.events {
            return None;
        }
        self.advance_clock();
        self.step();
        self.emitted += 1;
        Some(&self.line.buf)
    }

    fn advance_clock(&mut self) {
        let jump = self.rng.below(2 * self.office_step_us as u64) as i64;
        self.office_us = (self.office_us + jump).min(self.clock.total_us - 1);
        self.now_us = self.clock.wall_us(self.office_us);
    }

    fn today(&self) -> i64 {
        self.now_us.div_euclid(DAY_US)
    }

    /// A valid time at or after `min_us`: the date of today (midnight) with probability
    /// `date_per_mille` when midnight is not before `min_us`, else the record time itself.
    fn eff_now(&mut self, min_us: i64, date_per_mille: u32) -> Eff {
        let day = self.today();
        if self.rng.chance(date_per_mille) && day * DAY_US >= min_us {
            Eff::Date(day)
        } else {
            debug_assert!(self.now_us >= min_us);
            Eff::Stamp(self.now_us)
        }
    }

    /// A valid time 2 to `days_max` days back, not before `min_us`, if there is one.
    fn eff_late(&mut self, min_us: i64, days_max: u64) -> Option<Eff> {
        let day = self.today() - self.rng.range(2, days_max.max(2)) as i64;
        let eff = if self.rng.chance(800) {
            Eff::Date(day)
        } else {
            let within = self.rng.range(8 * 3600, 18 * 3600) as i64 * 1_000_000;
            Eff::Stamp(day * DAY_US + within)
        };
        (eff.us() >= min_us).then_some(eff)
    }

    /// Starts a line of `type_index` (into [`EVENT_TYPES`]).
    fn begin(&mut self, type_index: usize) {
        self.stats.by_type[type_index] += 1;
        self.line.begin(EVENT_TYPES[type_index]);
    }

    /// Finishes the line: times, optional id, actor and reason.
    fn finish(&mut self, eff: Eff, actor: &str, reason: Option<&str>) {
        if self.now_us - eff.us() > DAY_US {
            self.stats.late += 1;
        }
        self.line.times(eff, self.now_us);
        if self.rng.chance(250) {
            self.line.str_num("id", "crm-", self.emitted + 1);
        }
        self.line.str("actor", actor);
        if let Some(reason) = reason {
            self.line.str("reason", reason);
        }
        self.line.end();
    }

    /// One event. Each operation either writes a line and returns true, or changes
    /// nothing and returns false.
    fn step(&mut self) {
        for _ in 0..8 {
            if self.step_once() {
                return;
            }
        }
        let done = (!self.active.is_empty() && self.txn_record()) || self.account_open();
        assert!(done, "opening an account always succeeds");
    }

    fn step_once(&mut self) -> bool {
        let i = u128::from(self.emitted);
        let n = u128::from(self.config.events.max(1));
        let people_target = u128::from(self.config.people);
        let people_target = (people_target * 6 / 10 + people_target * 4 / 10 * i / n) as usize;
        if self.staff.len() < people_target.max(vocab::KIND_COUNT) {
            return self.person_join();
        }
        let accounts_target = u128::from(self.config.accounts);
        let accounts_target = (accounts_target / 4 + accounts_target * 3 / 4 * i / n) as usize;
        if self.accounts.len() < accounts_target.max(1) {
            return self.account_open();
        }
        if !self.tasks.is_empty() && (self.rng.chance(250) || self.tasks.len() > 64) {
            let task = self.tasks.pop_front().expect("tasks is not empty");
            return self.run_task(task);
        }
        self.random_op()
    }

    fn random_op(&mut self) -> bool {
        let r = self.rng.below(10_000);
        match r {
            0..8_700 => self.txn_record(),
            8_700..8_810 => self.txn_reverse(),
            8_810..9_160 => self.team_assign(),
            9_160..9_230 => self.team_handover(),
            9_230..9_430 => self.team_unassign(),
            9_430..9_580 => self.contact_add(),
            9_580..9_690 => self.contact_remove(),
            9_690..9_750 => self.account_classify(),
            9_750..9_770 => self.account_rename(),
            9_770..9_785 => self.account_scope(),
            9_785..9_800 => self.account_parent(),
            9_800..9_850 => self.account_status(),
            9_850..9_854 => self.person_leave(),
            9_854..9_880 => self.reporting_change(),
            _ => self.txn_record(),
        }
    }

    fn run_task(&mut self, task: Task) -> bool {
        match task {
            Task::Primary(a) => self.assign_primary(a),
            Task::Team(a, k) => {
                if k > 1 {
                    self.tasks.push_back(Task::Team(a, k - 1));
                }
                self.assign_member(a)
            }
            Task::Contacts(a, k) => {
                if k > 1 {
                    self.tasks.push_back(Task::Contacts(a, k - 1));
                }
                self.add_contact(a)
            }
            Task::Classify(a) => self.classify(a),
            Task::Unassign(a, p, role) => self.unassign(a, p, role, false),
            Task::Solid(p) => self.set_solid(p),
            Task::Dotted(p) => self.set_dotted(p),
        }
    }
}

impl Iterator for Generator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.next_line().map(str::to_owned)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.config.events - self.emitted) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}
