//! The rules of the contract's §3 as pure functions over small facts.
//!
//! Each check returns a [`RuleError`] that names the rule, the facts that broke it and what
//! to do. The fold (crate `arl-fold`) gathers the facts at an event's point in valid time and
//! calls these; at append a broken rule rejects the batch, in the fold it skips the event.

use crate::{Role, Scope, Status, Timestamp};

/// What the rules need to know of an account at a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountFacts {
    pub opened_at: Timestamp,
    pub status: Status,
    /// When the current status took effect.
    pub status_since: Timestamp,
    pub scope: Scope,
    pub parent: Option<String>,
}

/// What the rules need to know of a person at a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonFacts {
    pub joined_at: Timestamp,
    pub left_at: Option<Timestamp>,
}

/// What to do about a broken rule: the part of each [`RuleError`]'s message after its
/// "; ", and its [`RuleError::fix`].
pub mod fix {
    pub const NEW_ID: &str = "use a new id";
    pub const OPEN_ACCOUNT_FIRST: &str = "open it first or move the event after its opening";
    pub const REOPEN_OR_BACK_DATE: &str =
        "reopen it (account.status_changed) or back-date the event before that day";
    pub const OPEN_PARENT_FIRST: &str = "open it first";
    pub const OPEN_PARENT: &str = "choose an open parent";
    pub const NOTHING_TO_CHANGE: &str = "nothing to change";
    pub const JOIN_FIRST: &str = "add them with person.joined first";
    pub const SOMEONE_ELSE_OR_BACK_DATE: &str =
        "choose someone else or back-date the event before that day";
    pub const UNASSIGN_FIRST: &str = "unassign first";
    pub const END_LINE_FIRST: &str = "end that line first";
    pub const REMOVE_FIRST: &str = "remove it first";
    pub const REVERSE_LATER: &str = "reverse it on or after that time";
    pub const NOTHING_TO_REVERSE: &str = "nothing to reverse";
}

/// A broken rule of §3, with the facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    #[error("account {account:?} was already opened (on {}); {}", opened_at.date_string(), fix::NEW_ID)]
    AccountAlreadyOpened {
        account: String,
        opened_at: Timestamp,
    },
    #[error(
        "account {account:?} does not exist at that time; {}",
        fix::OPEN_ACCOUNT_FIRST
    )]
    AccountNotFound { account: String },
    #[error("account {account:?} was closed on {}; {}", closed_at.date_string(), fix::REOPEN_OR_BACK_DATE)]
    AccountClosed {
        account: String,
        closed_at: Timestamp,
    },
    #[error(
        "parent {parent:?} does not exist at that time; {}",
        fix::OPEN_PARENT_FIRST
    )]
    ParentNotFound { parent: String },
    #[error("parent {parent:?} was closed on {}; {}", closed_at.date_string(), fix::OPEN_PARENT)]
    ParentClosed {
        parent: String,
        closed_at: Timestamp,
    },
    #[error("making {parent:?} the parent of {account:?} would create a cycle in the hierarchy")]
    ParentCycle { account: String, parent: String },
    #[error("the parent of {account:?} is already {}; {}", parent.as_deref().map(|p| format!("{p:?}")).unwrap_or_else(|| "none".into()), fix::NOTHING_TO_CHANGE)]
    ParentUnchanged {
        account: String,
        parent: Option<String>,
    },
    #[error(
        "the scope of {account:?} is already {scope}; {}",
        fix::NOTHING_TO_CHANGE
    )]
    ScopeUnchanged { account: String, scope: Scope },
    #[error(
        "the status of {account:?} is already {status}; {}",
        fix::NOTHING_TO_CHANGE
    )]
    StatusUnchanged { account: String, status: Status },
    #[error("person {person:?} already joined (on {}); {}", joined_at.date_string(), fix::NEW_ID)]
    PersonAlreadyJoined {
        person: String,
        joined_at: Timestamp,
    },
    #[error("person {person:?} does not exist at that time; {}", fix::JOIN_FIRST)]
    PersonNotFound { person: String },
    #[error("person {person:?} left on {}; {}", left_at.date_string(), fix::SOMEONE_ELSE_OR_BACK_DATE)]
    PersonHasLeft { person: String, left_at: Timestamp },
    #[error("{person:?} is already {role} on {account:?} (since {}); {}", since.date_string(), fix::UNASSIGN_FIRST)]
    AssignmentActive {
        account: String,
        person: String,
        role: Role,
        since: Timestamp,
    },
    #[error("{person:?} is not {role} on {account:?} at that time")]
    AssignmentNotActive {
        account: String,
        person: String,
        role: Role,
    },
    #[error("person {person:?} cannot report to themselves")]
    SelfReporting { person: String },
    #[error("a line from {person:?} to {manager:?} would create a cycle in the reporting lines")]
    LineCycle { person: String, manager: String },
    #[error("{person:?} already reports to {manager:?} (since {}); {}", since.date_string(), fix::END_LINE_FIRST)]
    LineActive {
        person: String,
        manager: String,
        since: Timestamp,
    },
    #[error("{person:?} does not report to {manager:?} at that time")]
    LineNotActive { person: String, manager: String },
    #[error("contact {contact:?} is already active on {account:?} (since {}); {}", since.date_string(), fix::REMOVE_FIRST)]
    ContactActive {
        account: String,
        contact: String,
        since: Timestamp,
    },
    #[error("contact {contact:?} is not active on {account:?} at that time")]
    ContactNotActive { account: String, contact: String },
    #[error(
        "transaction id {txn:?} is already used (on account {account:?}); {}",
        fix::NEW_ID
    )]
    TxnIdUsed { txn: String, account: String },
    #[error("transaction {txn:?} does not exist on account {account:?}")]
    TxnNotFound { account: String, txn: String },
    #[error("transaction {txn:?} takes effect on {}, after this reversal; {}", effective_at.date_string(), fix::REVERSE_LATER)]
    TxnAfterReversal {
        txn: String,
        effective_at: Timestamp,
    },
    #[error(
        "transaction {txn:?} was already reversed; {}",
        fix::NOTHING_TO_REVERSE
    )]
    TxnAlreadyReversed { txn: String },
}

