//! The account, team and transaction queries: ask arl-query at a point, print.

use crate::cli::{
    AccountArgs, AccountsArgs, BalanceArgs, Format, GraphFormat, OrgArgs, PeriodArg, PersonArgs,
    TeamArgs, TxnsArgs,
};
use crate::ledger::Ctx;
use crate::out::{self, date as human, group, num};
use crate::{failure, graph};
use anyhow::Result;
use arl_accounts::{Card, Filter};
use arl_domain::Period;
use arl_query::accounts::cards_csv;
use arl_query::teams::{AccountQuestion, ContactRow, PersonQuestion, PortfolioRow, TeamRow};
use arl_query::timeline::{Interval, Timeline, TimelineQuestion};
use arl_query::txns::{BalanceQuestion, RegisterJson, RegisterQuestion};
use arl_query::{AccountsQuestion, CardQuestion};

/// `arl account ID`.
pub fn account(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let question = CardQuestion {
        account: args.account.clone(),
        at: args.at.query(),
    };
    let card = question.answer(&reader).map_err(failure::query)?;
    match args.format {
        Format::Json => out::emit_json(&card),
        Format::Csv => out::emit_csv_table(&cards_csv(std::slice::from_ref(&card))),
        Format::Table => print_card(&card),
    }
}

pub(crate) fn print_card(card: &Card) -> Result<()> {
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
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let question = AccountsQuestion {
        filter: Filter {
            status: args.status,
            scope: args.scope,
            key_accounts_only: args.key_accounts,
            country: args.country.clone(),
        },
        at: args.at.query(),
    };
    if args.tree {
        let forest = question.tree(&reader).map_err(failure::query)?;
        return graph::print_tree(&forest, args.format);
    }
    let cards = question.list(&reader).map_err(failure::query)?;
    match args.format {
        GraphFormat::Json => out::emit_json(&cards),
        GraphFormat::Csv => out::emit_csv_table(&cards_csv(&cards)),
        _ => print_cards(&cards, ctx.quiet),
    }
}

