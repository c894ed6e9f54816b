//! Transaction registers and balances.

use crate::accounts::require_known;
use crate::{At, QueryError, Table};
use arl_domain::{Period, Timestamp};
use arl_fold::Source;
use arl_txns::BalanceRow;
use serde::Serialize;

/// `arl txns ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterQuestion {
    /// The account id.
    pub account: String,
    /// First day (inclusive, from its midnight UTC).
    pub from: Option<Timestamp>,
    /// Last day (inclusive, to its end).
    pub to: Option<Timestamp>,
    /// The point.
    pub at: At,
}

/// One row of a register, as `arl txns --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RegisterJson {
    pub seq: u64,
    pub effective_at: String,
    pub recorded_at: String,
    pub txn: String,
    pub kind: String,
    pub reversal: bool,
    pub reversed: bool,
    pub currency: String,
    pub amount: String,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub running_net: String,
}

/// An account's register with running net per currency.
pub fn register(
    source: &dyn Source,
    question: &RegisterQuestion,
) -> Result<Vec<RegisterJson>, QueryError> {
    let point = question.at.point(source)?;
    require_known(source, &question.account, point)?;
    let rows = arl_txns::register(source, &question.account, point, question.from, question.to)?;
    Ok(rows
        .into_iter()
        .map(|r| RegisterJson {
            seq: r.seq,
            effective_at: r.effective_at.canonical(),
            recorded_at: r.recorded_at.canonical(),
            txn: r.txn,
            kind: r.kind.to_string(),
            reversal: r.reversal,
            reversed: r.reversed,
            currency: r.currency,
            amount: r.amount,
            reference: r.reference,
            description: r.description,
            running_net: r.running_net,
        })
        .collect())
}

/// A register as CSV.
pub fn register_csv(rows: &[RegisterJson]) -> Table {
    let row = |r: &RegisterJson| {
        vec![
            r.seq.to_string(),
            r.effective_at.clone(),
            r.recorded_at.clone(),
            r.txn.clone(),
            r.kind.clone(),
            r.reversal.to_string(),
            r.reversed.to_string(),
            r.currency.clone(),
            r.amount.clone(),
            r.reference.clone().unwrap_or_default(),
            r.description.clone().unwrap_or_default(),
            r.running_net.clone(),
        ]
    };
    Table::new(
        &[
            "seq",
            "effective_at",
            "recorded_at",
            "txn",
            "kind",
            "reversal",
            "reversed",
            "currency",
            "amount",
            "reference",
            "description",
            "running_net",
        ],
        rows.iter().map(row).collect(),
    )
}

/// `arl balance [ACCOUNT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceQuestion {
    /// One account; without it, every account that has transactions.
    pub account: Option<String>,
    /// Month, quarter, year or all.
    pub period: Period,
    /// First day (inclusive, from its midnight UTC).
    pub from: Option<Timestamp>,
    /// Last day (inclusive, to its end).
    pub to: Option<Timestamp>,
    /// Each account's rows include its descendants'.
    pub rollup: bool,
    /// The point.
    pub at: At,
}

/// Balance rows (contract §7), sorted by (account, period, currency).
pub fn balances(
    source: &dyn Source,
    question: &BalanceQuestion,
) -> Result<Vec<BalanceRow>, QueryError> {
    let point = question.at.point(source)?;
    if let Some(account) = &question.account {
        require_known(source, account, point)?;
    }
    let query = arl_txns::BalanceQuery {
        account: question.account.clone(),
        period: question.period,
        from: question.from,
        to: question.to,
        rollup: question.rollup,
        point,
    };
    Ok(arl_txns::balances(source, &query)?)
}

/// Balance rows as CSV.
pub fn balances_csv(rows: &[BalanceRow]) -> Table {
    Table::new(
        &BalanceRow::COLUMNS,
        rows.iter()
            .map(|r| r.fields().map(str::to_string).into_iter().collect())
            .collect(),
    )
}
