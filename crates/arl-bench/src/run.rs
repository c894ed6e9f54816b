//! One benchmark run at one size, and a scaling run over several.

use crate::process::{run_measured, ProcessRun};
use crate::report::{growth_table, table, Agreement, Measure, RunReport};
use crate::stats::Samples;
use crate::workload::{self, Facts};
use crate::{arl_side, peer, peer_fold, RunArgs};
use anyhow::{anyhow, Context, Result};
use arl_gen::rng::Rng;
use arl_views::Ledger;
use rusqlite::Connection;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const PEER_SETUP: &str = "SQLite (bundled) one events table, JSON data, virtual generated columns, 5 indexes; journal_mode=WAL, synchronous=FULL; import in one transaction, indexes built at its end, then ANALYZE and a WAL checkpoint(TRUNCATE)";

const LATEST: i64 = i64::MAX;
const DAY_US: i64 = 86_400_000_000;

/// Runs the benchmark (or the scaling run); false when arl and the peer disagreed.
pub fn main(args: &RunArgs) -> Result<bool> {
    let sizes = args.scale.clone().unwrap_or_else(|| vec![args.events]);
    let mut reports = Vec::new();
    for &events in &sizes {
        let report = run_one(args, events)?;
        if !args.json {
            println!("{}", table(&report));
        }
        let ok = report.agreement.first_difference.is_none();
        reports.push(report);
        if !ok {
            break;
        }
    }
    if args.json {
        let value = match reports.as_slice() {
            [one] if args.scale.is_none() => serde_json::to_value(one)?,
            all => serde_json::json!({ "runs": all }),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else if reports.len() > 1 {
        println!("growth with the history:\n\n{}", growth_table(&reports));
    }
    Ok(reports
        .iter()
        .all(|r| r.agreement.first_difference.is_none()))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn us(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

fn progress(args: &RunArgs, what: &str) {
    if !args.json {
        eprintln!("[arl-bench] {what}");
    }
}

struct Ctx {
    args: RunArgs,
    events: u64,
    ledger_dir: PathBuf,
    db_path: PathBuf,
    facts: Facts,
    measures: Vec<Measure>,
    agreement: Agreement,
}

impl Ctx {
    fn differ(&mut self, what: String) {
        if self.agreement.first_difference.is_none() {
            eprintln!("[arl-bench] arl and the peer disagree: {what}");
            self.agreement.first_difference = Some(what);
        }
    }
}

fn run_one(args: &RunArgs, events: u64) -> Result<RunReport> {
    let temp;
    let base = if let Some(dir) = &args.dir {
        dir.join(format!("run-{events}"))
    } else {
        temp = tempfile::tempdir()?;
        temp.path().to_path_buf()
    };
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("clear {}", base.display()))?;
    }
    std::fs::create_dir_all(&base)?;
    let mut ctx = Ctx {
        args: args.clone(),
        events,
        ledger_dir: base.join("ledger"),
        db_path: base.join("peer.db"),
        facts: Facts::default(),
        measures: Vec::new(),
        agreement: Agreement::default(),
    };
    let (mut ledger, conn) = import(&mut ctx)?;
    disk(&mut ctx)?;
    points(&mut ctx, &conn)?;
    balances(&mut ctx, &ledger, &conn)?;
    verify_and_rebuild(&mut ctx, &mut ledger, &conn)?;
    drop(ledger);
    if args.process_runs > 0 {
        process_queries(&mut ctx)?;
    }
    let mut ledger = writer_open(&mut ctx)?;
    appends(&mut ctx, &mut ledger, &conn)?;
    drop(ledger);
    if args.process_runs > 0 {
        append_processes_measure(&mut ctx)?;
    }
    let order = [
        "import",
        "import_last_batches",
        "import_process",
        "card",
        "team",
        "balances",
        "rollup",
        "verify",
        "rebuild",
        "append",
        "writer_open",
        "append_process",
        "append_process_rss",
        "bytes_per_event",
        "process",
    ];
    ctx.measures
        .sort_by_key(|m| order.iter().position(|k| *k == m.key));
    Ok(RunReport {
        events,
        seed: args.seed,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        peer_setup: PEER_SETUP,
        measures: ctx.measures,
        agreement: ctx.agreement,
    })
}

/// 1. Import: the same lines, batch by batch, into both; only the import itself is timed.
fn import(ctx: &mut Ctx) -> Result<(Ledger, Connection)> {
    progress(
        &ctx.args,
        &format!("generating and importing {} events", ctx.events),
    );
    let mut ledger = arl_side::open(&ctx.ledger_dir)?;
    let mut peer_import = peer::Import::begin(peer::open(&ctx.db_path)?)?;
    let (mut arl_s, mut peer_s) = (0.0f64, 0.0f64);
    // Each batch's seconds per line, in order: its pace (below) and, for the batches at
    // the import's end, measure 1b.
    let mut line_seconds: Vec<f64> = Vec::new();
    // The same lines in a file for measure 1c (a whole `arl append` process), when it runs.
    let process = import_process_files(ctx);
    let mut lines_file = match &process {
        Some((_, path)) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?,
        )),
        None => None,
    };
    let facts = workload::stream(ctx.events, ctx.args.seed, ctx.args.batch, &mut |lines| {
        if let Some(file) = &mut lines_file {
            for line in lines {
                writeln!(file, "{line}").context("writing the import's lines")?;
            }
        }
        let t = Instant::now();
        arl_side::import_batch(&mut ledger, lines)?;
        let batch_s = t.elapsed().as_secs_f64();
        arl_s += batch_s;
        line_seconds.push(batch_s / lines.len() as f64);
        let t = Instant::now();
        peer_import.rows(lines)?;
        peer_s += t.elapsed().as_secs_f64();
        Ok(())
    })?;
    let t = Instant::now();
    let conn = peer_import.finish()?;
    peer_s += t.elapsed().as_secs_f64();
    let n = ctx.events as f64;
    let batches = Samples {
        values: line_seconds.clone(),
    }
    .summary()
    .map_or(String::new(), |s| {
        format!(
            "; arl batches {:.0}–{:.0} events/s",
            1.0 / s.max,
            1.0 / s.min
        )
    });
    let note = format!(
        "arl {:.0} events/s (validated, hashed, durable, batches of {}), peer {:.0} events/s (one transaction + index build){batches}",
        n / arl_s,
        ctx.args.batch,
        n / peer_s
    );
    ctx.measures.push(Measure::new(
        "import",
        "1. import all events",
        "s",
        &Samples::one(arl_s),
        Some(&Samples::one(peer_s)),
        note,
    ));
    ctx.measures
        .push(last_batches(&line_seconds, ctx.args.batch));
    ctx.facts = facts;
    if let (Some((arl, path)), Some(file)) = (process, lines_file) {
        file.into_inner()
            .map_err(|e| anyhow!("writing the import's lines: {e}"))?;
        let done = import_process(ctx, &arl, &path, peer_s);
        std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
        done?;
    }
    Ok((ledger, conn))
}

