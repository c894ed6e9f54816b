//! The account hierarchy and the org chart as tables, JSON, CSV, Graphviz dot and Mermaid.

use crate::cli::GraphFormat;
use crate::out;
use anyhow::Result;
use arl_accounts::TreeNode;
use arl_domain::LineKind;
use arl_teams::OrgChart;
use std::collections::BTreeMap;
use std::fmt::Write;

/// A label inside double quotes (dot and Mermaid).
fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "'")
}

/// `arl accounts --tree`.
pub fn print_tree(forest: &[TreeNode], format: GraphFormat) -> Result<()> {
    let flat: Vec<(usize, Option<&str>, &TreeNode, bool)> = arl_query::accounts::flatten(forest)
        .into_iter()
        .map(|f| (f.depth, f.parent, f.node, f.last))
        .collect();
    match format {
        GraphFormat::Json => out::emit_json(forest),
        GraphFormat::Csv => out::emit_csv_table(&arl_query::accounts::tree_csv(forest)),
        GraphFormat::Dot => {
            let mut text = String::from("digraph accounts {\n  rankdir=LR;\n  node [shape=box];\n");
            for (_, parent, n, _) in &flat {
                let _ = writeln!(
                    text,
                    "  \"{}\" [label=\"{}\\n{} · {}\"];",
                    quoted(&n.account),
                    quoted(&n.name),
                    quoted(&n.account),
                    n.scope
                );
                if let Some(parent) = parent {
                    let _ = writeln!(
                        text,
                        "  \"{}\" -> \"{}\";",
                        quoted(parent),
                        quoted(&n.account)
                    );
                }
            }
            text.push_str("}\n");
            out::emit(&text)
        }
        GraphFormat::Mermaid => {
            let ids: BTreeMap<&str, usize> = flat
                .iter()
                .enumerate()
                .map(|(i, (_, _, n, _))| (n.account.as_str(), i))
                .collect();
            let mut text = String::from("graph TD\n");
            for (i, (_, parent, n, _)) in flat.iter().enumerate() {
                let _ = writeln!(
                    text,
                    "  n{i}[\"{}<br/>{} · {}\"]",
                    quoted(&n.name),
                    quoted(&n.account),
                    n.scope
                );
                if let Some(p) = parent.and_then(|p| ids.get(p)) {
                    let _ = writeln!(text, "  n{p} --> n{i}");
                }
            }
            out::emit(&text)
        }
        GraphFormat::Table => {
            let mut table = out::table(&["account", "name", "scope", "status", "key"]);
            let mut last_at_depth: Vec<bool> = Vec::new();
            for (depth, _, n, last) in &flat {
                last_at_depth.truncate(*depth);
                let mut prefix = String::new();
                for &ancestor_last in last_at_depth.iter().skip(1) {
                    prefix.push_str(if ancestor_last { "   " } else { "│  " });
                }
                if *depth > 0 {
                    prefix.push_str(if *last { "└─ " } else { "├─ " });
                }
                last_at_depth.push(*last);
                table.add_row(vec![
                    format!("{prefix}{}", n.account),
                    n.name.clone(),
                    n.scope.to_string(),
                    n.status.to_string(),
                    if n.key_account { "key" } else { "" }.to_string(),
                ]);
            }
            out::emit_table(&table)
        }
    }
}

/// `arl org`: solid lines drawn plain, dotted lines dashed (dot) or `-.->` (Mermaid).
pub fn print_org(chart: &OrgChart, format: GraphFormat) -> Result<()> {
    match format {
        GraphFormat::Json => out::emit_json(&arl_query::teams::org_json(chart)),
        GraphFormat::Csv => out::emit_csv_table(&arl_query::teams::org_csv(chart)),
        GraphFormat::Dot => out::emit(&org_dot(chart)),
        GraphFormat::Mermaid => out::emit(&org_mermaid(chart)),
        GraphFormat::Table => {
            let mut table = out::table(&[
                "person",
                "name",
                "title",
                "solid line to",
                "dotted lines to",
            ]);
            for p in &chart.people {
                let managers = chart.managers_of(&p.person);
                let of = |kind: LineKind| {
                    managers
                        .iter()
                        .filter(|l| l.line == kind)
                        .map(|l| format!("{} (since {})", l.manager, l.since.date_string()))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                table.add_row(vec![
                    p.person.clone(),
                    p.name.clone(),
                    p.title.clone().unwrap_or_default(),
                    of(LineKind::Solid),
                    of(LineKind::Dotted),
                ]);
            }
            out::emit_table(&table)
        }
    }
}

fn org_dot(chart: &OrgChart) -> String {
    let mut text = String::from("digraph org {\n  rankdir=TB;\n  node [shape=box];\n");
    for p in &chart.people {
        let title = p.title.as_deref().map(quoted).unwrap_or_default();
        let _ = writeln!(
            text,
            "  \"{}\" [label=\"{}\\n{}\"];",
            quoted(&p.person),
            quoted(&p.name),
            title
        );
    }
    for l in &chart.lines {
        let style = match l.line {
            LineKind::Solid => "",
            LineKind::Dotted => " [style=dashed]",
        };
        let _ = writeln!(
            text,
            "  \"{}\" -> \"{}\"{style};",
            quoted(&l.manager),
            quoted(&l.person)
        );
    }
    text.push_str("}\n");
    text
}

fn org_mermaid(chart: &OrgChart) -> String {
    let ids: BTreeMap<&str, usize> = chart
        .people
        .iter()
        .enumerate()
        .map(|(i, p)| (p.person.as_str(), i))
        .collect();
    let mut text = String::from("graph TD\n");
    for (i, p) in chart.people.iter().enumerate() {
        let _ = writeln!(
            text,
            "  p{i}[\"{}<br/>{}\"]",
            quoted(&p.name),
            quoted(&p.person)
        );
    }
    for l in &chart.lines {
        let (Some(m), Some(p)) = (ids.get(l.manager.as_str()), ids.get(l.person.as_str())) else {
            continue;
        };
        let arrow = match l.line {
            LineKind::Solid => "-->",
            LineKind::Dotted => "-.->",
        };
        let _ = writeln!(text, "  p{m} {arrow} p{p}");
    }
    text
}
