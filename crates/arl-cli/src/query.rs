//! The account, team and transaction queries: call the view crates at a point, print.

use crate::cli::{
    AccountArgs, AccountsArgs, BalanceArgs, Format, GraphFormat, OrgArgs, PeriodArg, PersonArgs,
    TxnsArgs,
};
use crate::ledger::{point, Ctx};
use crate::out::{self, date as human, group, num};
use crate::{failure, graph};
use anyhow::Result;
use arl_accounts::{Card, Filter};
use arl_domain::{Period, Timestamp};
use arl_fold::Point;
use serde::Serialize;

fn describe(point: Point) -> String {
    let as_of = if point.as_of == Timestamp::MAX {
        "the end of time".to_string()
    } else {
        point.as_of.human()
    };
    format!("as of {as_of}, known at seq {}", point.at_seq)
}

fn account_missing(account: &str, point: Point) -> anyhow::Error {
    failure::error(format!(
        "account \"{account}\" does not exist {}; list the accounts with arl accounts, or pick a later --as-of",
        describe(point)
    ))
}

/// Fails when the account was never opened in what is known at the point (at any valid
/// time): registers and balances of an account opened later are empty, of an unknown id an
/// error.
fn require_known(reader: &arl_views::ViewReader, account: &str, point: Point) -> Result<()> {
    let ever = Point {
        as_of: Timestamp::MAX,
        at_seq: point.at_seq,
    };
    match arl_fold::query::account_at(reader, account, ever)? {
        Some(_) => Ok(()),
        None => Err(account_missing(account, ever)),
    }
}

/// `arl account ID`.
pub fn account(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let Some(card) = arl_accounts::card(&reader, &args.account, point)? else {
        return Err(account_missing(&args.account, point));
    };
    match args.format {
        Format::Json => out::emit_json(&card),
        Format::Csv => out::emit_csv(CARD_CSV_HEADER, &[card_csv_row(&card)]),
        Format::Table => print_card(&card),
    }
}

const CARD_CSV_HEADER: &[&str] = &[
    "account",
    "name",
    "status",
    "scope",
    "country",
    "parent",
    "children",
    "key_account",
    "model",
    "category",
    "opened_at",
    "primary",
    "team",
    "contacts",
];

fn card_csv_row(card: &Card) -> Vec<String> {
    let (model, category) = match &card.classification {
        Some(c) => (c.model.to_string(), c.category.clone()),
        None => (String::new(), String::new()),
    };
    vec![
        card.account.clone(),
        card.name.clone(),
        card.status.to_string(),
        card.scope.to_string(),
        card.country.clone().unwrap_or_default(),
        card.parent.clone().unwrap_or_default(),
        card.children.join(" "),
        card.key_account.to_string(),
        model,
        category,
        card.opened_at.clone(),
        card.primary().map(|m| m.person.clone()).unwrap_or_default(),
        card.team
            .iter()
            .map(|m| format!("{}:{}", m.role, m.person))
            .collect::<Vec<_>>()
            .join(" "),
        card.contacts
            .iter()
            .map(|c| format!("{}:{}", c.role, c.contact))
            .collect::<Vec<_>>()
            .join(" "),
    ]
}

