//! `arl-bench http-load`: load on a running `arl serve` from keep-alive HTTP/1.1 clients
//! (plain `std::net`, one thread per client): cards at random (as-of, known-at) points,
//! single appends one after another, concurrent appenders, and a mixed run (cards, two
//! appenders and a live subscriber at once) that samples the server's memory (VmRSS).
//! Prints one JSON object.

use anyhow::{anyhow, bail, Context, Result};
use arl_domain::Timestamp;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What to load.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// GET /v1/accounts/{id}?as_of=..&known_at=.. from every client.
    Cards,
    /// One client: POST /v1/events of one event, one after another.
    Append,
    /// Every client: POST /v1/events of one event, one after another.
    Appenders,
    /// `--clients` card clients, 2 appenders and 1 subscriber following the live stream,
    /// for `--seconds`; the server's VmRSS (`--pid`) sampled every `--sample-secs`.
    Mixed,
}

/// One load's settings.
pub struct Load {
    pub mode: Mode,
    pub clients: usize,
    pub seconds: f64,
    /// Appends of [`Mode::Append`].
    pub count: u64,
    /// The server's process id ([`Mode::Mixed`]).
    pub pid: Option<u32>,
    pub sample_secs: f64,
}

/// Appenders of [`Mode::Mixed`].
const MIXED_APPENDERS: usize = 2;

/// The longest answer read, in bytes.
const ANSWER_BYTES_MAX: usize = 64 << 20;
/// Microseconds in a day.
const DAY_MICROS: i64 = 86_400_000_000;

/// One keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
    token: String,
}

