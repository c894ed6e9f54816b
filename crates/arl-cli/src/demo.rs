//! `arl demo`: a fresh ledger from the deterministic generator, and a guided tour.

use crate::cli::DemoArgs;
use crate::ledger::Ctx;
use anyhow::Result;

pub fn run(_ctx: &Ctx, _args: &DemoArgs) -> Result<()> {
    Ok(())
}