/// 1b. The batches of the import's last quarter (the ledger holding three quarters of the
/// history or more): a scaling run compares them across sizes, which says whether a batch
/// costs more as the ledger grows, where the slowest batch of a run says little (one batch
/// can meet a cold cache or another process). From each batch's seconds per line, as the
/// milliseconds of a whole batch (a shorter last batch counts at its pace).
fn last_batches(line_seconds: &[f64], batch: usize) -> Measure {
    let quarter = line_seconds.len().div_ceil(4);
    let mut samples = Samples::default();
    for s in &line_seconds[line_seconds.len() - quarter..] {
        samples.push(s * batch as f64 * 1e3);
    }
    Measure::new(
        "import_last_batches",
        "1b. an import batch in the last quarter",
        "ms",
        &samples,
        None,
        format!(
            "median of the last {quarter} of {} batches of {batch} lines (measure 1), each validated, hashed and durable",
            line_seconds.len()
        ),
    )
}

/// What measure 1c runs, when whole processes are timed and the `arl` binary is there: that
/// binary, and where it keeps the generated lines (beside the ledger).
fn import_process_files(ctx: &Ctx) -> Option<(PathBuf, PathBuf)> {
    if ctx.args.process_runs == 0 {
        return None;
    }
    Some((arl_binary()?, ctx.ledger_dir.with_file_name("import.jsonl")))
}

/// 1c. The same import as a user runs it: one `arl append --imported --batch-size N` process
/// reading the lines from a file (parsing, validation, hashing, both views and the log,
/// each batch durable) into a new ledger, which is removed after; beside the peer's
/// in-process import of measure 1 (it has no process of its own).
fn import_process(ctx: &mut Ctx, arl: &Path, lines: &Path, peer_s: f64) -> Result<()> {
    let ledger = ctx.ledger_dir.with_file_name("import-process-ledger");
    if ledger.exists() {
        std::fs::remove_dir_all(&ledger).with_context(|| format!("clear {}", ledger.display()))?;
    }
    let batch = ctx.args.batch.to_string();
    let mut cmd = Command::new(arl);
    cmd.arg("--ledger")
        .arg(&ledger)
        .args(["--quiet", "append", "--imported", "--batch-size", &batch])
        .arg(lines);
    let run = run_measured(&mut cmd, b"");
    std::fs::remove_dir_all(&ledger).with_context(|| format!("remove {}", ledger.display()))?;
    let run = run?;
    let want = format!("appended {}, skipped 0 duplicates", ctx.events);
    if !run.stdout.starts_with(&want) {
        return Err(anyhow!(
            "arl append --imported printed {:?}, not {want:?}",
            run.stdout
        ));
    }
    let seconds = run.wall_ms / 1e3;
    let memory = if run.rss_exact {
        "maximum resident"
    } else {
        "maximum resident (wait4's, an upper bound)"
    };
    let note = format!(
        "arl {:.0} events/s, {memory} {:.0} MB: `arl append --imported --batch-size {batch} FILE`, start to exit, into a new ledger; peer: its in-process import of measure 1",
        ctx.events as f64 / seconds,
        run.max_rss_mb
    );
    ctx.measures.push(Measure::new(
        "import_process",
        "1c. import as a whole `arl append` process",
        "s",
        &Samples::one(seconds),
        Some(&Samples::one(peer_s)),
        note,
    ));
    Ok(())
}

