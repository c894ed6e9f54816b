//! The event catalogue (contract §3): typed data for every event type.
//!
//! Data structs declare their fields in alphabetical order so that serializing one gives the
//! canonical (sorted, compact) JSON that is stored and hashed.

use crate::ids::{self, is_valid_country, is_valid_id};
use crate::money::{parse_amount, Currency};
use crate::{DomainError, Timestamp};
use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The contract's spelling.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $text),+ } }
            /// Parses the contract's spelling.
            pub fn parse(text: &str) -> Option<$name> { match text { $($text => Some($name::$variant),)+ _ => None } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

string_enum!(
    /// The level at which an account is managed.
    Scope { Global = "global", National = "national", Divisional = "divisional", District = "district", Territory = "territory" }
);
string_enum!(
    /// An account's status.
    Status { Prospect = "prospect", Active = "active", OnHold = "on_hold", Dormant = "dormant", Closed = "closed" }
);
string_enum!(
    /// A role in an account team.
    Role {
        GlobalAccountManager = "global_account_manager",
        NationalAccountManager = "national_account_manager",
        KeyAccountManager = "key_account_manager",
        AccountExecutive = "account_executive",
        AccountDirector = "account_director",
        SeniorSalesManager = "senior_sales_manager",
        SalesRep = "sales_rep",
        BrandManager = "brand_manager",
        Media = "media",
        Marketing = "marketing",
        Logistics = "logistics",
        ProductDesign = "product_design",
        SalesSupport = "sales_support",
        ExecutiveSponsor = "executive_sponsor",
    }
);
string_enum!(
    /// A contact's role in the customer's buying center.
    ContactRole { Initiator = "initiator", User = "user", Influencer = "influencer", Decider = "decider", Approver = "approver", Buyer = "buyer", Gatekeeper = "gatekeeper" }
);
string_enum!(
    /// A reporting line: hierarchical (`solid`) or matrix (`dotted`).
    LineKind { Solid = "solid", Dotted = "dotted" }
);
string_enum!(
    /// A sale to, or a purchase from, an account.
    TxnKind { Sale = "sale", Purchase = "purchase" }
);
string_enum!(
    /// A key-account classification model.
    Model { MillmanWilson = "millman-wilson", McdonaldRogers = "mcdonald-rogers", StGallen = "st-gallen", Custom = "custom" }
);

impl Model {
    /// The categories of the model; `None` for `custom` (any category of 1–64 characters).
    pub fn categories(self) -> Option<&'static [&'static str]> {
        match self {
            Model::MillmanWilson => Some(&[
                "pre-kam",
                "early-kam",
                "mid-kam",
                "partnership-kam",
                "synergistic-kam",
                "uncoupling-kam",
            ]),
            Model::McdonaldRogers => Some(&[
                "exploratory",
                "basic",
                "cooperative",
                "interdependent",
                "integrated",
            ]),
            Model::StGallen => Some(&["target", "top", "basic", "question-mark"]),
            Model::Custom => None,
        }
    }

    /// True when `category` belongs to this model.
    pub fn allows(self, category: &str) -> bool {
        match self.categories() {
            Some(list) => list.contains(&category),
            None => !category.is_empty() && ids::chars(category) <= ids::CATEGORY_CHARS_MAX,
        }
    }
}

/// `account.opened`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountOpened {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    pub scope: Scope,
    #[serde(default = "default_status")]
    pub status: Status,
}

fn default_status() -> Status {
    Status::Active
}

/// `account.renamed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRenamed {
    pub account: String,
    pub name: String,
}

/// `account.parent_changed`; `parent: null` detaches the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentChanged {
    pub account: String,
    #[serde(deserialize_with = "required_nullable")]
    pub parent: Option<String>,
}

fn required_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// `account.scope_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeChanged {
    pub account: String,
    pub scope: Scope,
}

/// `account.classified`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classified {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub key_account: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Model>,
}

/// `account.status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChanged {
    pub account: String,
    pub status: Status,
}

/// `person.joined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonJoined {
    pub name: String,
    pub person: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `person.left`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonLeft {
    pub person: String,
}

/// `team.assigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamAssigned {
    pub account: String,
    pub person: String,
    #[serde(default)]
    pub primary: bool,
    pub role: Role,
}

