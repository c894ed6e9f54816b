//! Account, team and contact events.

use crate::line::Eff;
use crate::people::{push_capitalised, push_stem};
use crate::state::{remove_first, Account, Task, CONTACTS_MAX, TEAM_MAX};
use crate::time::push_u64;
use crate::vocab::*;
use crate::Generator;

pub(crate) const T_OPENED: usize = 0;
pub(crate) const T_RENAMED: usize = 1;
pub(crate) const T_PARENT: usize = 2;
pub(crate) const T_SCOPE: usize = 3;
pub(crate) const T_CLASSIFIED: usize = 4;
pub(crate) const T_STATUS: usize = 5;
pub(crate) const T_JOINED: usize = 6;
pub(crate) const T_LEFT: usize = 7;
pub(crate) const T_ASSIGNED: usize = 8;
pub(crate) const T_UNASSIGNED: usize = 9;
pub(crate) const T_LINE_SET: usize = 10;
pub(crate) const T_LINE_ENDED: usize = 11;
pub(crate) const T_CONTACT_ADDED: usize = 12;
pub(crate) const T_CONTACT_REMOVED: usize = 13;
pub(crate) const T_TXN: usize = 14;
pub(crate) const T_REVERSED: usize = 15;

/// No country given on the account.
pub(crate) const COUNTRY_NONE: u8 = u8::MAX;
const ACTOR_CRM: &str = "crm-sync";

impl Generator {
    fn pick_pool(&mut self, which: fn(&Generator) -> &crate::state::Pool) -> Option<u32> {
        let pool = which(self);
        if pool.is_empty() {
            return None;
        }
        let k = self.rng.below(pool.len() as u64) as usize;
        Some(which(self).get(k))
    }

    pub(crate) fn pick_open(&mut self) -> Option<u32> {
        self.pick_pool(|g| &g.open)
    }

    /// Puts an account into the pools that match its status and scope.
    fn reindex(&mut self, a: u32) {
        let (status, scope) = {
            let acct = &self.accounts[a as usize];
            (acct.status, acct.scope)
        };
        for pool in [
            &mut self.active,
            &mut self.prospects,
            &mut self.paused,
            &mut self.closed,
            &mut self.open,
            &mut self.globals,
            &mut self.nationals,
        ] {
            pool.remove(a);
        }
        match status {
            STATUS_ACTIVE => self.active.insert(a),
            STATUS_PROSPECT => self.prospects.insert(a),
            STATUS_CLOSED => self.closed.insert(a),
            _ => self.paused.insert(a),
        }
        if status != STATUS_CLOSED {
            self.open.insert(a);
            match scope {
                SCOPE_GLOBAL => self.globals.insert(a),
                SCOPE_NATIONAL => self.nationals.insert(a),
                _ => {}
            }
        }
    }

    fn bump_account(&mut self, a: u32, eff_us: i64) {
        let acct = &mut self.accounts[a as usize];
        acct.eff_us = acct.eff_us.max(eff_us);
    }

    /// Scope, parent and country of a new account.
    fn account_shape(&mut self) -> (u8, Option<u32>, u8) {
        let shape = self.rng.below(100);
        let random_country = self.rng.below(COUNTRIES.len() as u64) as u8;
        if self.globals.is_empty() || shape < 10 {
            return (SCOPE_GLOBAL, None, self.rng.pick(&HQ_COUNTRIES));
        }
        if shape < 45 {
            let parent = self.pick_pool(|g| &g.globals);
            return (SCOPE_NATIONAL, parent, random_country);
        }
        if shape < 85 && !self.nationals.is_empty() {
            let parent = self
                .pick_pool(|g| &g.nationals)
                .expect("nationals is not empty");
            let parent_country = self.accounts[parent as usize].country;
            let country = if parent_country == COUNTRY_NONE {
                random_country
            } else {
                parent_country
            };
            let scope = self.rng.pick(&[
                SCOPE_DISTRICT,
                SCOPE_DISTRICT,
                SCOPE_TERRITORY,
                SCOPE_DIVISIONAL,
            ]);
            return (scope, Some(parent), country);
        }
        let scope = self.rng.pick(&[SCOPE_NATIONAL, SCOPE_DISTRICT]);
        (scope, None, random_country)
    }