fn dir_bytes(path: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path).with_context(|| format!("read {}", path.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// 7. Bytes on disk per event.
fn disk(ctx: &mut Ctx) -> Result<()> {
    let arl = dir_bytes(&ctx.ledger_dir)? as f64 / ctx.events as f64;
    let wal = ctx.db_path.with_extension("db-wal");
    let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
    let peer = (std::fs::metadata(&ctx.db_path)?.len() + wal_bytes) as f64 / ctx.events as f64;
    let log = dir_bytes(&ctx.ledger_dir.join(arl_views::LOG_DIR))? as f64 / ctx.events as f64;
    let views = dir_bytes(&ctx.ledger_dir.join(arl_views::VIEWS_DIR))? as f64 / ctx.events as f64;
    ctx.measures.push(Measure::new(
        "bytes_per_event",
        "7. bytes on disk per event",
        "B",
        &Samples::one(arl),
        Some(&Samples::one(peer)),
        format!("arl: log {log:.0} + views {views:.0}; peer: SQLite file + WAL"),
    ));
    Ok(())
}

/// Random (account, as-of, known-at) points: as-of anywhere in the history, known-at from
/// a day before as-of to the end (a quarter of them: everything known), and an account
/// already opened (in both senses) at the point when there is one.
fn pick_points(facts: &Facts, seed: u64, n: u64) -> Vec<(String, i64, i64)> {
    let mut rng = Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15);
    let (t0, t1) = (facts.first_recorded_at, facts.last_recorded_at);
    let mut out = Vec::new();
    for _ in 0..n {
        let as_of = t0 + rng.below((t1 - t0).max(0) as u64 + 1) as i64;
        let known_at = if rng.chance(250) {
            LATEST
        } else {
            let lo = as_of - DAY_US;
            lo + rng.below((t1 - lo).max(0) as u64 + 1) as i64
        };
        let limit = as_of.min(known_at);
        let k = facts.opened.partition_point(|o| o.recorded_at <= limit);
        let pool = if k == 0 { facts.opened.len() } else { k };
        if pool == 0 {
            break;
        }
        let account = facts.opened[rng.below(pool as u64) as usize]
            .account
            .clone();
        out.push((account, as_of, known_at));
    }
    out
}

fn show_time(t: i64) -> String {
    if t == LATEST {
        "latest".into()
    } else {
        arl_domain::Timestamp(t).canonical()
    }
}

/// 2. Card and team at random points.
fn points(ctx: &mut Ctx, conn: &Connection) -> Result<()> {
    progress(&ctx.args, "cards and teams at random points");
    // A reader of the files alone, as a query process has: the readers the ledger hands
    // out share what they read (a long-running process gains from it), and the team,
    // asked right after the card of the same account, would find every chain read.
    let reader = arl_views::ViewReader::open(&ctx.ledger_dir.join(arl_views::VIEWS_DIR))?;
    let points = pick_points(&ctx.facts, ctx.args.seed, ctx.args.points);
    let mut s: [Samples; 4] = Default::default();
    for (account, as_of, known_at) in &points {
        let (account, as_of, known_at) = (account.as_str(), *as_of, *known_at);
        let t = Instant::now();
        let arl_card = arl_side::card(&reader, account, as_of, known_at)?;
        s[0].push(us(t));
        let t = Instant::now();
        let arl_team = arl_side::team(&reader, account, as_of, known_at)?;
        s[1].push(us(t));
        let t = Instant::now();
        let rows = peer::card_events(conn, account, as_of, known_at, true)?;
        let peer_card = peer_fold::card(account, &rows)?;
        s[2].push(us(t));
        let t = Instant::now();
        let rows = peer::card_events(conn, account, as_of, known_at, false)?;
        let peer_team = peer_fold::team(account, &rows)?;
        s[3].push(us(t));
        let at = format!(
            "as-of {} known-at {}",
            show_time(as_of),
            show_time(known_at)
        );
        ctx.agreement.cards_compared += 1;
        ctx.agreement.teams_compared += 1;
        ctx.agreement.cards_existing += u64::from(arl_card.is_some());
        if arl_card != peer_card {
            let json =
                |c: &Option<arl_accounts::Card>| serde_json::to_string(c).unwrap_or_default();
            ctx.differ(format!(
                "card of {account} at {at}:\n  arl:  {}\n  peer: {}",
                json(&arl_card),
                json(&peer_card)
            ));
        }
        if arl_team != peer_team {
            ctx.differ(format!(
                "team of {account} at {at}:\n  arl:  {arl_team:?}\n  peer: {peer_team:?}"
            ));
        }
    }
    let note = "arl: arl_accounts::card (views, subset fold); peer: 3 SQL queries + fold in Rust";
    ctx.measures.push(Measure::new(
        "card",
        "2a. account card at a point",
        "µs",
        &s[0],
        Some(&s[2]),
        note,
    ));
    let note = "arl: arl_teams::team (card fold, names from the members' joinings); peer: 2 SQL queries + fold";
    ctx.measures.push(Measure::new(
        "team",
        "2b. team at a point",
        "µs",
        &s[1],
        Some(&s[3]),
        note,
    ));
    Ok(())
}

/// The peer's sums formatted as arl formats a balance row.
fn peer_balance_rows(rows: &[peer::SumRow]) -> Result<Vec<arl_txns::BalanceRow>> {
    rows.iter()
        .map(|r| {
            let currency = arl_domain::money::Currency::from_code(&r.currency)
                .ok_or_else(|| anyhow!("peer: unknown currency {}", r.currency))?;
            let digits = u32::from(currency.minor_units());
            let scale = 10i64.pow(4u32.saturating_sub(digits));
            let fmt = |e4: i64| -> Result<String> {
                if e4 % scale != 0 {
                    return Err(anyhow!(
                        "peer: {e4} ten-thousandths of {} is not whole",
                        r.currency
                    ));
                }
                let minor = e4 / scale;
                let unit = 10i64.pow(digits);
                let sign = if minor < 0 { "-" } else { "" };
                let m = minor.unsigned_abs();
                Ok(match digits {
                    0 => format!("{sign}{m}"),
                    d => format!(
                        "{sign}{}.{:0w$}",
                        m / unit as u64,
                        m % unit as u64,
                        w = d as usize
                    ),
                })
            };
            Ok(arl_txns::BalanceRow {
                account: r.account.clone(),
                period: r.period.clone(),
                currency: r.currency.clone(),
                sales: fmt(r.sales_e4)?,
                purchases: fmt(r.purchases_e4)?,
                net: fmt(r.sales_e4 - r.purchases_e4)?,
            })
        })
        .collect()
}

fn compare_rows(
    ctx: &mut Ctx,
    what: &str,
    arl: &[arl_txns::BalanceRow],
    peer: &[arl_txns::BalanceRow],
) {
    let first = arl.iter().zip(peer).position(|(a, p)| a != p);
    match first {
        Some(i) => ctx.differ(format!(
            "{what}, row {i}:\n  arl:  {:?}\n  peer: {:?}",
            arl[i], peer[i]
        )),
        None if arl.len() != peer.len() => ctx.differ(format!(
            "{what}: arl has {} rows, the peer {}",
            arl.len(),
            peer.len()
        )),
        None => {}
    }
}

/// Quarterly balances (measure 3) of every account, without and with roll-up, at the
/// latest point; answers also compared (untimed) at a point in the middle of the history.
fn balances(ctx: &mut Ctx, ledger: &Ledger, conn: &Connection) -> Result<()> {
    progress(&ctx.args, "quarterly balances");
    let reader = ledger.reader()?;
    let mid = (ctx.facts.first_recorded_at + ctx.facts.last_recorded_at) / 2;
    let mut s: [Samples; 4] = Default::default();
    for (i, &rollup) in [false, true].iter().enumerate() {
        let what = if rollup {
            "quarterly roll-up"
        } else {
            "quarterly balances"
        };
        for repeat in 0..ctx.args.repeats.max(1) {
            let t = Instant::now();
            let arl = arl_side::balances(&reader, LATEST, LATEST, rollup)?;
            s[2 * i].push(ms(t));
            let t = Instant::now();
            let peer = peer::balances(conn, LATEST, LATEST, rollup)?;
            s[2 * i + 1].push(ms(t));
            if repeat == 0 {
                let peer = peer_balance_rows(&peer)?;
                compare_rows(ctx, &format!("{what} at the latest point"), &arl, &peer);
                let n = arl.len() as u64;
                if rollup {
                    ctx.agreement.rollup_rows += n;
                } else {
                    ctx.agreement.balance_rows += n;
                }
            }
        }
        let arl = arl_side::balances(&reader, mid, mid + 30 * DAY_US, rollup)?;
        let peer = peer_balance_rows(&peer::balances(conn, mid, mid + 30 * DAY_US, rollup)?)?;
        compare_rows(
            ctx,
            &format!("{what} at as-of {}", show_time(mid)),
            &arl,
            &peer,
        );
    }
    let note = "every account; arl: arl_txns::balances over txns.dat; peer: GROUP BY over a covering index, reversal join";
    ctx.measures.push(Measure::new(
        "balances",
        "3a. quarterly balances, all accounts",
        "ms",
        &s[0],
        Some(&s[1]),
        note,
    ));
    let note = "every account with its descendants (the global accounts' rows hold their subsidiaries); peer: recursive CTE over the latest parent";
    ctx.measures.push(Measure::new(
        "rollup",
        "3b. quarterly balances with roll-up",
        "ms",
        &s[2],
        Some(&s[3]),
        note,
    ));
    Ok(())
}

/// 4. Verify (arl only) and 5. rebuild of every view from the log (peer: REINDEX).
fn verify_and_rebuild(ctx: &mut Ctx, ledger: &mut Ledger, conn: &Connection) -> Result<()> {
    progress(&ctx.args, "verify and rebuild");
    let mut s: [Samples; 3] = Default::default();
    for _ in 0..ctx.args.heavy_repeats.max(1) {
        let t = Instant::now();
        ledger.log().verify(&mut |_| {})?;
        s[0].push(ms(t));
    }
    for _ in 0..ctx.args.heavy_repeats.max(1) {
        let t = Instant::now();
        ledger
            .replay(&mut |_| {})
            .map_err(|e| anyhow!("replay: {e}"))?;
        s[1].push(ms(t));
        let t = Instant::now();
        peer::reindex(conn)?;
        s[2].push(ms(t));
    }
    let note = "hash chain and Merkle root recomputed from every stored event; the peer has nothing comparable";
    ctx.measures
        .push(Measure::new("verify", "4. verify", "ms", &s[0], None, note));
    let note = "arl: Ledger::replay (read log, check chain, write views, swap); peer: REINDEX of its 5 indexes";
    ctx.measures.push(Measure::new(
        "rebuild",
        "5. rebuild views from the log",
        "ms",
        &s[1],
        Some(&s[2]),
        note,
    ));
    Ok(())
}

/// The real `arl` binary next to this one, if it was built.
fn arl_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let arl = exe.parent()?.join("arl");
    arl.is_file().then_some(arl)
}