/// `team.unassigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamUnassigned {
    pub account: String,
    pub person: String,
    pub role: Role,
}

/// `reporting.line_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSet {
    pub line: LineKind,
    pub manager: String,
    pub person: String,
}

/// `reporting.line_ended`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineEnded {
    pub manager: String,
    pub person: String,
}

/// `contact.added`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactAdded {
    pub account: String,
    pub contact: String,
    pub name: String,
    pub role: ContactRole,
}

/// `contact.removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactRemoved {
    pub account: String,
    pub contact: String,
}

/// `transaction.recorded`; `amount` is kept as given, `amount_minor` is derived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnRecorded {
    pub account: String,
    pub amount: String,
    pub currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub kind: TxnKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub txn: String,
}

/// `transaction.reversed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxnReversed {
    pub account: String,
    pub txn: String,
}

/// `subject.erased`: the audit record of an erasure (`arl erase`). It names the data
/// subject (exactly one of `contact` and `person`) and nothing else; the envelope's
/// `actor`, `reason` and `recorded_at` say who, why and when. It has no effect in the fold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectErased {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl SubjectErased {
    /// The subject's kind (`contact` or `person`) and id.
    pub fn subject(&self) -> (&'static str, &str) {
        match (&self.contact, &self.person) {
            (Some(contact), _) => ("contact", contact),
            (None, Some(person)) => ("person", person),
            (None, None) => ("contact", ""),
        }
    }
}

/// One event of the catalogue, with its typed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    AccountOpened(AccountOpened),
    AccountRenamed(AccountRenamed),
    ParentChanged(ParentChanged),
    ScopeChanged(ScopeChanged),
    Classified(Classified),
    StatusChanged(StatusChanged),
    PersonJoined(PersonJoined),
    PersonLeft(PersonLeft),
    TeamAssigned(TeamAssigned),
    TeamUnassigned(TeamUnassigned),
    LineSet(LineSet),
    LineEnded(LineEnded),
    ContactAdded(ContactAdded),
    ContactRemoved(ContactRemoved),
    TxnRecorded(TxnRecorded),
    TxnReversed(TxnReversed),
    SubjectErased(SubjectErased),
}

/// Every event type, as spelled in the contract.
pub const EVENT_TYPES: &[&str] = &[
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
    "subject.erased",
];

