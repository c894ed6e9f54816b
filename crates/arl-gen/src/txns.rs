//! Sales, purchases and their reversals.

use crate::line::Eff;
use crate::ops::{T_REVERSED, T_TXN};
use crate::state::RECENT_TXNS_MAX;
use crate::time::{civil_from_days, push_padded, push_u64, DAY_US};
use crate::vocab::*;
use crate::Generator;

const ACTOR_ERP: &str = "erp-import";
/// How far back a late transaction may be dated, in days.
const LATE_DAYS_MAX: u64 = 30;

impl Generator {
    /// A transaction on an active account (a few accounts carry much of the business).
    pub(crate) fn txn_record(&mut self) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let a = self
            .active
            .get(self.rng.skewed(self.active.len() as u64) as usize);
        let (min_us, home) = {
            let acct = &self.accounts[a as usize];
            (acct.status_eff_us, acct.currency)
        };
        let late = self.rng.chance(self.config.late_per_mille);
        let eff = match late.then(|| self.eff_late(min_us, LATE_DAYS_MAX)).flatten() {
            Some(eff) => eff,
            None => self.eff_now(min_us, 700),
        };
        let sale = self.rng.chance(800);
        let currency = match self.rng.below(100) {
            0..75 => home,
            75..90 => self.rng.pick(&[CURRENCY_EUR, CURRENCY_USD]),
            _ => self.rng.below(CURRENCIES.len() as u64) as u8,
        };
        let n = self.next_txn;
        self.next_txn += 1;
        self.begin(T_TXN);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line
            .str_num("txn", if sale { "inv-" } else { "po-" }, n);
        self.line
            .str("kind", if sale { "sale" } else { "purchase" });
        self.write_amount(currency);
        self.line.str("currency", CURRENCIES[currency as usize].0);
        if self.rng.chance(600) {
            let (year, _, _) = civil_from_days(eff.us().div_euclid(DAY_US));
            let buf = self.line.open_str("reference");
            buf.push_str(if sale { "INV-" } else { "PO-" });
            push_u64(buf, year as u64);
            buf.push('-');
            push_padded(buf, n, 6);
            self.line.close_str();
        }
        if self.rng.chance(150) {
            self.line.str("description", self.rng.pick(&DESCRIPTIONS));
        }
        let is_late = self.now_us - eff.us() > DAY_US;
        let reason = (is_late && self.rng.chance(500)).then(|| {
            self.rng.pick(&[
                "recorded late: invoice found in a shared inbox",
                "recorded late: posted after month-end close",
            ])
        });
        self.finish(eff, ACTOR_ERP, reason);
        let acct = &mut self.accounts[a as usize];
        acct.tx_eff_us = acct.tx_eff_us.max(eff.us());
        if acct.recent_txns.len() >= RECENT_TXNS_MAX {
            acct.recent_txns.remove(0);
        }
        acct.recent_txns.push(n << 1 | u64::from(sale));
        true
    }

    /// An amount with at most the currency's minor digits: a mantissa of three digits
    /// times a power of ten, scaled to the currency.
    fn write_amount(&mut self, currency: u8) {
        let (_, digits, num, den) = CURRENCIES[currency as usize];
        let mantissa = self.rng.range(100, 999);
        let magnitude = 10u64.pow(self.rng.below(4) as u32);
        let major = (mantissa * magnitude * num / den / 10).max(1);
        let unit = 10u64.pow(digits);
        let fraction = if digits > 0 && self.rng.chance(700) {
            self.rng.below(unit)
        } else {
            0
        };
        let short = fraction == 0 && self.rng.chance(400);
        let buf = self.line.open_str("amount");
        push_u64(buf, major);
        if digits > 0 && !short {
            buf.push('.');
            push_padded(buf, fraction, digits as usize);
        }
        self.line.close_str();
    }

    /// Reverses a recent transaction of an active account, at the record time (so never
    /// before the original).
    pub(crate) fn txn_reverse(&mut self) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let a = self
            .active
            .get(self.rng.skewed(self.active.len() as u64) as usize);
        let recent = &self.accounts[a as usize].recent_txns;
        if recent.is_empty() {
            return false;
        }
        let k = self.rng.below(recent.len() as u64) as usize;
        let code = recent[k];
        let (n, sale) = (code >> 1, code & 1 == 1);
        let eff = Eff::Stamp(self.now_us);
        self.begin(T_REVERSED);
        self.line.str("account", &self.accounts[a as usize].id);
        self.line
            .str_num("txn", if sale { "inv-" } else { "po-" }, n);
        let mut reason = String::from("credit note CN-");
        push_u64(&mut reason, n);
        let reason = self.rng.chance(700).then_some(reason.as_str());
        self.finish(eff, ACTOR_ERP, reason);
        let acct = &mut self.accounts[a as usize];
        acct.recent_txns.remove(k);
        acct.tx_eff_us = acct.tx_eff_us.max(eff.us());
        true
    }
}