    pub(crate) fn account_open(&mut self) -> bool {
        let a = self.accounts.len() as u32;
        let (scope, parent, country) = self.account_shape();
        let country = if self.rng.chance(30) {
            COUNTRY_NONE
        } else {
            country
        };
        let stem = if let Some(p) = parent {
            self.accounts[p as usize].stem
        } else {
            self.next_stem += 1;
            self.seed_mix(u64::from(self.next_stem)) as u32
        };
        let id = account_id(stem, scope, country, a, parent.is_none());
        let min_us = parent.map_or(i64::MIN, |p| self.accounts[p as usize].eff_us);
        let eff = self.eff_now(min_us, 400);
        let status = if self.rng.chance(250) {
            STATUS_PROSPECT
        } else {
            STATUS_ACTIVE
        };
        self.begin(T_OPENED);
        self.line.str("account", &id);
        let buf = self.line.open_str("name");
        push_account_name(buf, stem, scope, country, a);
        self.line.close_str();
        self.line.str("scope", SCOPES[scope as usize]);
        if let Some(p) = parent {
            self.line.str("parent", &self.accounts[p as usize].id);
        }
        if country != COUNTRY_NONE {
            self.line.str("country", COUNTRIES[country as usize].0);
        }
        if status == STATUS_PROSPECT || self.rng.chance(300) {
            self.line.str("status", STATUSES[status as usize]);
        }
        self.finish(eff, ACTOR_CRM, None);
        let currency = if country == COUNTRY_NONE {
            CURRENCY_USD
        } else {
            COUNTRIES[country as usize].2
        };
        self.accounts.push(Account {
            id: id.into_boxed_str(),
            stem,
            country,
            currency,
            scope,
            status,
            parent,
            eff_us: eff.us(),
            status_eff_us: eff.us(),
            tx_eff_us: eff.us(),
            team: Vec::new(),
            primary: None,
            contacts: Vec::new(),
            recent_txns: Vec::new(),
            model: 0,
            category: 0,
        });
        if let Some(p) = parent {
            self.bump_account(p, eff.us());
        }
        self.reindex(a);
        self.queue_setup(a, scope);
        true
    }

    fn queue_setup(&mut self, a: u32, scope: u8) {
        self.tasks.push_back(Task::Primary(a));
        let members = self.rng.range(1, 3) as u8;
        self.tasks.push_back(Task::Team(a, members));
        let contacts = self.rng.range(1, 3) as u8;
        self.tasks.push_back(Task::Contacts(a, contacts));
        let classify = if scope <= SCOPE_NATIONAL { 700 } else { 200 };
        if self.rng.chance(classify) {
            self.tasks.push_back(Task::Classify(a));
        }
    }

    pub(crate) fn account_rename(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let (min_us, stem) = {
            let acct = &self.accounts[a as usize];
            (acct.eff_us, acct.stem)
        };
        let eff = self.eff_now(min_us, 500);
        let suffix = self.rng.pick(&COMPANY_SUFFIXES);
        self.begin(T_RENAMED);
        self.line.str("account", &self.accounts[a as usize].id);
        let buf = self.line.open_str("name");
        push_stem(buf, stem, true);
        buf.push(' ');
        buf.push_str(suffix);
        self.line.close_str();
        self.finish(eff, ACTOR_CRM, Some("new legal name"));
        self.bump_account(a, eff.us());
        true
    }

    pub(crate) fn account_scope(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let (min_us, scope) = {
            let acct = &self.accounts[a as usize];
            (acct.eff_us, acct.scope)
        };
        let choices: &[u8] = match scope {
            SCOPE_GLOBAL => &[SCOPE_NATIONAL],
            SCOPE_NATIONAL => &[SCOPE_GLOBAL, SCOPE_DIVISIONAL],
            SCOPE_DIVISIONAL => &[SCOPE_NATIONAL, SCOPE_DISTRICT],
            SCOPE_DISTRICT => &[SCOPE_TERRITORY, SCOPE_DIVISIONAL],
            _ => &[SCOPE_DISTRICT],
        };
        let new_scope = self.rng.pick(choices);
        debug_assert_ne!(new_scope, scope);
        let eff = self.eff_now(min_us, 500);
        self.begin(T_SCOPE);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str("scope", SCOPES[new_scope as usize]);
        self.finish(eff, ACTOR_CRM, Some("responsibility moved"));
        self.accounts[a as usize].scope = new_scope;
        self.bump_account(a, eff.us());
        self.reindex(a);
        true
    }

    /// True when `ancestor` is `a` or one of its ancestors now.
    fn is_ancestor_or_self(&self, ancestor: u32, a: u32) -> bool {
        let mut cur = Some(a);
        let mut steps = 0usize;
        while let Some(x) = cur {
            if x == ancestor {
                return true;
            }
            steps += 1;
            assert!(steps <= self.accounts.len(), "parent links form a cycle");
            cur = self.accounts[x as usize].parent;
        }
        false
    }