impl Event {
    /// Parses the `data` of an event of type `kind`, rejecting unknown fields and checking
    /// every shape rule that needs no state (ids, lengths, country, model, amount, currency).
    pub fn parse(kind: &str, data: &str) -> Result<Event, DomainError> {
        fn de<T: for<'a> Deserialize<'a>>(kind: &str, data: &str) -> Result<T, DomainError> {
            // Stored and generated data is nearly always valid: parse plainly first, and only
            // on an error parse again tracking the path, for a message that names the field.
            if let Ok(value) = serde_json::from_str(data) {
                return Ok(value);
            }
            let mut deserializer = serde_json::Deserializer::from_str(data);
            let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
                DomainError::Data {
                    kind: kind.to_string(),
                    message: crate::input::describe(&e.path().to_string(), e.inner(), "data"),
                }
            })?;
            deserializer.end().map_err(|e| DomainError::Data {
                kind: kind.to_string(),
                message: e.to_string(),
            })?;
            Ok(value)
        }
        let event = match kind {
            "account.opened" => Event::AccountOpened(de(kind, data)?),
            "account.renamed" => Event::AccountRenamed(de(kind, data)?),
            "account.parent_changed" => Event::ParentChanged(de(kind, data)?),
            "account.scope_changed" => Event::ScopeChanged(de(kind, data)?),
            "account.classified" => Event::Classified(de(kind, data)?),
            "account.status_changed" => Event::StatusChanged(de(kind, data)?),
            "person.joined" => Event::PersonJoined(de(kind, data)?),
            "person.left" => Event::PersonLeft(de(kind, data)?),
            "team.assigned" => Event::TeamAssigned(de(kind, data)?),
            "team.unassigned" => Event::TeamUnassigned(de(kind, data)?),
            "reporting.line_set" => Event::LineSet(de(kind, data)?),
            "reporting.line_ended" => Event::LineEnded(de(kind, data)?),
            "contact.added" => Event::ContactAdded(de(kind, data)?),
            "contact.removed" => Event::ContactRemoved(de(kind, data)?),
            "transaction.recorded" => Event::TxnRecorded(de(kind, data)?),
            "transaction.reversed" => Event::TxnReversed(de(kind, data)?),
            "subject.erased" => Event::SubjectErased(de(kind, data)?),
            other => {
                return Err(DomainError::UnknownType {
                    kind: other.to_string(),
                })
            }
        };
        event.check_shape()?;
        Ok(event)
    }

    /// The contract's name of this event's type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::AccountOpened(_) => "account.opened",
            Event::AccountRenamed(_) => "account.renamed",
            Event::ParentChanged(_) => "account.parent_changed",
            Event::ScopeChanged(_) => "account.scope_changed",
            Event::Classified(_) => "account.classified",
            Event::StatusChanged(_) => "account.status_changed",
            Event::PersonJoined(_) => "person.joined",
            Event::PersonLeft(_) => "person.left",
            Event::TeamAssigned(_) => "team.assigned",
            Event::TeamUnassigned(_) => "team.unassigned",
            Event::LineSet(_) => "reporting.line_set",
            Event::LineEnded(_) => "reporting.line_ended",
            Event::ContactAdded(_) => "contact.added",
            Event::ContactRemoved(_) => "contact.removed",
            Event::TxnRecorded(_) => "transaction.recorded",
            Event::TxnReversed(_) => "transaction.reversed",
            Event::SubjectErased(_) => "subject.erased",
        }
    }

    /// The account this event is about, for account, team, contact and transaction events.
    pub fn account(&self) -> Option<&str> {
        match self {
            Event::AccountOpened(d) => Some(&d.account),
            Event::AccountRenamed(d) => Some(&d.account),
            Event::ParentChanged(d) => Some(&d.account),
            Event::ScopeChanged(d) => Some(&d.account),
            Event::Classified(d) => Some(&d.account),
            Event::StatusChanged(d) => Some(&d.account),
            Event::TeamAssigned(d) => Some(&d.account),
            Event::TeamUnassigned(d) => Some(&d.account),
            Event::ContactAdded(d) => Some(&d.account),
            Event::ContactRemoved(d) => Some(&d.account),
            Event::TxnRecorded(d) => Some(&d.account),
            Event::TxnReversed(d) => Some(&d.account),
            Event::PersonJoined(_)
            | Event::PersonLeft(_)
            | Event::LineSet(_)
            | Event::LineEnded(_)
            | Event::SubjectErased(_) => None,
        }
    }

    /// The person this event is about: the subject of person and reporting events, the
    /// assignee of team events.
    pub fn person(&self) -> Option<&str> {
        match self {
            Event::PersonJoined(d) => Some(&d.person),
            Event::PersonLeft(d) => Some(&d.person),
            Event::LineSet(d) => Some(&d.person),
            Event::LineEnded(d) => Some(&d.person),
            Event::TeamAssigned(d) => Some(&d.person),
            Event::TeamUnassigned(d) => Some(&d.person),
            _ => None,
        }
    }

    /// The subject stream: `account/<id>` or `person/<id>`.
    pub fn stream(&self) -> String {
        if let Event::SubjectErased(d) = self {
            let (kind, id) = d.subject();
            return format!("erased/{kind}/{id}");
        }
        match self.account() {
            Some(account) => format!("account/{account}"),
            None => format!("person/{}", self.person().unwrap_or_default()),
        }
    }

    /// True for the kinds that always apply in the fold (contract §6).
    pub fn always_applies(&self) -> bool {
        matches!(
            self,
            Event::AccountOpened(_)
                | Event::PersonJoined(_)
                | Event::TxnRecorded(_)
                | Event::TxnReversed(_)
        )
    }

    /// True for transaction events.
    pub fn is_transaction(&self) -> bool {
        matches!(self, Event::TxnRecorded(_) | Event::TxnReversed(_))
    }

    /// The canonical JSON of the data, defaults explicit, absent optional fields absent.
    pub fn data_json(&self) -> String {
        Box::<str>::from(self.data_raw()).into_string()
    }

    /// [`Event::data_json`] as a JSON value that is written as it is: serialized once,
    /// not parsed again to be checked (what `RawValue::from_string` would do).
    pub fn data_raw(&self) -> Box<serde_json::value::RawValue> {
        let result = match self {
            Event::AccountOpened(d) => serde_json::value::to_raw_value(d),
            Event::AccountRenamed(d) => serde_json::value::to_raw_value(d),
            Event::ParentChanged(d) => serde_json::value::to_raw_value(d),
            Event::ScopeChanged(d) => serde_json::value::to_raw_value(d),
            Event::Classified(d) => serde_json::value::to_raw_value(d),
            Event::StatusChanged(d) => serde_json::value::to_raw_value(d),
            Event::PersonJoined(d) => serde_json::value::to_raw_value(d),
            Event::PersonLeft(d) => serde_json::value::to_raw_value(d),
            Event::TeamAssigned(d) => serde_json::value::to_raw_value(d),
            Event::TeamUnassigned(d) => serde_json::value::to_raw_value(d),
            Event::LineSet(d) => serde_json::value::to_raw_value(d),
            Event::LineEnded(d) => serde_json::value::to_raw_value(d),
            Event::ContactAdded(d) => serde_json::value::to_raw_value(d),
            Event::ContactRemoved(d) => serde_json::value::to_raw_value(d),
            Event::TxnRecorded(d) => serde_json::value::to_raw_value(d),
            Event::TxnReversed(d) => serde_json::value::to_raw_value(d),
            Event::SubjectErased(d) => serde_json::value::to_raw_value(d),
        };
        // Serializing plain structs of strings, bools and enums cannot fail.
        result.unwrap_or_else(|e| unreachable!("serializing event data: {e}"))
    }

    // A rule table: one arm per event type of the catalogue, each a few lines.
    #[allow(clippy::too_many_lines)]
    fn check_shape(&self) -> Result<(), DomainError> {
        let bad = |field: &'static str, value: &str, rule: &'static str| {
            Err(DomainError::Field {
                kind: self.kind(),
                field,
                value: value.to_string(),
                rule,
            })
        };
        let id = |field: &'static str, value: &str| {
            if is_valid_id(value) {
                Ok(())
            } else {
                bad(field, value, "an id is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit")
            }
        };
        let text = |field: &'static str, value: &str, max: usize| {
            if let Some(sealed) = value.strip_prefix(ids::SEALED_PREFIX) {
                // A personal field as stored: sealed by the ledger (see docs/PRIVACY.md).
                return if ids::is_sealed_body(sealed) {
                    Ok(())
                } else {
                    bad(
                        field,
                        value,
                        "a sealed value is arl:sealed:v1: and base64url",
                    )
                };
            }
            let n = ids::chars(value);
            if n == 0 || n > max {
                bad(field, value, "must be 1-200 characters")
            } else {
                Ok(())
            }
        };
        if let Some(account) = self.account() {
            id("account", account)?;
        }
        if let Some(person) = self.person() {
            id("person", person)?;
        }
        match self {
            Event::AccountOpened(d) => {
                text("name", &d.name, ids::NAME_CHARS_MAX)?;
                if let Some(parent) = &d.parent {
                    id("parent", parent)?;
                    if parent == &d.account {
                        return bad("parent", parent, "an account cannot be its own parent");
                    }
                }
                if let Some(country) = &d.country {
                    if !is_valid_country(country) {
                        return bad(
                            "country",
                            country,
                            "use an ISO 3166-1 alpha-2 code in upper case, such as DE",
                        );
                    }
                }
                if !matches!(d.status, Status::Prospect | Status::Active) {
                    return bad(
                        "status",
                        d.status.as_str(),
                        "an account opens as prospect or active",
                    );
                }
            }
            Event::AccountRenamed(d) => text("name", &d.name, ids::NAME_CHARS_MAX)?,
            Event::ParentChanged(d) => {
                if let Some(parent) = &d.parent {
                    id("parent", parent)?;
                }
            }
            Event::Classified(d) => match (&d.model, &d.category) {
                (None, None) => {}
                (Some(model), Some(category)) => {
                    if !model.allows(category) {
                        return bad(
                            "category",
                            category,
                            "the category must belong to the model (see the catalogue)",
                        );
                    }
                }
                (Some(_), None) | (None, Some(_)) => {
                    return bad("model", "", "give model and category both, or neither");
                }
            },
            Event::PersonJoined(d) => {
                text("name", &d.name, ids::TEXT_CHARS_MAX)?;
                if let Some(title) = &d.title {
                    text("title", title, ids::TEXT_CHARS_MAX)?;
                }
            }
            Event::LineSet(d) => id("manager", &d.manager)?,
            Event::LineEnded(d) => id("manager", &d.manager)?,
            Event::ContactAdded(d) => {
                id("contact", &d.contact)?;
                text("name", &d.name, ids::TEXT_CHARS_MAX)?;
            }
            Event::ContactRemoved(d) => id("contact", &d.contact)?,
            Event::TxnRecorded(d) => {
                id("txn", &d.txn)?;
                let currency =
                    Currency::from_code(&d.currency).ok_or_else(|| DomainError::Money {
                        kind: self.kind(),
                        error: crate::money::MoneyError::UnknownCurrency {
                            code: d.currency.clone(),
                        },
                    })?;
                parse_amount(&d.amount, currency).map_err(|error| DomainError::Money {
                    kind: self.kind(),
                    error,
                })?;
                for (field, value) in [("reference", &d.reference), ("description", &d.description)]
                {
                    if let Some(value) = value {
                        text(field, value, ids::TEXT_CHARS_MAX)?;
                    }
                }
            }
            Event::TxnReversed(d) => id("txn", &d.txn)?,
            Event::SubjectErased(d) => match (&d.contact, &d.person) {
                (Some(contact), None) => id("contact", contact)?,
                (None, Some(person)) => id("person", person)?,
                _ => return bad("contact", "", "name exactly one of contact and person"),
            },
            Event::ScopeChanged(_)
            | Event::StatusChanged(_)
            | Event::PersonLeft(_)
            | Event::TeamAssigned(_)
            | Event::TeamUnassigned(_) => {}
        }
        Ok(())
    }
}

