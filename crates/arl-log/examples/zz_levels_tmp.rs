use arl_log::codec::{Codec, ENVELOPE_DICTIONARY};
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let log = arl_log::Log::open(std::path::Path::new(&dir)).unwrap();
    let n = log.head().seq.min(300_000);
    let frames: Vec<Vec<u8>> = log
        .range(1, n)
        .map(|e| e.unwrap().canonical_bytes())
        .collect();
    let raw: usize = frames.iter().map(Vec::len).sum();
    for level in [-5, -1, 1, 2, 3] {
        let codec = Codec::of(ENVELOPE_DICTIONARY, level).unwrap();
        let mut out = Vec::new();
        let t = std::time::Instant::now();
        let mut total = 0;
        for f in &frames {
            out.clear();
            codec.compress_into(f, &mut out);
            total += out.len();
        }
        let el = t.elapsed();
        println!(
            "level {level}: {:.1} B/event (raw {:.1}), {:.2} us/event",
            total as f64 / n as f64,
            raw as f64 / n as f64,
            el.as_secs_f64() * 1e6 / n as f64
        );
    }
}