    /// Moves an account under another parent (or to the top), always at the record time so
    /// that the cycle check sees the current hierarchy.
    pub(crate) fn account_parent(&mut self) -> bool {
        let Some(c) = self.pick_open() else {
            return false;
        };
        let (scope, old) = {
            let acct = &self.accounts[c as usize];
            (acct.scope, acct.parent)
        };
        let new_parent = if old.is_some() && self.rng.chance(150) {
            None
        } else if scope >= SCOPE_DISTRICT {
            self.pick_pool(|g| &g.nationals)
        } else {
            self.pick_pool(|g| &g.globals)
        };
        if new_parent == old {
            return false;
        }
        if let Some(p) = new_parent {
            if self.is_ancestor_or_self(c, p) {
                return false;
            }
        }
        let eff = Eff::Stamp(self.now_us);
        self.begin(T_PARENT);
        self.line.str("account", &self.accounts[c as usize].id);
        match new_parent {
            Some(p) => self.line.str("parent", &self.accounts[p as usize].id),
            None => self.line.null("parent"),
        }
        self.finish(eff, ACTOR_CRM, Some("group structure changed"));
        self.accounts[c as usize].parent = new_parent;
        for x in [Some(c), old, new_parent].into_iter().flatten() {
            self.bump_account(x, eff.us());
        }
        true
    }

    pub(crate) fn account_classify(&mut self) -> bool {
        match self.pick_open() {
            Some(a) => self.classify(a),
            None => false,
        }
    }