impl Conn {
    fn open(addr: &str, token: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            reader: BufReader::new(stream),
            token: token.to_string(),
        })
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: arl\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
            self.token,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            self.reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.contains("chunked"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                chunk.truncate(size);
                body.extend(chunk);
                if body.len() > ANSWER_BYTES_MAX {
                    bail!("answer over {ANSWER_BYTES_MAX} bytes");
                }
            }
        } else {
            let length = length.ok_or_else(|| anyhow!("no content-length"))?;
            if length > ANSWER_BYTES_MAX {
                bail!("answer over {ANSWER_BYTES_MAX} bytes");
            }
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok((status, body))
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Accounts with their opening time, and the head's record time.
struct Universe {
    accounts: Vec<(String, i64)>,
    head_recorded_at: i64,
}

fn universe(addr: &str, token: &str) -> Result<Universe> {
    let mut conn = Conn::open(addr, token)?;
    let (status, body) = conn.request("GET", "/v1/accounts?format=csv", b"")?;
    if status != 200 {
        bail!(
            "GET /v1/accounts: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    let mut accounts = Vec::new();
    let mut reader = csv::Reader::from_reader(body.as_slice());
    for record in reader.records() {
        let record = record?;
        let opened = Timestamp::parse_input(record.get(10).unwrap_or(""))
            .map_err(|e| anyhow!("opened_at: {e}"))?;
        accounts.push((record.get(0).unwrap_or("").to_string(), opened.0));
    }
    let (_, digest) = conn.request("GET", "/v1/digest", b"")?;
    let digest: Value = serde_json::from_slice(&digest)?;
    let head = Timestamp::parse_input(digest["recorded_at"].as_str().unwrap_or(""))
        .map_err(|e| anyhow!("recorded_at: {e}"))?;
    if accounts.is_empty() {
        bail!("the ledger has no accounts");
    }
    Ok(Universe {
        accounts,
        head_recorded_at: head.0,
    })
}

/// A card's path at a random point after the account's opening.
fn card_path(universe: &Universe, rng: &mut Rng) -> String {
    let (account, opened) = &universe.accounts[rng.below(universe.accounts.len() as u64) as usize];
    let span = (universe.head_recorded_at - opened).max(1) as u64;
    let as_of = opened + rng.below(span) as i64;
    let known_at = (as_of + rng.below(30) as i64 * DAY_MICROS).min(universe.head_recorded_at);
    format!(
        "/v1/accounts/{account}?as_of={}&known_at={}",
        Timestamp(as_of).canonical(),
        Timestamp(known_at).canonical()
    )
}

/// Latencies of one client and its failures.
#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    statuses: std::collections::BTreeMap<u16, u64>,
}

fn run_clients(
    clients: usize,
    until: Instant,
    count: Option<u64>,
    each: impl Fn(usize, &mut Rng, &mut Conn, u64) -> Result<u16> + Sync,
    addr: &str,
    token: &str,
) -> Result<Tally> {
    let tallies: Vec<Result<Tally>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let each = &each;
                scope.spawn(move || -> Result<Tally> {
                    let mut conn = Conn::open(addr, token)?;
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (client as u64 + 1));
                    let mut tally = Tally::default();
                    for n in 0.. {
                        if Instant::now() >= until || count.is_some_and(|c| n >= c) {
                            break;
                        }
                        let started = Instant::now();
                        let status = each(client, &mut rng, &mut conn, n)?;
                        tally.micros.push(started.elapsed().as_micros() as u64);
                        *tally.statuses.entry(status).or_default() += 1;
                    }
                    Ok(tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut all = Tally::default();
    for tally in tallies {
        let tally = tally?;
        all.micros.extend(tally.micros);
        for (status, n) in tally.statuses {
            *all.statuses.entry(status).or_default() += n;
        }
    }
    Ok(all)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64 / 1000.0
}

/// Runs one load and prints its JSON summary.
pub fn run(url: &str, token: &str, load: &Load) -> Result<()> {
    let Load {
        mode,
        clients,
        seconds,
        count,
        ..
    } = *load;
    let addr = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--url: give http://HOST:PORT"))?
        .trim_end_matches('/')
        .to_string();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let run_id = Timestamp::now().0;
    let tally = match mode {
        Mode::Cards => {
            let universe = universe(&addr, token)?;
            let started = Instant::now();
            let until = started + Duration::from_secs_f64(seconds);
            let tally = run_clients(
                clients,
                until,
                None,
                |_, rng, conn, _| Ok(conn.request("GET", &card_path(&universe, rng), b"")?.0),
                &addr,
                token,
            )?;
            return report(
                mode,
                clients,
                started.elapsed(),
                tally,
                universe.accounts.len(),
            );
        }
        Mode::Append => run_clients(
            1,
            until + Duration::from_secs(3600),
            Some(count),
            |_, _, conn, n| append_one(conn, &format!("load-{run_id}-s-{n}")),
            &addr,
            token,
        )?,
        Mode::Mixed => return mixed(&addr, token, load, run_id),
        Mode::Appenders => run_clients(
            clients,
            until,
            None,
            |client, _, conn, n| append_one(conn, &format!("load-{run_id}-{client}-{n}")),
            &addr,
            token,
        )?,
    };
    report(mode, clients, started.elapsed(), tally, 0)
}

/// The server's resident memory in kB (VmRSS of /proc/PID/status).
fn vm_rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// Follows `GET /v1/events?from_seq=N&follow=true` until `until`, reading what comes;
/// returns the bytes read (the envelopes with the HTTP framing).
fn subscribe(addr: &str, token: &str, from_seq: u64, until: Instant) -> Result<u64> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    write!(
        stream,
        "GET /v1/events?from_seq={from_seq}&follow=true HTTP/1.1\r\nHost: arl\r\nAuthorization: Bearer {token}\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 64 << 10];
    let mut bytes = 0u64;
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => bail!("the server ended the subscription"),
            Ok(n) => bytes += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(bytes)
}

/// [`Mode::Mixed`]: cards, appenders and a subscriber at once, the server's memory sampled.
fn mixed(addr: &str, token: &str, load: &Load, run_id: i64) -> Result<()> {
    let pid = load
        .pid
        .ok_or_else(|| anyhow!("--mode mixed needs --pid (the server's process id)"))?;
    let universe = universe(addr, token)?;
    let (_, digest) = Conn::open(addr, token)?.request("GET", "/v1/digest", b"")?;
    let head: Value = serde_json::from_slice(&digest)?;
    let from_seq = head["seq"].as_u64().unwrap_or(0) + 1;
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(load.seconds);
    let every = Duration::from_secs_f64(load.sample_secs.max(0.1));
    let (cards, appends, envelopes, samples) = std::thread::scope(|scope| {
        let cards = scope.spawn(|| {
            run_clients(
                load.clients,
                until,
                None,
                |_, rng, conn, _| Ok(conn.request("GET", &card_path(&universe, rng), b"")?.0),
                addr,
                token,
            )
        });
        let appends = scope.spawn(|| {
            run_clients(
                MIXED_APPENDERS,
                until,
                None,
                |client, _, conn, n| append_one(conn, &format!("mixed-{run_id}-{client}-{n}")),
                addr,
                token,
            )
        });
        let envelopes = scope.spawn(|| subscribe(addr, token, from_seq, until));
        let mut samples: Vec<(f64, u64)> = Vec::new();
        let mut next = started;
        let sampled = loop {
            let now = Instant::now();
            if now >= next {
                match vm_rss_kb(pid) {
                    Ok(kb) => samples.push(((now - started).as_secs_f64(), kb)),
                    Err(e) => break Err(e),
                }
                next += every;
            }
            if now >= until {
                break Ok(samples);
            }
            std::thread::sleep((next.min(until)).saturating_duration_since(Instant::now()));
        };
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<_>>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        (join(cards), join(appends), envelopes.join(), sampled)
    });
    let samples = samples?;
    let (mut cards, mut appends) = (cards?, appends?);
    let envelopes = envelopes.unwrap_or_else(|p| std::panic::resume_unwind(p))?;
    let elapsed = started.elapsed().as_secs_f64();
    cards.micros.sort_unstable();
    appends.micros.sort_unstable();
    let rss: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let value = json!({
        "mode": "mixed",
        "seconds": elapsed,
        "card_clients": load.clients,
        "cards_per_second": cards.micros.len() as f64 / elapsed,
        "cards_p50_ms": percentile(&cards.micros, 0.50),
        "cards_p99_ms": percentile(&cards.micros, 0.99),
        "appenders": MIXED_APPENDERS,
        "appends_per_second": appends.micros.len() as f64 / elapsed,
        "appends_p99_ms": percentile(&appends.micros, 0.99),
        "subscriber_bytes": envelopes,
        "appended": appends.micros.len(),
        "vm_rss_kb": {
            "first": rss.first(),
            "last": rss.last(),
            "max": rss.iter().max(),
            "min": rss.iter().min(),
            "samples": samples.iter().map(|(t, kb)| json!([(t * 10.0).round() / 10.0, kb])).collect::<Vec<_>>(),
        },
        "card_statuses": cards.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
    });
    println!("{value}");
    Ok(())
}

fn append_one(conn: &mut Conn, person: &str) -> Result<u16> {
    let line = format!(
        r#"{{"type":"person.joined","data":{{"person":"{person}","name":"Load {person}"}}}}"#
    );
    let (status, body) = conn.request("POST", "/v1/events", line.as_bytes())?;
    if status != 200 {
        bail!("append: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(status)
}

fn report(
    mode: Mode,
    clients: usize,
    elapsed: Duration,
    mut tally: Tally,
    accounts: usize,
) -> Result<()> {
    tally.micros.sort_unstable();
    let n = tally.micros.len() as f64;
    let seconds = elapsed.as_secs_f64();
    let value = json!({
        "mode": format!("{mode:?}").to_lowercase(),
        "clients": if mode == Mode::Append { 1 } else { clients },
        "requests": tally.micros.len(),
        "seconds": seconds,
        "requests_per_second": n / seconds,
        "p50_ms": percentile(&tally.micros, 0.50),
        "p99_ms": percentile(&tally.micros, 0.99),
        "max_ms": percentile(&tally.micros, 1.0),
        "statuses": tally.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "accounts": accounts,
    });
    println!("{value}");
    Ok(())
}