impl TxnRecorded {
    /// The currency (checked when the event was parsed).
    pub fn currency(&self) -> Option<Currency> {
        Currency::from_code(&self.currency)
    }

    /// The amount in minor units (checked when the event was parsed).
    pub fn amount_minor(&self) -> Option<i64> {
        parse_amount(&self.amount, self.currency()?).ok()
    }
}

/// `transaction.recorded` data read in place: its facts without copying its strings, for
/// readers of stored events that keep only those (a rebuild of the views). [`parse`]
/// accepts exactly the data [`Event::parse`] accepts as a `transaction.recorded` whose
/// strings need no unescaping; for anything else it gives `None`, and [`Event::parse`]
/// says what is wrong.
///
/// [`parse`]: TxnRecordedRef::parse
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnRecordedRef<'a> {
    pub account: &'a str,
    pub txn: &'a str,
    pub kind: TxnKind,
    pub currency: Currency,
    pub amount_minor: i64,
}

/// The members of `transaction.recorded` data as strings, however they were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnFields<'a> {
    pub account: &'a str,
    pub amount: &'a str,
    pub currency: &'a str,
    pub description: Option<&'a str>,
    pub kind: &'a str,
    pub reference: Option<&'a str>,
    pub txn: &'a str,
}

impl<'a> TxnRecordedRef<'a> {
    pub fn parse(data: &'a str) -> Option<TxnRecordedRef<'a>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire<'a> {
            account: &'a str,
            amount: &'a str,
            currency: &'a str,
            #[serde(default)]
            description: Option<&'a str>,
            kind: &'a str,
            #[serde(default)]
            reference: Option<&'a str>,
            txn: &'a str,
        }
        let wire: Wire<'a> = serde_json::from_str(data).ok()?;
        TxnRecordedRef::from_fields(TxnFields {
            account: wire.account,
            amount: wire.amount,
            currency: wire.currency,
            description: wire.description,
            kind: wire.kind,
            reference: wire.reference,
            txn: wire.txn,
        })
    }

    /// The facts of data read by other means (a reader of the canonical layout): the same
    /// checks as [`TxnRecordedRef::parse`] after its JSON reading.
    pub fn from_fields(fields: TxnFields<'a>) -> Option<TxnRecordedRef<'a>> {
        let text_ok = |text: Option<&str>| {
            text.is_none_or(|t| (1..=ids::TEXT_CHARS_MAX).contains(&ids::chars(t)))
        };
        if !(is_valid_id(fields.account)
            && is_valid_id(fields.txn)
            && text_ok(fields.description)
            && text_ok(fields.reference))
        {
            return None;
        }
        let currency = Currency::from_code(fields.currency)?;
        Some(TxnRecordedRef {
            account: fields.account,
            txn: fields.txn,
            kind: TxnKind::parse(fields.kind)?,
            currency,
            amount_minor: parse_amount(fields.amount, currency).ok()?,
        })
    }
}