impl RuleError {
    /// What to do about it, when the rule says (the part of the message after its "; ").
    pub fn fix(&self) -> Option<&'static str> {
        match self {
            RuleError::AccountAlreadyOpened { .. } => Some(fix::NEW_ID),
            RuleError::AccountNotFound { .. } => Some(fix::OPEN_ACCOUNT_FIRST),
            RuleError::AccountClosed { .. } => Some(fix::REOPEN_OR_BACK_DATE),
            RuleError::ParentNotFound { .. } => Some(fix::OPEN_PARENT_FIRST),
            RuleError::ParentClosed { .. } => Some(fix::OPEN_PARENT),
            RuleError::ParentCycle { .. } => None,
            RuleError::ParentUnchanged { .. } => Some(fix::NOTHING_TO_CHANGE),
            RuleError::ScopeUnchanged { .. } => Some(fix::NOTHING_TO_CHANGE),
            RuleError::StatusUnchanged { .. } => Some(fix::NOTHING_TO_CHANGE),
            RuleError::PersonAlreadyJoined { .. } => Some(fix::NEW_ID),
            RuleError::PersonNotFound { .. } => Some(fix::JOIN_FIRST),
            RuleError::PersonHasLeft { .. } => Some(fix::SOMEONE_ELSE_OR_BACK_DATE),
            RuleError::AssignmentActive { .. } => Some(fix::UNASSIGN_FIRST),
            RuleError::AssignmentNotActive { .. } => None,
            RuleError::SelfReporting { .. } => None,
            RuleError::LineCycle { .. } => None,
            RuleError::LineActive { .. } => Some(fix::END_LINE_FIRST),
            RuleError::LineNotActive { .. } => None,
            RuleError::ContactActive { .. } => Some(fix::REMOVE_FIRST),
            RuleError::ContactNotActive { .. } => None,
            RuleError::TxnIdUsed { .. } => Some(fix::NEW_ID),
            RuleError::TxnNotFound { .. } => None,
            RuleError::TxnAfterReversal { .. } => Some(fix::REVERSE_LATER),
            RuleError::TxnAlreadyReversed { .. } => Some(fix::NOTHING_TO_REVERSE),
        }
    }

    /// The rule in a few words, for tables and `arl history`.
    pub fn rule(&self) -> &'static str {
        match self {
            RuleError::AccountAlreadyOpened { .. } => "account id never opened before",
            RuleError::AccountNotFound { .. } => "account exists",
            RuleError::AccountClosed { .. } => "account not closed",
            RuleError::ParentNotFound { .. } => "parent exists",
            RuleError::ParentClosed { .. } => "parent not closed",
            RuleError::ParentCycle { .. } => "no cycle in the hierarchy",
            RuleError::ParentUnchanged { .. } => "parent differs from the current one",
            RuleError::ScopeUnchanged { .. } => "scope differs from the current one",
            RuleError::StatusUnchanged { .. } => "status differs from the current one",
            RuleError::PersonAlreadyJoined { .. } => "person id never joined before",
            RuleError::PersonNotFound { .. } => "person exists",
            RuleError::PersonHasLeft { .. } => "person has not left",
            RuleError::AssignmentActive { .. } => "assignment not already active",
            RuleError::AssignmentNotActive { .. } => "assignment is active",
            RuleError::SelfReporting { .. } => "person differs from manager",
            RuleError::LineCycle { .. } => "no cycle in the reporting lines",
            RuleError::LineActive { .. } => "line not already active",
            RuleError::LineNotActive { .. } => "line is active",
            RuleError::ContactActive { .. } => "contact not already active",
            RuleError::ContactNotActive { .. } => "contact is active",
            RuleError::TxnIdUsed { .. } => "transaction id never used before",
            RuleError::TxnNotFound { .. } => "transaction exists on the account",
            RuleError::TxnAfterReversal { .. } => "transaction effective at or before its reversal",
            RuleError::TxnAlreadyReversed { .. } => "transaction never reversed",
        }
    }
}