fn run_process(cmd: &mut Command) -> Result<(f64, String)> {
    let t = Instant::now();
    let out = cmd.output().context("start process")?;
    let elapsed = ms(t);
    if !out.status.success() {
        return Err(anyhow!(
            "{:?} exited {}: {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// 8. A card query as a whole process, start to exit.
fn process_queries(ctx: &mut Ctx) -> Result<()> {
    progress(&ctx.args, "queries as whole processes");
    let open = &ctx.facts.open_accounts;
    let account = open[Rng::new(ctx.args.seed).below(open.len() as u64) as usize].clone();
    let exe = std::env::current_exe()?;
    let ledger = ctx.ledger_dir.to_string_lossy().into_owned();
    let db = ctx.db_path.to_string_lossy().into_owned();
    let stand_in = || {
        let mut c = Command::new(&exe);
        c.args(["arl-query", "--ledger", &ledger, "--account", &account]);
        c
    };
    let mut note = String::new();
    let mut arl_cmd = if let Some(bin) = arl_binary() {
        let mut c = Command::new(bin);
        c.args(["account", &account, "--ledger", &ledger, "--format", "json"]);
        match run_process(&mut c) {
            Ok(_) => c,
            Err(e) => {
                note = format!("target/release/arl failed ({e}); arl figure from the stand-in `arl-bench arl-query`; ");
                stand_in()
            }
        }
    } else {
        note = "target/release/arl not built: arl figure from the stand-in `arl-bench arl-query` (open_reader + card + JSON); ".into();
        stand_in()
    };
    let mut peer_cmd = Command::new(&exe);
    peer_cmd.args(["peer-query", "--db", &db, "--account", &account]);
    let (mut arl_s, mut peer_s) = (Samples::default(), Samples::default());
    for run in 0..ctx.args.process_runs {
        let (t, arl_out) = run_process(&mut arl_cmd)?;
        arl_s.push(t);
        let (t, peer_out) = run_process(&mut peer_cmd)?;
        peer_s.push(t);
        if run == 0 {
            let a: serde_json::Value = serde_json::from_str(&arl_out).context("arl output")?;
            let p: serde_json::Value = serde_json::from_str(&peer_out).context("peer output")?;
            ctx.agreement.process_outputs_compared += 1;
            if a != p {
                ctx.differ(format!(
                    "process output for {account}:\n  arl:  {a}\n  peer: {p}"
                ));
            }
        }
    }
    note.push_str(&format!("account {account}, latest point; peer: `arl-bench peer-query` (open SQLite + 3 queries + fold)"));
    ctx.measures.push(Measure::new(
        "process",
        "8. card query as a whole process",
        "ms",
        &arl_s,
        Some(&peer_s),
        note,
    ));
    Ok(())
}

/// `arl-bench peer-query`: the peer's card at the latest point, in a fresh process.
pub fn peer_query_process(db: &Path, account: &str) -> Result<String> {
    let conn = peer::open(db)?;
    let rows = peer::card_events(&conn, account, LATEST, LATEST, true)?;
    let card = peer_fold::card(account, &rows)?.with_context(|| format!("no account {account}"))?;
    Ok(serde_json::to_string(&card)?)
}

/// Opening the ledger for writing (what every `arl append` process pays), arl only.
fn writer_open(ctx: &mut Ctx) -> Result<Ledger> {
    progress(&ctx.args, "opening the ledger for writing");
    let mut s = Samples::default();
    let mut ledger = None;
    for _ in 0..ctx.args.heavy_repeats.max(1) {
        drop(ledger.take());
        let t = Instant::now();
        ledger = Some(arl_side::open(&ctx.ledger_dir)?);
        s.push(ms(t));
    }
    let note = "Ledger::open: lock, log, catch-up, validation index from the views; paid by every append process; peer: none needed";
    ctx.measures.push(Measure::new(
        "writer_open",
        "6b. open the ledger for writing",
        "ms",
        &s,
        None,
        note,
    ));
    ledger.ok_or_else(|| anyhow!("no ledger opened"))
}

/// 6. Single durable appends, each its own call.
fn appends(ctx: &mut Ctx, ledger: &mut Ledger, conn: &Connection) -> Result<()> {
    progress(&ctx.args, "single durable appends");
    let open = ctx.facts.open_accounts.clone();
    let now0 = arl_domain::Timestamp::now()
        .0
        .max(ctx.facts.last_recorded_at + 1);
    let line = |i: u64| {
        format!(
            r#"{{"type":"transaction.recorded","data":{{"account":"{}","txn":"bench-{i}","kind":"sale","amount":"10.00","currency":"EUR"}}}}"#,
            open[i as usize % open.len()]
        )
    };
    let (mut arl_s, mut peer_s) = (Samples::default(), Samples::default());
    for i in 0..ctx.args.appends {
        let l = line(i);
        let t = Instant::now();
        arl_side::append_one(ledger, &l, now0 + i as i64)?;
        arl_s.push(ms(t));
        let t = Instant::now();
        peer::append_one(conn, &l, now0 + i as i64)?;
        peer_s.push(ms(t));
    }
    let note = "in-process Ledger::append of one event (log commit + views commit); peer: one INSERT per transaction, synchronous=FULL";
    ctx.measures.push(Measure::new(
        "append",
        "6. single durable append",
        "ms",
        &arl_s,
        Some(&peer_s),
        note,
    ));
    Ok(())
}

/// Measure 6 alone on a kept ledger and peer file (`arl-bench append-in-process`): `appends`
/// one-event appends of a new transaction on `account`, each its own durable call, beside
/// one-row INSERTs into the peer's file.
pub fn appends_in_process(
    ledger_dir: &Path,
    db: &Path,
    account: &str,
    appends: u64,
) -> Result<Measure> {
    let mut ledger = arl_side::open(ledger_dir)?;
    let conn = peer::open(db)?;
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros();
    let now0 = arl_domain::Timestamp::now().0;
    let (mut arl_s, mut peer_s) = (Samples::default(), Samples::default());
    for i in 0..appends {
        let l = format!(
            r#"{{"type":"transaction.recorded","data":{{"account":"{account}","txn":"bench-inproc-{tag}-{i}","kind":"sale","amount":"10.00","currency":"EUR"}}}}"#
        );
        let t = Instant::now();
        arl_side::append_one(&mut ledger, &l, now0 + i as i64)?;
        arl_s.push(ms(t));
        let t = Instant::now();
        peer::append_one(&conn, &l, now0 + i as i64)?;
        peer_s.push(ms(t));
    }
    let note = "in-process Ledger::append of one event (log commit + views commit), on a kept ledger; peer: one INSERT per transaction, synchronous=FULL";
    Ok(Measure::new(
        "append",
        "6. single durable append",
        "ms",
        &arl_s,
        Some(&peer_s),
        note,
    ))
}

/// 6c. One-event `arl append` as a whole process (what a script pays per business action),
/// beside the peer's one-row INSERT as a whole process.
fn append_processes_measure(ctx: &mut Ctx) -> Result<()> {
    progress(&ctx.args, "one-event appends as whole processes");
    let Some(arl) = arl_binary() else {
        progress(
            &ctx.args,
            "target/release/arl not built: measure 6c skipped",
        );
        return Ok(());
    };
    let open = &ctx.facts.open_accounts;
    let account = open[Rng::new(ctx.args.seed ^ 0x6c).below(open.len() as u64) as usize].clone();
    let runs = AppendProcesses {
        ledger: ctx.ledger_dir.clone(),
        db: ctx.db_path.clone(),
        arl,
        account,
        runs: ctx.args.process_runs,
    }
    .run()?;
    ctx.measures.extend(runs.measures());
    Ok(())
}

/// What `arl-bench append-process` (and measure 6c) times: `runs` one-event `arl append`
/// processes of the binary `arl` on the ledger, each a new transaction on `account`, and as
/// many one-row INSERTs into the peer's file as whole processes.
pub struct AppendProcesses {
    pub ledger: PathBuf,
    pub db: PathBuf,
    pub arl: PathBuf,
    pub account: String,
    pub runs: u64,
}

/// The samples of [`AppendProcesses::run`].
pub struct AppendProcessSamples {
    pub arl_ms: Samples,
    pub arl_rss_mb: Samples,
    pub peer_ms: Samples,
    pub peer_rss_mb: Samples,
    pub peer_how: String,
}

impl AppendProcesses {
    /// One untimed run of each first (a binary of another views format rebuilds the views
    /// once; the page cache warms), then `runs` timed runs of each, alternating.
    pub fn run(&self) -> Result<AppendProcessSamples> {
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_micros();
        let mut samples = AppendProcessSamples {
            arl_ms: Samples::default(),
            arl_rss_mb: Samples::default(),
            peer_ms: Samples::default(),
            peer_rss_mb: Samples::default(),
            peer_how: String::new(),
        };
        for run in 0..=self.runs {
            let txn = format!("bench-process-{tag}-{run}");
            let arl_run = self.arl_append(&txn)?;
            let (peer_run, how) = self.peer_insert(&txn)?;
            samples.peer_how = how;
            if run > 0 {
                samples.arl_ms.push(arl_run.wall_ms);
                samples.arl_rss_mb.push(arl_run.max_rss_mb);
                samples.peer_ms.push(peer_run.wall_ms);
                samples.peer_rss_mb.push(peer_run.max_rss_mb);
            }
        }
        Ok(samples)
    }

    fn data(&self, txn: &str) -> String {
        format!(
            r#"{{"account":"{}","amount":"10.00","currency":"EUR","kind":"sale","txn":"{txn}"}}"#,
            self.account
        )
    }

    fn arl_append(&self, txn: &str) -> Result<ProcessRun> {
        let line = format!(
            "{{\"type\":\"transaction.recorded\",\"data\":{}}}\n",
            self.data(txn)
        );
        let mut cmd = Command::new(&self.arl);
        cmd.arg("--ledger")
            .arg(&self.ledger)
            .args(["append", "--format", "json", "--actor", "bench"]);
        let run = run_measured(&mut cmd, line.as_bytes())?;
        let report: serde_json::Value =
            serde_json::from_str(&run.stdout).context("arl append's report")?;
        if report["appended"] != 1 {
            return Err(anyhow!(
                "arl append appended no event: {}",
                run.stdout.trim()
            ));
        }
        Ok(run)
    }

    /// The peer's one-row INSERT in its own process: the `sqlite3` shell when installed,
    /// else this benchmark's own `peer-append` (bundled SQLite) in a fresh process.
    fn peer_insert(&self, txn: &str) -> Result<(ProcessRun, String)> {
        let now = arl_domain::Timestamp::now().0;
        let data = self.data(txn);
        if let Ok(shell) = which_sqlite3() {
            let sql = format!(
                "PRAGMA synchronous=FULL;\nINSERT INTO events (seq, id, type, stream, recorded_at, effective_at, actor, reason, data) SELECT COALESCE(MAX(seq), 0) + 1, NULL, 'transaction.recorded', 'account/{}', {now}, {now}, 'bench', NULL, '{data}' FROM events;\n",
                self.account
            );
            let mut cmd = Command::new(&shell);
            cmd.arg(&self.db);
            let how = format!(
                "the sqlite3 shell ({}) with PRAGMA synchronous=FULL, one INSERT",
                shell.display()
            );
            return Ok((run_measured(&mut cmd, sql.as_bytes())?, how));
        }
        let line = format!("{{\"type\":\"transaction.recorded\",\"data\":{data}}}");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("peer-append").arg("--db").arg(&self.db);
        let how = "sqlite3 not installed: `arl-bench peer-append` (bundled SQLite, synchronous=FULL) in a fresh process".to_string();
        Ok((run_measured(&mut cmd, line.as_bytes())?, how))
    }
}

impl AppendProcessSamples {
    /// Measures 6c (time) and 6d (peak resident memory).
    pub fn measures(&self) -> [Measure; 2] {
        [
            Measure::new(
                "append_process",
                "6c. one-event `arl append` as a whole process",
                "ms",
                &self.arl_ms,
                Some(&self.peer_ms),
                format!(
                    "start to exit, a transaction on an open account, read from stdin; peer: {}",
                    self.peer_how
                ),
            ),
            Measure::new(
                "append_process_rss",
                "6d. its peak resident memory",
                "MB",
                &self.arl_rss_mb,
                Some(&self.peer_rss_mb),
                "peak resident memory of each process, from GNU time (/usr/bin/time -f %M); without it, wait4's ru_maxrss, which also counts the bench's own",
            ),
        ]
    }
}

/// The `sqlite3` shell on the PATH.
fn which_sqlite3() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("sqlite3"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| anyhow!("no sqlite3 on the PATH"))
}

/// `arl-bench peer-append`: one line from standard input as one INSERT, the peer's single
/// durable append, in a fresh process.
pub fn peer_append_process(db: &Path) -> Result<()> {
    let mut line = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut line)?;
    let conn = peer::open(db)?;
    peer::append_one(&conn, line.trim(), arl_domain::Timestamp::now().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_batches_are_the_last_quarter_at_the_pace_of_a_whole_batch() {
        // Ten batches of 1,000 lines, slower and slower; the last three are the quarter.
        let line_seconds: Vec<f64> = (1..=10).map(|i| f64::from(i) * 1e-6).collect();
        let m = last_batches(&line_seconds, 1_000);
        let arl = m.arl.expect("samples");
        assert_eq!(arl.repeats, 3);
        assert!((arl.median - 9.0).abs() < 1e-9, "{arl:?}");
        assert!((arl.min - 8.0).abs() < 1e-9 && (arl.max - 10.0).abs() < 1e-9);
        assert!(m.peer.is_none());
        // One batch: it is the quarter; none: no figure.
        assert_eq!(last_batches(&[2e-6], 1_000).arl.map(|s| s.repeats), Some(1));
        assert!(last_batches(&[], 1_000).arl.is_none());
    }

    fn row(currency: &str, sales_e4: i64, purchases_e4: i64) -> peer::SumRow {
        peer::SumRow {
            account: "acme".into(),
            period: "2024-Q1".into(),
            currency: currency.into(),
            sales_e4,
            purchases_e4,
        }
    }

    fn check(r: peer::SumRow, expected: (&str, &str, &str)) {
        let rows = peer_balance_rows(&[r]).unwrap();
        let got = (
            rows[0].sales.as_str(),
            rows[0].purchases.as_str(),
            rows[0].net.as_str(),
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn peer_amounts_format_as_arl_does() {
        check(row("EUR", 12_005_000, 0), ("1200.50", "0.00", "1200.50"));
        check(row("JPY", 50_000, 70_000), ("5", "7", "-2"));
        check(row("BHD", 12_340, 0), ("1.234", "0.000", "1.234"));
        check(row("EUR", -500, 0), ("-0.05", "0.00", "-0.05"));
        assert!(peer_balance_rows(&[row("EUR", 1, 0)]).is_err());
        assert!(peer_balance_rows(&[row("XXX1", 1, 0)]).is_err());
    }

    /// A small run end to end: every answer timed agrees between arl and the peer.
    #[test]
    fn small_run_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let args = RunArgs {
            events: 3_000,
            seed: 7,
            batch: 1_000,
            points: 40,
            appends: 3,
            repeats: 1,
            heavy_repeats: 1,
            process_runs: 0,
            json: true,
            scale: None,
            dir: Some(dir.path().to_path_buf()),
        };
        let report = run_one(&args, args.events).unwrap();
        assert_eq!(report.agreement.first_difference, None);
        assert_eq!(report.agreement.cards_compared, 40);
        assert!(report.agreement.balance_rows > 0 && report.agreement.rollup_rows > 0);
        assert_eq!(report.measures.len(), 11);
        // Every measure has its place in the table: 1b right after 1.
        let keys: Vec<&str> = report.measures.iter().map(|m| m.key).collect();
        assert_eq!(keys[..2], ["import", "import_last_batches"]);
        // Three batches of 1,000 lines: the last quarter is the last one.
        let last = report
            .measures
            .iter()
            .find(|m| m.key == "import_last_batches")
            .and_then(|m| m.arl)
            .expect("measure 1b");
        assert_eq!(last.repeats, 1);
        assert!(last.median > 0.0);
    }
}
