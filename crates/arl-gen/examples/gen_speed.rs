//! Measures generation speed: `cargo run --release -p arl-gen --example gen_speed [EVENTS] [SEED]`.
//! Prints lines per second and the event mix; `--print` writes the lines to stdout instead.

use std::io::Write;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let print = args.iter().any(|a| a == "--print");
    let mut numbers = args.iter().filter_map(|a| a.parse::<u64>().ok());
    let events = numbers.next().unwrap_or(1_000_000);
    let seed = numbers.next().unwrap_or(1);
    let mut generator = arl_gen::Generator::new(arl_gen::Config::new(events, seed));
    let started = Instant::now();
    let mut bytes = 0u64;
    if print {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        while let Some(line) = generator.next_line() {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        }
        return out.flush();
    }
    while let Some(line) = generator.next_line() {
        bytes += line.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = generator.stats();
    eprintln!(
        "{events} lines in {seconds:.3} s: {:.0} lines/s, {:.1} MB/s, {} accounts, {} people",
        events as f64 / seconds,
        bytes as f64 / seconds / 1e6,
        generator.accounts().count(),
        generator.people().count(),
    );
    for (name, count) in arl_gen::EVENT_TYPES.iter().zip(stats.by_type) {
        eprintln!(
            "{name:24} {count:>10} {:6.2}%",
            100.0 * count as f64 / events as f64
        );
    }
    eprintln!(
        "{:24} {:>10} {:6.2}%",
        "late (> 1 day)",
        stats.late,
        100.0 * stats.late as f64 / events as f64
    );
    Ok(())
}