/// The account exists at the point.
pub fn account_exists<'a>(
    account: &str,
    facts: Option<&'a AccountFacts>,
) -> Result<&'a AccountFacts, RuleError> {
    facts.ok_or_else(|| RuleError::AccountNotFound {
        account: account.to_string(),
    })
}

/// The account exists and is not closed at the point.
pub fn account_open<'a>(
    account: &str,
    facts: Option<&'a AccountFacts>,
) -> Result<&'a AccountFacts, RuleError> {
    let facts = account_exists(account, facts)?;
    if facts.status == Status::Closed {
        return Err(RuleError::AccountClosed {
            account: account.to_string(),
            closed_at: facts.status_since,
        });
    }
    Ok(facts)
}

/// The parent exists and is not closed.
pub fn parent_open(parent: &str, facts: Option<&AccountFacts>) -> Result<(), RuleError> {
    let facts = facts.ok_or_else(|| RuleError::ParentNotFound {
        parent: parent.to_string(),
    })?;
    if facts.status == Status::Closed {
        return Err(RuleError::ParentClosed {
            parent: parent.to_string(),
            closed_at: facts.status_since,
        });
    }
    Ok(())
}

/// The person exists and has not left at the point.
pub fn person_active(person: &str, facts: Option<&PersonFacts>) -> Result<(), RuleError> {
    let facts = facts.ok_or_else(|| RuleError::PersonNotFound {
        person: person.to_string(),
    })?;
    match facts.left_at {
        Some(left_at) => Err(RuleError::PersonHasLeft {
            person: person.to_string(),
            left_at,
        }),
        None => Ok(()),
    }
}

/// `account.parent_changed`: given the ancestors of the new parent (nearest first), no cycle.
pub fn no_parent_cycle<'a>(
    account: &str,
    parent: &str,
    mut ancestors_of_parent: impl Iterator<Item = &'a str>,
) -> Result<(), RuleError> {
    if parent == account || ancestors_of_parent.any(|a| a == account) {
        return Err(RuleError::ParentCycle {
            account: account.to_string(),
            parent: parent.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: Status) -> AccountFacts {
        AccountFacts {
            opened_at: Timestamp(0),
            status,
            status_since: Timestamp(86_400_000_000),
            scope: Scope::Global,
            parent: None,
        }
    }

    #[test]
    fn account_rules() {
        assert!(matches!(
            account_exists("a", None),
            Err(RuleError::AccountNotFound { .. })
        ));
        assert!(account_open("a", Some(&account(Status::Active))).is_ok());
        let err = account_open("a", Some(&account(Status::Closed))).unwrap_err();
        assert_eq!(err.to_string(), "account \"a\" was closed on 1970-01-02; reopen it (account.status_changed) or back-date the event before that day");
        assert!(matches!(
            parent_open("p", Some(&account(Status::Closed))),
            Err(RuleError::ParentClosed { .. })
        ));
        assert!(no_parent_cycle("a", "b", ["c", "a"].into_iter()).is_err());
        assert!(no_parent_cycle("a", "a", [].into_iter()).is_err());
        assert!(no_parent_cycle("a", "b", ["c"].into_iter()).is_ok());
    }

    #[test]
    fn a_rule_s_fix_is_the_end_of_its_message() {
        let t = Timestamp(0);
        let person = || "a; b".to_string();
        let errors = [
            RuleError::PersonHasLeft {
                person: person(),
                left_at: t,
            },
            RuleError::AccountAlreadyOpened {
                account: person(),
                opened_at: t,
            },
            RuleError::TxnAlreadyReversed { txn: person() },
            RuleError::LineCycle {
                person: person(),
                manager: "m".into(),
            },
        ];
        for error in &errors {
            let text = error.to_string();
            if let Some(fix) = error.fix() {
                assert!(text.ends_with(&format!("; {fix}")), "{text}");
            }
        }
        // An id holding "; " does not cut the fix short.
        assert_eq!(errors[0].fix(), Some(fix::SOMEONE_ELSE_OR_BACK_DATE));
        assert_eq!(errors[3].fix(), None);
    }

    #[test]
    fn person_rules() {
        let left = PersonFacts {
            joined_at: Timestamp(0),
            left_at: Some(Timestamp(0)),
        };
        let err = person_active("chen", Some(&left)).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("person \"chen\" left on 1970-01-01"));
        assert_eq!(err.rule(), "person has not left");
        assert!(person_active("chen", None).is_err());
    }
}