    /// Classifies (or re-classifies) an open account.
    pub(crate) fn classify(&mut self, a: u32) -> bool {
        let (min_us, status, model, category) = {
            let acct = &self.accounts[a as usize];
            (acct.eff_us, acct.status, acct.model, acct.category)
        };
        if status == STATUS_CLOSED {
            return false;
        }
        let r = self.rng.below(100);
        let (new_model, new_category) = if model == 0 || (15..25).contains(&r) {
            let m = self.rng.pick(&[1u8, 1, 1, 2, 2, 3, 3, 4]);
            let cats = MODELS[m as usize - 1].1.len() as u64;
            (m, self.rng.below(cats.min(3)) as u8)
        } else if r < 15 {
            (0, 0)
        } else {
            let cats = MODELS[model as usize - 1].1.len() as u8;
            let next = if category + 1 < cats {
                category + 1
            } else {
                self.rng.below(u64::from(cats)) as u8
            };
            (model, next)
        };
        let eff = self.eff_now(min_us, 500);
        self.begin(T_CLASSIFIED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.bool("key_account", new_model != 0);
        if new_model != 0 {
            let (name, cats) = MODELS[new_model as usize - 1];
            self.line.str("model", name);
            self.line.str("category", cats[new_category as usize]);
        }
        self.finish(eff, ACTOR_CRM, None);
        let acct = &mut self.accounts[a as usize];
        acct.model = new_model;
        acct.category = new_category;
        acct.eff_us = acct.eff_us.max(eff.us());
        true
    }

    pub(crate) fn account_status(&mut self) -> bool {
        let r = self.rng.below(100);
        let (a, status, reason) = match r {
            0..40 => (self.pick_pool(|g| &g.prospects), STATUS_ACTIVE, None),
            40..60 if self.active.len() > 5 => {
                let s = self.rng.pick(&[STATUS_ON_HOLD, STATUS_DORMANT]);
                (
                    self.pick_pool(|g| &g.active),
                    s,
                    Some("no orders this season"),
                )
            }
            60..80 => (self.pick_pool(|g| &g.paused), STATUS_ACTIVE, None),
            80..92 if self.active.len() > 10 => (
                self.pick_pool(|g| &g.open),
                STATUS_CLOSED,
                Some("customer closed the site"),
            ),
            92..100 => (
                self.pick_pool(|g| &g.closed),
                STATUS_ACTIVE,
                Some("reopened"),
            ),
            _ => (None, 0, None),
        };
        let Some(a) = a else {
            return false;
        };
        self.set_status(a, status, reason)
    }

    fn set_status(&mut self, a: u32, status: u8, reason: Option<&str>) -> bool {
        let (min_us, old) = {
            let acct = &self.accounts[a as usize];
            (acct.eff_us.max(acct.tx_eff_us), acct.status)
        };
        if old == status {
            return false;
        }
        let eff = self.eff_now(min_us, 400);
        self.begin(T_STATUS);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str("status", STATUSES[status as usize]);
        self.finish(eff, ACTOR_CRM, reason);
        let acct = &mut self.accounts[a as usize];
        acct.status = status;
        acct.status_eff_us = eff.us();
        acct.eff_us = acct.eff_us.max(eff.us());
        if status == STATUS_CLOSED {
            let team = std::mem::take(&mut acct.team);
            acct.primary = None;
            acct.contacts.clear();
            for (p, role) in team {
                let person = &mut self.people[p as usize];
                remove_first(&mut person.assignments, &(a, role));
                person.eff_us = person.eff_us.max(eff.us());
            }
        } else if old == STATUS_CLOSED {
            self.tasks.push_back(Task::Primary(a));
            self.tasks.push_back(Task::Team(a, 2));
            self.tasks.push_back(Task::Contacts(a, 1));
        }
        self.reindex(a);
        true
    }

    /// A person of the kind for `role` who is not already active in that role on `a`.
    fn pick_member(&mut self, a: u32, role: u8) -> Option<u32> {
        let kind = ROLE_KIND[role as usize] as usize;
        for _ in 0..4 {
            let pool = &self.staff_by_kind[kind];
            if pool.is_empty() {
                return None;
            }
            let p = pool.get(self.rng.below(pool.len() as u64) as usize);
            if !self.accounts[a as usize].team.contains(&(p, role)) {
                return Some(p);
            }
        }
        None
    }

    fn assign(&mut self, a: u32, role: u8, p: u32, primary: bool) -> bool {
        let min_us = self.accounts[a as usize]
            .eff_us
            .max(self.people[p as usize].eff_us);
        let eff = self.eff_now(min_us, 300);
        self.begin(crate::ops::T_ASSIGNED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str("person", &self.people[p as usize].id);
        self.line.str("role", ROLES[role as usize]);
        if primary || self.rng.chance(300) {
            self.line.bool("primary", primary);
        }
        let reason = (primary && self.accounts[a as usize].primary.is_some()).then_some("handover");
        self.finish(eff, ACTOR_CRM, reason);
        let acct = &mut self.accounts[a as usize];
        acct.team.push((p, role));
        if primary {
            acct.primary = Some((p, role));
        }
        acct.eff_us = acct.eff_us.max(eff.us());
        let person = &mut self.people[p as usize];
        person.assignments.push((a, role));
        person.eff_us = person.eff_us.max(eff.us());
        true
    }

    pub(crate) fn assign_primary(&mut self, a: u32) -> bool {
        let acct = &self.accounts[a as usize];
        if acct.status == STATUS_CLOSED || acct.primary.is_some() {
            return false;
        }
        let role = primary_role(acct.scope);
        match self.pick_member(a, role) {
            Some(p) => self.assign(a, role, p, true),
            None => false,
        }
    }

    pub(crate) fn assign_member(&mut self, a: u32) -> bool {
        let acct = &self.accounts[a as usize];
        if acct.status == STATUS_CLOSED || acct.team.len() >= TEAM_MAX {
            return false;
        }
        let role = self.rng.below(ROLES.len() as u64) as u8;
        match self.pick_member(a, role) {
            Some(p) => self.assign(a, role, p, false),
            None => false,
        }
    }

    pub(crate) fn team_assign(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let acct = &self.accounts[a as usize];
        if acct.team.len() >= TEAM_MAX {
            self.unassign_some(a, false)
        } else if acct.primary.is_none() {
            self.assign_primary(a)
        } else {
            self.assign_member(a)
        }
    }

    /// A new primary in the same role; the previous one often leaves the team later.
    pub(crate) fn team_handover(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let Some((old, role)) = self.accounts[a as usize].primary else {
            return false;
        };
        let Some(p) = self.pick_member(a, role) else {
            return false;
        };
        self.assign(a, role, p, true);
        if self.rng.chance(500) {
            self.tasks.push_back(Task::Unassign(a, old, role));
        }
        true
    }

    pub(crate) fn team_unassign(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let late = self.rng.chance(120);
        self.unassign_some(a, late)
    }

    fn unassign_some(&mut self, a: u32, late: bool) -> bool {
        let team = &self.accounts[a as usize].team;
        if team.is_empty() {
            return false;
        }
        let (p, role) = team[self.rng.below(team.len() as u64) as usize];
        self.unassign(a, p, role, late)
    }

    /// Ends a non-primary assignment, possibly back-dated.
    pub(crate) fn unassign(&mut self, a: u32, p: u32, role: u8, late: bool) -> bool {
        let acct = &self.accounts[a as usize];
        if acct.status == STATUS_CLOSED
            || acct.primary == Some((p, role))
            || !acct.team.contains(&(p, role))
        {
            return false;
        }
        let min_us = acct.eff_us.max(self.people[p as usize].eff_us);
        let eff = match late.then(|| self.eff_late(min_us, 21)).flatten() {
            Some(eff) => eff,
            None => self.eff_now(min_us, 400),
        };
        self.begin(T_UNASSIGNED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str("person", &self.people[p as usize].id);
        self.line.str("role", ROLES[role as usize]);
        let reason = (self.now_us - eff.us() > crate::time::DAY_US)
            .then_some("recorded late: rotation agreed earlier");
        self.finish(eff, ACTOR_CRM, reason);
        let acct = &mut self.accounts[a as usize];
        remove_first(&mut acct.team, &(p, role));
        acct.eff_us = acct.eff_us.max(eff.us());
        let person = &mut self.people[p as usize];
        remove_first(&mut person.assignments, &(a, role));
        person.eff_us = person.eff_us.max(eff.us());
        true
    }

    pub(crate) fn contact_add(&mut self) -> bool {
        match self.pick_open() {
            Some(a) => self.add_contact(a),
            None => false,
        }
    }

    pub(crate) fn add_contact(&mut self, a: u32) -> bool {
        let acct = &self.accounts[a as usize];
        if acct.status == STATUS_CLOSED || acct.contacts.len() >= CONTACTS_MAX {
            return false;
        }
        let min_us = acct.eff_us;
        let eff = self.eff_now(min_us, 500);
        let n = self.next_contact;
        self.next_contact += 1;
        let mixed = self.seed_mix(n ^ 0xC0DE);
        self.begin(T_CONTACT_ADDED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str_num("contact", "ct-", n);
        let buf = self.line.open_str("name");
        push_capitalised(buf, mixed, 2);
        buf.push(' ');
        push_capitalised(buf, mixed >> 20, 3);
        self.line.close_str();
        let role = CONTACT_ROLES[(mixed >> 50) as usize % CONTACT_ROLES.len()];
        self.line.str("role", role);
        self.finish(eff, ACTOR_CRM, None);
        let acct = &mut self.accounts[a as usize];
        acct.contacts.push(n);
        acct.eff_us = acct.eff_us.max(eff.us());
        true
    }

    pub(crate) fn contact_remove(&mut self) -> bool {
        let Some(a) = self.pick_open() else {
            return false;
        };
        let acct = &self.accounts[a as usize];
        if acct.contacts.is_empty() {
            return false;
        }
        let k = self.rng.below(acct.contacts.len() as u64) as usize;
        let n = acct.contacts[k];
        let eff = self.eff_now(acct.eff_us, 500);
        self.begin(T_CONTACT_REMOVED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line.str_num("contact", "ct-", n);
        self.finish(eff, ACTOR_CRM, None);
        let acct = &mut self.accounts[a as usize];
        acct.contacts.swap_remove(k);
        acct.eff_us = acct.eff_us.max(eff.us());
        true
    }
}

/// `stem-17` for a root, `stem-de-245` for a national, `stem-de-d1024` for a district.
fn account_id(stem: u32, scope: u8, country: u8, a: u32, root: bool) -> String {
    let mut id = String::with_capacity(32);
    push_stem(&mut id, stem, false);
    id.push('-');
    if !root || scope != SCOPE_GLOBAL {
        id.push_str(if country == COUNTRY_NONE {
            "xx"
        } else {
            COUNTRIES[country as usize].1
        });
        id.push('-');
        match scope {
            SCOPE_DISTRICT => id.push('d'),
            SCOPE_TERRITORY => id.push('t'),
            SCOPE_DIVISIONAL => id.push('v'),
            _ => {}
        }
    }
    push_u64(&mut id, u64::from(a));
    id
}

fn push_account_name(buf: &mut String, stem: u32, scope: u8, country: u8, a: u32) {
    push_stem(buf, stem, true);
    buf.push(' ');
    let (code, name) = if country == COUNTRY_NONE {
        ("Intl", "International")
    } else {
        (COUNTRIES[country as usize].0, COUNTRIES[country as usize].3)
    };
    match scope {
        SCOPE_GLOBAL => buf.push_str(COMPANY_SUFFIXES[stem as usize % COMPANY_SUFFIXES.len()]),
        SCOPE_NATIONAL => buf.push_str(name),
        _ => {
            buf.push_str(code);
            buf.push_str(match scope {
                SCOPE_DISTRICT => " district ",
                SCOPE_TERRITORY => " territory ",
                _ => " division ",
            });
            push_u64(buf, u64::from(a));
        }
    }
}