/// A typed event with its place in the log: the unit the fold works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub seq: u64,
    pub effective_at: Timestamp,
    pub recorded_at: Timestamp,
    pub event: Event,
}

impl Recorded {
    /// The fold's order: (`effective_at`, `seq`).
    pub fn point(&self) -> (Timestamp, u64) {
        (self.effective_at, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data written without a second parse is the JSON that parse would have kept:
    /// compact, members in the canonical order, escapes as serde_json writes them.
    #[test]
    fn data_raw_is_the_checked_canonical_json() {
        for (kind, data) in [
            (
                "account.opened",
                r#"{"account":"acme-de","name":"Acme \"DE\" é","parent":"acme","scope":"national","country":"DE"}"#,
            ),
            (
                "transaction.recorded",
                r#"{"txn":"t.2","account":"acme","amount":"3","currency":"JPY","description":"d\nx","kind":"purchase","reference":"r"}"#,
            ),
            (
                "team.assigned",
                r#"{"account":"acme","person":"jdoe","role":"media"}"#,
            ),
        ] {
            let event = Event::parse(kind, data).expect("a valid event");
            let raw = event.data_raw();
            let checked =
                serde_json::value::RawValue::from_string(event.data_json()).expect("valid JSON");
            assert_eq!(raw.get(), checked.get(), "{kind}");
            // Compact, members sorted: what a map of the same members writes.
            let value: serde_json::Value = serde_json::from_str(raw.get()).expect("JSON");
            assert_eq!(raw.get(), serde_json::to_string(&value).expect("JSON"));
        }
    }

    /// The in-place reading of a `transaction.recorded` never accepts what the typed
    /// parse rejects, and gives the same facts when both accept.
    #[test]
    fn txn_read_in_place_agrees_with_the_typed_parse() {
        let cases = [
            r#"{"account":"acme-de","amount":"12.50","currency":"EUR","kind":"sale","txn":"t1"}"#,
            r#"{"account":"acme","amount":"3","currency":"JPY","description":"d","kind":"purchase","reference":"r","txn":"t.2"}"#,
            r#"{"account":"acme","amount":"1.005","currency":"KWD","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1.5","currency":"JPY","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":"t","extra":1}"#,
            r#"{"account":"acme","amount":"1","currency":"eur","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"gift","txn":"t"}"#,
            r#"{"account":"ac me","amount":"1","currency":"EUR","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":""}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":"t","description":""}"#,
            r#"{"account":"acme","amount":"1","currency":"EUR","kind":"sale","txn":"t","description":"a\"b"}"#,
            r#"{"account":"acme","amount":"x","currency":"EUR","kind":"sale","txn":"t"}"#,
            r#"{"account":"acme","currency":"EUR","kind":"sale","txn":"t"}"#,
        ];
        let mut read_in_place = 0;
        for data in cases {
            let typed = Event::parse("transaction.recorded", data);
            match (TxnRecordedRef::parse(data), &typed) {
                (Some(txn), Ok(Event::TxnRecorded(d))) => {
                    read_in_place += 1;
                    assert_eq!(txn.account, d.account, "{data}");
                    assert_eq!(txn.txn, d.txn, "{data}");
                    assert_eq!(txn.kind, d.kind, "{data}");
                    assert_eq!(Some(txn.currency), d.currency(), "{data}");
                    assert_eq!(Some(txn.amount_minor), d.amount_minor(), "{data}");
                }
                (Some(_), _) => panic!("read in place but rejected by the typed parse: {data}"),
                (None, _) => {}
            }
        }
        assert_eq!(read_in_place, 3, "cases read in place");
        // An escaped string cannot be borrowed: the typed parse takes it.
        assert!(Event::parse("transaction.recorded", cases[10]).is_ok());
    }
}
