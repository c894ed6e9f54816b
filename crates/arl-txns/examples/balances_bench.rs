//! Times quarterly balances of all accounts at the latest point over existing views.
//!
//! `cargo run --release -p arl-txns --example balances_bench -- LEDGER_DIR [RUNS]`
//! opens `LEDGER_DIR/views` (built beforehand, e.g. by the `arl-views` example
//! `views_bench`) and prints the median of RUNS (default 11) runs.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use arl_domain::Period;
use arl_fold::Point;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: balances_bench LEDGER_DIR [RUNS]")?;
    let runs: usize = args.get(2).map(|r| r.parse()).transpose()?.unwrap_or(11);
    let reader =
        arl_views::ViewReader::open(&std::path::Path::new(dir).join(arl_views::VIEWS_DIR))?;
    let query = arl_txns::BalanceQuery {
        period: Period::Quarter,
        ..arl_txns::BalanceQuery::new(Point::LATEST)
    };
    let mut times = Vec::new();
    let mut count = 0;
    let mut digest = 0u64;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let rows = arl_txns::balances(&reader, &query)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        count = rows.len();
        // A digest of the answer, to compare runs of different builds.
        digest = rows.iter().fold(0xcbf2_9ce4_8422_2325, |h, r| {
            r.fields()
                .iter()
                .flat_map(|s| s.bytes().chain([0]))
                .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        });
    }
    times.sort_by(f64::total_cmp);
    println!(
        "quarterly balances of all accounts ({count} rows, digest {digest:016x}): median {:.1} ms of {} (min {:.1}, max {:.1})",
        times[times.len() / 2],
        times.len(),
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