/// The cards of `arl accounts` as a table, and their number on standard error.
pub(crate) fn print_cards(cards: &[Card], quiet: bool) -> Result<()> {
    let mut table = out::table(&[
        "account", "name", "status", "scope", "country", "parent", "key", "children", "team",
        "opened",
    ]);
    for c in cards {
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
    out::note(quiet, &format!("{} accounts", cards.len()));
    Ok(())
}

fn account_question(args: &AccountArgs) -> AccountQuestion {
    AccountQuestion {
        account: args.account.clone(),
        at: args.at.query(),
    }
}

/// `arl team ACCOUNT`.
pub fn team(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let rows = arl_query::teams::team(&reader, &account_question(args)).map_err(failure::query)?;
    print_team(args.format, &rows)
}

/// A team in `format`.
pub(crate) fn print_team(format: Format, rows: &[TeamRow]) -> Result<()> {
    let table_row = |m: &TeamRow| {
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
    let csv = arl_query::teams::team_csv(rows);
    out::emit_answer(format, rows, &csv, table_row)
}

/// `arl team ACCOUNT --timeline [--from D] [--to D]`.
pub fn timeline(ctx: &Ctx, args: &TeamArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let question = TimelineQuestion {
        account: args.account.account.clone(),
        from: args.from,
        to: args.to,
        at: args.account.at.query(),
    };
    let answer = arl_query::timeline::timeline(&reader, &question).map_err(failure::query)?;
    print_timeline(args.account.format, &answer)
}

/// A team's timeline in `format`.
pub(crate) fn print_timeline(format: Format, answer: &Timeline) -> Result<()> {
    let csv = arl_query::timeline::timeline_csv(answer);
    match format {
        Format::Json => out::emit_json(answer),
        Format::Csv => out::emit_csv_table(&csv),
        Format::Table => {
            let mut table = out::table(&["role", "person", "valid", "recorded", "ended by"]);
            for i in &answer.intervals {
                table.add_row(timeline_row(i));
            }
            out::emit_table(&table)
        }
    }
}

fn timeline_row(i: &Interval) -> Vec<String> {
    let mark = |backdated: bool| if backdated { " (back-dated)" } else { "" };
    let valid = format!(
        "{} → {}",
        human(&i.valid_from),
        i.valid_to.as_deref().map_or_else(|| "now".into(), human)
    );
    let end = i.end_recorded_at.as_deref().map_or_else(String::new, |t| {
        format!("\nend {}{}", out::human(t), mark(i.end_backdated))
    });
    let recorded = format!(
        "start {}{}{end}",
        out::human(&i.start_recorded_at),
        mark(i.start_backdated)
    );
    let person = match &i.name {
        Some(name) => format!("{} ({})", i.person, crate::privacy::shown_cell(name)),
        None => i.person.clone(),
    };
    vec![
        i.role.clone(),
        person,
        valid,
        recorded,
        i.end_type.clone().unwrap_or_default(),
    ]
}

/// `arl portfolio PERSON`.
pub fn portfolio(ctx: &Ctx, args: &PersonArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let question = PersonQuestion {
        person: args.person.clone(),
        at: args.at.query(),
    };
    let rows = arl_query::teams::portfolio(&reader, &question).map_err(failure::query)?;
    print_portfolio(args.format, &rows)
}

/// A portfolio in `format`.
pub(crate) fn print_portfolio(format: Format, rows: &[PortfolioRow]) -> Result<()> {
    let table_row = |e: &PortfolioRow| {
        let primary = if e.primary { "primary" } else { "" };
        vec![
            e.account.clone(),
            e.account_name.clone(),
            e.role.clone(),
            primary.into(),
            human(&e.since),
        ]
    };
    let csv = arl_query::teams::portfolio_csv(rows);
    out::emit_answer(format, rows, &csv, table_row)
}

/// `arl org`.
pub fn org(ctx: &Ctx, args: &OrgArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let chart = arl_query::teams::org(&reader, &args.at.query()).map_err(failure::query)?;
    graph::print_org(&chart, args.format)
}

/// `arl contacts ACCOUNT`.
pub fn contacts(ctx: &Ctx, args: &AccountArgs) -> Result<()> {
    let opened = crate::privacy::open(ctx)?;
    let reader = opened.source();
    let rows =
        arl_query::teams::contacts(&reader, &account_question(args)).map_err(failure::query)?;
    print_contacts(args.format, &rows)
}

/// An account's contacts in `format`.
pub(crate) fn print_contacts(format: Format, rows: &[ContactRow]) -> Result<()> {
    let table_row = |c: &ContactRow| {
        vec![
            c.contact.clone(),
            c.name.clone(),
            c.role.clone(),
            human(&c.since),
        ]
    };
    let csv = arl_query::teams::contacts_csv(rows);
    out::emit_answer(format, rows, &csv, table_row)
}

/// `arl txns ACCOUNT`.
pub fn txns(ctx: &Ctx, args: &TxnsArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let question = RegisterQuestion {
        account: args.account.clone(),
        from: args.from,
        to: args.to,
        at: args.at.query(),
    };
    let rows = arl_query::txns::register(&reader, &question).map_err(failure::query)?;
    match args.format {
        Format::Json => out::emit_json(&rows),
        Format::Csv => out::emit_csv_table(&arl_query::txns::register_csv(&rows)),
        Format::Table => print_register(&rows),
    }
}

pub(crate) fn print_register(rows: &[RegisterJson]) -> Result<()> {
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

/// The period of a balance.
pub fn period(arg: PeriodArg) -> Period {
    match arg {
        PeriodArg::Month => Period::Month,
        PeriodArg::Quarter => Period::Quarter,
        PeriodArg::Year => Period::Year,
        PeriodArg::All => Period::All,
    }
}

/// `arl balance [ACCOUNT]`.
pub fn balance(ctx: &Ctx, args: &BalanceArgs) -> Result<()> {
    let (_lock, reader) = ctx.reader()?;
    let question = BalanceQuestion {
        account: args.account.clone(),
        period: period(args.period),
        from: args.from,
        to: args.to,
        rollup: args.rollup,
        at: args.at.query(),
    };
    let rows = arl_query::txns::balances(&reader, &question).map_err(failure::query)?;
    print_balances(args.format, &rows)
}

/// Balance rows in `format`.
pub(crate) fn print_balances(format: Format, rows: &[arl_txns::BalanceRow]) -> Result<()> {
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
    let csv = arl_query::txns::balances_csv(rows);
    out::emit_answer(format, rows, &csv, table_row)
}