fn print_card(card: &Card) -> Result<()> {
    let mut facts = out::table(&["field", "value"]);
    let classification = match &card.classification {
        Some(c) => format!("{} / {}", c.model, c.category),
        None => "-".to_string(),
    };
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let children = if card.children.is_empty() {
        "-".to_string()
    } else {
        card.children.join(", ")
    };
    for (field, value) in [
        ("account", card.account.clone()),
        ("name", card.name.clone()),
        ("status", card.status.to_string()),
        ("scope", card.scope.to_string()),
        ("country", or_dash(&card.country)),
        ("parent", or_dash(&card.parent)),
        ("children", children),
        ("key account", yes_no(card.key_account).to_string()),
        ("classification", classification),
        ("opened", human(&card.opened_at)),
    ] {
        facts.add_row(vec![field.to_string(), value]);
    }
    out::emit_table(&facts)?;
    let mut team = out::table(&["role", "person", "primary", "since"]);
    for m in &card.team {
        team.add_row(vec![
            m.role.to_string(),
            m.person.clone(),
            if m.primary { "primary" } else { "" }.to_string(),
            human(&m.since),
        ]);
    }
    out::emit_line(&format!("team ({})", card.team.len()))?;
    out::emit_table(&team)?;
    let mut contacts = out::table(&["contact", "name", "role", "since"]);
    for c in &card.contacts {
        contacts.add_row(vec![
            c.contact.clone(),
            c.name.clone(),
            c.role.to_string(),
            human(&c.since),
        ]);
    }
    out::emit_line(&format!("contacts ({})", card.contacts.len()))?;
    out::emit_table(&contacts)
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// `arl accounts`.
pub fn accounts(ctx: &Ctx, args: &AccountsArgs) -> Result<()> {
    if !args.tree && matches!(args.format, GraphFormat::Dot | GraphFormat::Mermaid) {
        return Err(failure::usage(
            "--format dot and mermaid draw the hierarchy: add --tree",
        ));
    }
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let filter = Filter {
        status: args.status,
        scope: args.scope,
        key_accounts_only: args.key_accounts,
        country: args.country.clone(),
    };
    if args.tree {
        let forest = arl_accounts::tree(&reader, point, &filter)?;
        return graph::print_tree(&forest, args.format);
    }
    let cards = arl_accounts::list(&reader, point, &filter)?;
    match args.format {
        GraphFormat::Json => out::emit_json(&cards),
        GraphFormat::Csv => {
            let rows: Vec<Vec<String>> = cards.iter().map(card_csv_row).collect();
            out::emit_csv(CARD_CSV_HEADER, &rows)
        }
        _ => {
            let mut table = out::table(&[
                "account", "name", "status", "scope", "country", "parent", "key", "children",
                "team", "opened",
            ]);
            for c in &cards {
                table.add_row(vec![
                    comfy_table::Cell::new(&c.account),
                    comfy_table::Cell::new(&c.name),
                    comfy_table::Cell::new(c.status),
                    comfy_table::Cell::new(c.scope),
                    comfy_table::Cell::new(c.country.as_deref().unwrap_or("-")),
                    comfy_table::Cell::new(c.parent.as_deref().unwrap_or("-")),
                    comfy_table::Cell::new(if c.key_account { "key" } else { "" }),
                    num(c.children.len()),
                    num(c.team.len()),
                    comfy_table::Cell::new(human(&c.opened_at)),
                ]);
            }
            out::emit_table(&table)?;
            out::note(ctx.quiet, &format!("{} accounts", cards.len()));
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct MemberJson {
    person: String,
    name: Option<String>,
    role: String,
    primary: bool,
    since: String,
}

/// `arl team ACCOUNT`.
pub fn team(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let Some(members) = arl_teams::team(&reader, &args.account, point)? else {
        return Err(account_missing(&args.account, point));
    };
    let rows: Vec<MemberJson> = members
        .into_iter()
        .map(|m| MemberJson {
            person: m.person,
            name: m.name,
            role: m.role.to_string(),
            primary: m.primary,
            since: m.since.canonical(),
        })
        .collect();
    let header = ["role", "person", "name", "primary", "since"];
    let csv_row = |m: &MemberJson| {
        let name = m.name.clone().unwrap_or_default();
        vec![
            m.role.clone(),
            m.person.clone(),
            name,
            m.primary.to_string(),
            m.since.clone(),
        ]
    };
    let table_row = |m: &MemberJson| {
        let name = m.name.clone().unwrap_or_else(|| "-".into());
        let primary = if m.primary { "primary" } else { "" };
        vec![
            m.role.clone(),
            m.person.clone(),
            name,
            primary.into(),
            human(&m.since),
        ]
    };
    out::emit_rows(args.format, &header, &rows, csv_row, table_row)
}

#[derive(Serialize)]
struct PortfolioJson {
    account: String,
    account_name: String,
    role: String,
    primary: bool,
    since: String,
}

/// `arl portfolio PERSON`.
pub fn portfolio(ctx: &Ctx, args: &PersonArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let Some(entries) = arl_teams::portfolio(&reader, &args.person, point)? else {
        return Err(failure::error(format!(
            "person \"{}\" has not joined {}; see the people with arl org",
            args.person,
            describe(point)
        )));
    };
    let rows: Vec<PortfolioJson> = entries
        .into_iter()
        .map(|e| PortfolioJson {
            account: e.account,
            account_name: e.account_name,
            role: e.role.to_string(),
            primary: e.primary,
            since: e.since.canonical(),
        })
        .collect();
    let header = ["account", "name", "role", "primary", "since"];
    let csv_row = |e: &PortfolioJson| {
        let fields = [&e.account, &e.account_name, &e.role];
        let mut row: Vec<String> = fields.into_iter().cloned().collect();
        row.extend([e.primary.to_string(), e.since.clone()]);
        row
    };
    let table_row = |e: &PortfolioJson| {
        let primary = if e.primary { "primary" } else { "" };
        vec![
            e.account.clone(),
            e.account_name.clone(),
            e.role.clone(),
            primary.into(),
            human(&e.since),
        ]
    };
    out::emit_rows(args.format, &header, &rows, csv_row, table_row)
}

/// `arl org`.
pub fn org(ctx: &Ctx, args: &OrgArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let chart = arl_teams::org_chart(&reader, point)?;
    graph::print_org(&chart, args.format)
}

#[derive(Serialize)]
struct ContactJson {
    contact: String,
    name: String,
    role: String,
    since: String,
}

/// `arl contacts ACCOUNT`.
pub fn contacts(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    let Some(contacts) = arl_teams::contacts(&reader, &args.account, point)? else {
        return Err(account_missing(&args.account, point));
    };
    let rows: Vec<ContactJson> = contacts
        .into_iter()
        .map(|c| ContactJson {
            contact: c.contact,
            name: c.name,
            role: c.role.to_string(),
            since: c.since.canonical(),
        })
        .collect();
    let header = ["contact", "name", "role", "since"];
    let csv_row = |c: &ContactJson| {
        vec![
            c.contact.clone(),
            c.name.clone(),
            c.role.clone(),
            c.since.clone(),
        ]
    };
    let table_row = |c: &ContactJson| {
        vec![
            c.contact.clone(),
            c.name.clone(),
            c.role.clone(),
            human(&c.since),
        ]
    };
    out::emit_rows(args.format, &header, &rows, csv_row, table_row)
}

#[derive(Serialize)]
struct RegisterJson {
    seq: u64,
    effective_at: String,
    recorded_at: String,
    txn: String,
    kind: String,
    reversal: bool,
    reversed: bool,
    currency: String,
    amount: String,
    reference: Option<String>,
    description: Option<String>,
    running_net: String,
}

/// `arl txns ACCOUNT`.
pub fn txns(ctx: &Ctx, args: &TxnsArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    require_known(&reader, &args.account, point)?;
    let rows: Vec<RegisterJson> =
        arl_txns::register(&reader, &args.account, point, args.from, args.to)?
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
            .collect();
    match args.format {
        Format::Json => out::emit_json(&rows),
        Format::Csv => out::emit_csv(
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
            &rows
                .iter()
                .map(|r| {
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
                })
                .collect::<Vec<_>>(),
        ),
        Format::Table => print_register(&rows),
    }
}

fn print_register(rows: &[RegisterJson]) -> Result<()> {
    let mut table = out::table(&["date", "seq", "txn", "kind", "amount", "cur", "net", "note"]);
    for r in rows {
        let note = if r.reversal {
            "reversal".to_string()
        } else if r.reversed {
            "reversed".to_string()
        } else {
            r.reference.clone().unwrap_or_default()
        };
        table.add_row(vec![
            comfy_table::Cell::new(human(&r.effective_at)),
            num(r.seq),
            comfy_table::Cell::new(&r.txn),
            comfy_table::Cell::new(&r.kind),
            num(group(&r.amount)),
            comfy_table::Cell::new(&r.currency),
            num(group(&r.running_net)),
            comfy_table::Cell::new(note),
        ]);
    }
    out::emit_table(&table)
}

/// `arl balance [ACCOUNT]`.
pub fn balance(ctx: &Ctx, args: &BalanceArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let point = point(&reader, &args.at)?;
    if let Some(account) = &args.account {
        require_known(&reader, account, point)?;
    }
    let query = arl_txns::BalanceQuery {
        account: args.account.clone(),
        period: match args.period {
            PeriodArg::Month => Period::Month,
            PeriodArg::Quarter => Period::Quarter,
            PeriodArg::Year => Period::Year,
            PeriodArg::All => Period::All,
        },
        from: args.from,
        to: args.to,
        rollup: args.rollup,
        point,
    };
    let rows = arl_txns::balances(&reader, &query)?;
    let header = arl_txns::BalanceRow::COLUMNS;
    let csv_row = |r: &arl_txns::BalanceRow| r.fields().map(str::to_string).into_iter().collect();
    let table_row = |r: &arl_txns::BalanceRow| {
        let text = |s: &String| comfy_table::Cell::new(s);
        vec![
            text(&r.account),
            text(&r.period),
            text(&r.currency),
            num(group(&r.sales)),
            num(group(&r.purchases)),
            num(group(&r.net)),
        ]
    };
    out::emit_rows(args.format, &header, &rows, csv_row, table_row)
}
