//! The web page of `arl serve` in a real browser: Debian's headless Chromium driven through
//! WebDriver (`chromedriver`), against the real `arl` binary serving the Globex example on
//! a free 127.0.0.1 port. Each browser test saves screenshots under
//! `target/tmp/web-screens/`.
//!
//! The WebDriver client is a few lines of JSON over the test kit's HTTP client
//! (`arl_testkit::http`: the W3C protocol's handful of commands these tests need), so the
//! tests need no async runtime.
//! Without `chromedriver` (install `chromium` and `chromium-driver`; `.ci/run` does) the
//! browser tests FAIL with a message saying so: they never pass by skipping.

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::http::{Request, Response};
use support::{run_arl, Served};

const FIXTURE: &str = include_str!("../fixtures/globex.jsonl");
/// The longest any single wait of these tests lasts.
const WAIT: Duration = Duration::from_secs(30);
/// The longest a page may take to show what a test waits for.
const PAGE_WAIT: Duration = Duration::from_secs(20);
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// One browser at a time: the machines that run these tests are small.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// A ledger with the Globex example and one token per role (named as the role).
struct Fixture {
    tmp: tempfile::TempDir,
    tokens: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::appended(&[])
    }

    /// The same in a ledger that seals names (docs/PRIVACY.md).
    fn sealed() -> Fixture {
        Fixture::appended(&["--seal"])
    }

    fn appended(flags: &[&str]) -> Fixture {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let input = tmp.path().join("globex.jsonl");
        std::fs::write(&input, FIXTURE).expect("writing the fixture");
        let dir = tmp.path().join("ledger");
        let mut args = vec!["append", "--imported", input.to_str().expect("path")];
        args.extend(flags);
        let run = run_arl(&dir, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let mut tokens = BTreeMap::new();
        for role in ["reader", "auditor", "writer"] {
            let run = run_arl(&dir, &["token", "add", role, "--role", role, "--quiet"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            tokens.insert(role, run.stdout.trim().to_string());
        }
        Fixture { tmp, tokens }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("ledger")
    }
}

/// One request on a fresh connection; the whole answer, read by its `Content-Length` when
/// it has one (a WebDriver server keeps its connections open).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Request::new(method, path)
        .headers(headers)
        .body(body)
        .send(addr)
}

/// A headless Chromium session through chromedriver; both end when dropped.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    test: &'static str,
}

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start(test: &'static str) -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).is_file() && Path::new(CHROMIUM).is_file(),
            "the browser tests need {CHROMEDRIVER} and {CHROMIUM}: \
             apt-get install -y chromium chromium-driver (.ci/run does); they do not skip"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            test,
        };
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"]
            }
        }}});
        let created = browser.command("POST", "/session", &capabilities);
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`. Panics with the driver's error.
    fn command(&self, method: &str, path: &str, body: &Value) -> Value {
        let path = if path == "/session" {
            path.to_string()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let bytes = if method == "POST" {
            body.to_string().into_bytes()
        } else {
            Vec::new()
        };
        let headers = [("Content-Type", "application/json")];
        let answer = http(&self.addr, method, &path, &headers, &bytes);
        let value = answer.json()["value"].take();
        assert_eq!(answer.status, 200, "WebDriver {method} {path}: {value}");
        value
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", &json!({ "url": url }));
    }

    /// Runs `script` in the page (its `arguments` are `args`); what it returns.
    fn script(&self, script: &str, args: Value) -> Value {
        let mut body = json!({ "script": script });
        body["args"] = args;
        self.command("POST", "/execute/sync", &body)
    }

    /// The visible text of the first element matching `css`, if any.
    fn text(&self, css: &str) -> Option<String> {
        let value = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
            json!([css]),
        );
        value.as_str().map(str::to_string)
    }

    /// Waits until `ok` holds of the text of `css`; that text. Panics after [`PAGE_WAIT`]
    /// with `what` and the page's text.
    fn wait_for(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            if let Some(text) = self.text(css).filter(|t| ok(t)) {
                return text;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout");
                panic!(
                    "{}: waited {PAGE_WAIT:?} for {what} in {css}; the page shows:\n{}",
                    self.test,
                    self.text("body").unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn element(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            &json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT_KEY].as_str().expect("an element").to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        );
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// The page's path and query.
    fn location(&self) -> String {
        let value = self.script("return location.pathname + location.search;", json!([]));
        value.as_str().expect("a location").to_string()
    }

    fn resize(&self, width: u32) {
        self.command(
            "POST",
            "/window/rect",
            &json!({"width": width, "height": 900}),
        );
    }

    /// Saves a PNG of the window as `target/tmp/web-screens/<test>-<name>.png`.
    fn screenshot(&self, name: &str) -> PathBuf {
        let value = self.command("GET", "/screenshot", &Value::Null);
        let png = base64_decode(value.as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screens_dir();
        std::fs::create_dir_all(&dir).expect("the screenshots' folder");
        let path = dir.join(format!("{}-{name}.png", self.test));
        std::fs::write(&path, png).expect("writing a screenshot");
        path
    }

    /// Opens `url` (a page asking for a session), signs in with `token` there.
    fn sign_in(&self, url: &str, token: &str) {
        self.goto(url);
        self.wait_for("#signin", "the sign-in form", |t| t.contains("Sign in"));
        self.type_into("#token", token);
        self.click("#signin button[type=submit]");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = std::panic::catch_unwind(|| http(&self.addr, "DELETE", &path, &[], b""));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn screens_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screens")
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let bits = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &c)| acc | (value(c) << (18 - 6 * i)));
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..group.len()]);
    }
    out
}

const DE_AT_0705: &str = "/accounts/globex-de?as_of=2023-07-01&known_at=2023-07-05";

#[test]
fn reader_signs_in_and_sees_chen_leave_when_more_is_known() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let browser = Browser::start("reader_account");
    let token = &fixture.tokens["reader"];
    browser.sign_in(&server.url(DE_AT_0705), token);
    // Back on the page asked for, with the token nowhere in the URL.
    let team = browser.wait_for("#team", "Chen on the team", |t| t.contains("Chen Wei"));
    assert!(team.contains("Ben Okafor"), "{team}");
    assert_eq!(browser.location(), DE_AT_0705);
    let card = browser.text("#card").expect("the card");
    assert!(card.contains("globex-de") && card.contains("DE"), "{card}");
    let label = browser.text("#point_label").expect("the date bar's label");
    assert_eq!(label, "As of 2023-07-01 · known at 2023-07-05");
    let stored = browser.script("return sessionStorage.getItem('arl.token');", json!([]));
    assert_eq!(
        stored.as_str(),
        Some(token.as_str()),
        "kept in the tab's session"
    );
    browser.screenshot("known-0705");
    browser.resize(390);
    browser.screenshot("known-0705-390");
    browser.resize(1280);
    // The date bar moves knowledge to 2023-07-08: Chen's leaving (recorded 07-07) is known.
    browser.script(
        "document.getElementById('known_at').value = arguments[0];",
        json!(["2023-07-08"]),
    );
    browser.click("#datebar button[type=submit]");
    browser.wait_for("#team", "Chen gone", |t| {
        t.contains("Ben Okafor") && !t.contains("Chen")
    });
    assert_eq!(
        browser.location(),
        "/accounts/globex-de?as_of=2023-07-01&known_at=2023-07-08"
    );
    assert!(!browser.location().contains(token.as_str()));
    browser.screenshot("known-0708");
    // A reader has no history (auditor role) and so no verify button.
    browser.goto(&server.url("/accounts/globex-de/history"));
    browser.wait_for("#needs-auditor", "the role message", |t| {
        t.contains("auditor")
    });
    assert_eq!(
        browser.script(
            "return document.getElementById('verify') === null;",
            json!([])
        ),
        json!(true),
        "a reader sees no verify button"
    );
    let nav = browser.text("#nav").expect("the navigation");
    assert!(!nav.contains("History"), "{nav}");
    browser.screenshot("reader-history");
    // Balances: the table and an SVG chart per currency, rolled up over the subsidiaries.
    browser.goto(&server.url("/accounts/globex/balances?period=quarter&rollup=true"));
    let rows = browser.wait_for("#balances", "the balances", |t| t.contains("2023-Q1"));
    assert!(
        rows.contains("28000.50") && rows.contains("26000.51"),
        "{rows}"
    );
    let bars = browser.script(
        "return [...document.querySelectorAll('svg.chart')].map(s => s.dataset.currency + ':' + s.querySelectorAll('rect.sales:not(.legend)').length);",
        json!([]),
    );
    assert_eq!(
        bars,
        json!(["EUR:3", "USD:2"]),
        "one bar per period and series"
    );
    browser.screenshot("balances");
    tree_and_search(&browser, &server);
    browser.goto(&server.url("/people/chen?as_of=2023-06-01"));
    let portfolio = browser.wait_for("#portfolio", "the portfolio", |t| t.contains("globex-de"));
    assert!(
        portfolio.contains("national_account_manager"),
        "{portfolio}"
    );
    let page = browser.text("main").expect("the page");
    assert!(
        page.contains("Ada Lind") && page.contains("dotted"),
        "{page}"
    );
    browser.screenshot("person");
}

/// The hierarchy around globex-de and the search, on a signed-in page.
fn tree_and_search(browser: &Browser, server: &Served) {
    // The hierarchy around globex-de: its parent and its subtree, not its sibling; the
    // parent's link opens the parent's own tree, which has the sibling.
    browser.goto(&server.url("/accounts/globex-de/tree"));
    let tree = browser.wait_for("#tree", "the tree", |t| t.contains("globex-de-south"));
    assert!(
        tree.contains("globex ") && !tree.contains("globex-fr"),
        "{tree}"
    );
    browser.screenshot("hierarchy");
    browser.click("#tree a[href^='/accounts/globex/tree']");
    let tree = browser.wait_for("#tree", "the parent's tree", |t| t.contains("globex-fr"));
    assert!(tree.contains("Globex France SAS"), "{tree}");
    assert_eq!(browser.location(), "/accounts/globex/tree");
    // The search asks the server for one page and shows what matches id or name.
    browser.goto(&server.url("/?q=DEUTSCH"));
    let found = browser.wait_for("#accounts", "the search", |t| t.contains("globex-de"));
    assert!(!found.contains("globex-fr"), "{found}");
    let searches = browser.script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/v1/accounts?'));",
        json!([]),
    );
    let searches = searches.as_array().expect("resource names");
    assert!(
        !searches.is_empty()
            && searches
                .iter()
                .all(|n| n.as_str().is_some_and(|n| n.contains("limit=51"))),
        "{searches:?}"
    );
    browser.screenshot("search");
}

#[test]
fn auditor_sees_the_skipped_event_and_why_and_verifies() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    // A back-dated leaving lands before an assignment recorded earlier: the assignment is
    // skipped in the fold, and the history says why.
    let writer = format!("Bearer {}", fixture.tokens["writer"]);
    for line in [
        r#"{"type":"team.assigned","data":{"account":"globex-de","person":"dara","role":"key_account_manager"},"effective_at":"2023-08-01"}"#,
        r#"{"type":"person.left","data":{"person":"dara"},"effective_at":"2023-07-15","reason":"left early"}"#,
    ] {
        let answer = http(
            &server.addr,
            "POST",
            "/v1/events",
            &[("Authorization", &writer)],
            line.as_bytes(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let browser = Browser::start("auditor_history");
    browser.sign_in(
        &server.url("/accounts/globex-de/history"),
        &fixture.tokens["auditor"],
    );
    let history = browser.wait_for("#history", "the history", |t| t.contains("team.assigned"));
    let skipped = browser
        .text("#history tr.skipped")
        .unwrap_or_else(|| panic!("a skipped event in:\n{history}"));
    assert!(skipped.starts_with("42"), "{skipped}");
    assert!(
        skipped.contains(r#"skipped: person "dara" left on 2023-07-15"#),
        "{skipped}"
    );
    // Actor and reason come with the history answer: the page reads no envelopes.
    let envelope_requests = browser.script(
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/v1/events?') && !e.name.includes('follow=')).length;",
        json!([]),
    );
    assert_eq!(envelope_requests, json!(0));
    let leaving = browser
        .text("#history tr[data-seq='36']")
        .expect("Chen's leaving");
    assert!(
        leaving.contains("person.left")
            && leaving.contains("example")
            && leaving.contains("resigned"),
        "{leaving}"
    );
    browser.screenshot("history-1280");
    browser.resize(390);
    browser.screenshot("history-390");
    browser.resize(1280);
    let digest = browser.text("#digest").expect("the digest");
    assert!(digest.contains("Head seq"), "{digest}");
    browser.click("#verify");
    let result = browser.wait_for("#verify-result", "verify's result", |t| {
        t.starts_with("Verified") || t.contains("FAILED")
    });
    assert!(
        result.starts_with("Verified: ") && result.contains("(seq 43)"),
        "{result}"
    );
    browser.screenshot("verified");
}

#[test]
fn team_over_time_shows_a_back_dated_end_as_such() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let browser = Browser::start("team_timeline");
    // From the account page's link to the timeline, keeping the point.
    browser.sign_in(
        &server.url("/accounts/globex-de?known_at=2023-07-08"),
        &fixture.tokens["reader"],
    );
    browser.wait_for("#team", "the team", |t| t.contains("Ben Okafor"));
    browser.click("main h2 a");
    let rows = browser.wait_for("#timeline", "the timeline", |t| t.contains("chen"));
    assert_eq!(
        browser.location(),
        "/accounts/globex-de/team?known_at=2023-07-08"
    );
    assert!(
        rows.contains("2023-06-30") && rows.contains("2023-07-07"),
        "{rows}"
    );
    assert!(
        rows.contains("person.left") && rows.contains("back-dated"),
        "{rows}"
    );
    // The chart: one lane per (role, person); Chen's end is drawn as learned late.
    let chart = browser.script(
        "return [...document.querySelectorAll('#timeline-chart g.interval')].map(g => g.dataset.person + ':' + g.querySelectorAll('rect.unknown.end').length);",
        json!([]),
    );
    assert_eq!(
        chart,
        json!(["ben:0", "chen:1"]),
        "Chen's end is back-dated, Ben's holding open"
    );
    browser.screenshot("team-timeline");
    // Known at 2023-07-05 the ledger did not know Chen had left: no end, nothing hatched.
    browser.goto(
        &server.url("/accounts/globex-de/team?known_at=2023-07-05&from=2023-01-01&to=2023-12-31"),
    );
    browser.wait_for("#timeline", "Chen still holding", |t| {
        t.contains("holds") && t.contains("chen")
    });
    let hatched = browser.script(
        "return document.querySelectorAll('#timeline-chart rect.unknown').length;",
        json!([]),
    );
    assert_eq!(hatched, json!(0));
    let from = browser.script(
        "return document.getElementById('tl_from').value;",
        json!([]),
    );
    assert_eq!(
        from,
        json!("2023-01-01"),
        "the window is in the URL and the form"
    );
    browser.resize(390);
    browser.screenshot("team-timeline-390");
}

#[test]
fn sealed_and_erased_names_never_show_as_ciphertext() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = Fixture::sealed();
    let erased = run_arl(
        &fixture.dir(),
        &["erase", "--person", "chen", "--reason", "a test", "--yes"],
    );
    assert_eq!(erased.code, 0, "{}", erased.stderr);
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let browser = Browser::start("sealed_names");
    browser.sign_in(&server.url(DE_AT_0705), &fixture.tokens["reader"]);
    let team = browser.wait_for("#team", "the team", |t| t.contains("(chen)"));
    assert!(team.contains("[erased] (chen)"), "{team}");
    let page = browser.text("main").expect("the page");
    assert!(
        !page.contains("arl:"),
        "no stored marker or ciphertext: {page}"
    );
    browser.goto(&server.url("/accounts/globex-de/team"));
    let timeline = browser.wait_for("#timeline", "the timeline", |t| t.contains("(chen)"));
    assert!(!timeline.contains("arl:"), "{timeline}");
    browser.screenshot("sealed");
}

#[test]
fn an_appended_event_appears_on_an_open_page_without_reload() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    for role in ["auditor", "reader"] {
        let browser = Browser::start(if role == "auditor" {
            "live_auditor"
        } else {
            "live_reader"
        });
        browser.sign_in(&server.url("/accounts/globex-fr"), &fixture.tokens[role]);
        browser.wait_for("#team", "the team", |t| t.contains("Dara Byrne"));
        browser.wait_for("#live", "the live label", |t| t.starts_with("Live"));
        // A mark on the window that a reload would wipe.
        browser.script("window.arlMark = 'still here';", json!([]));
        let person = if role == "auditor" { "eli" } else { "fay" };
        let line = format!(
            r#"{{"type":"team.assigned","data":{{"account":"globex-fr","person":"{person}","role":"key_account_manager"}}}}"#
        );
        let auth = format!("Bearer {}", fixture.tokens["writer"]);
        let answer = http(
            &server.addr,
            "POST",
            "/v1/events",
            &[("Authorization", &auth)],
            line.as_bytes(),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let name = if role == "auditor" {
            "Eli Sato"
        } else {
            "Fay Moreau"
        };
        browser.wait_for("#team", name, |t| t.contains(name));
        let live = browser.text("#live").expect("the live label");
        assert!(live.starts_with("Live · updated to seq"), "{live}");
        assert_eq!(
            browser.script("return window.arlMark;", json!([])),
            json!("still here"),
            "the page was not reloaded"
        );
        browser.screenshot("appended");
    }
}

#[test]
fn pages_and_assets_carry_security_and_cache_headers() {
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let page = http(&server.addr, "GET", DE_AT_0705, &[], b"");
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let csp = &page.headers["content-security-policy"];
    assert!(
        csp.contains("script-src 'self';") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert!(String::from_utf8_lossy(&page.body).contains("/assets/app.js"));
    let script = http(&server.addr, "GET", "/assets/app.js", &[], b"");
    assert_eq!(script.status, 200);
    assert_eq!(script.headers["cache-control"], "no-cache");
    let etag = script.headers["etag"].clone();
    let again = http(
        &server.addr,
        "GET",
        "/assets/app.js",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert_eq!((again.status, again.body.len()), (304, 0));
    // The API keeps its JSON 404s; paths that are no page are 404 too.
    for path in ["/v1/nope", "/nothing", "/accounts-x"] {
        let missing = http(&server.addr, "GET", path, &[], b"");
        assert_eq!(missing.status, 404, "{path}");
        assert_eq!(missing.json()["rule"], "no_such_endpoint", "{path}");
    }
    // The page holds no data: the API still wants a token.
    let api = http(&server.addr, "GET", "/v1/accounts/globex-de", &[], b"");
    assert_eq!(api.status, 401);
}

/// GET `path` with `token`; status and body.
fn get(server: &Served, path: &str, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    http(&server.addr, "GET", path, &[("Authorization", &auth)], b"")
}

/// The accounts whose id or name holds `text` (case ignored), of every card.
fn matching(all: &[Value], text: &str) -> Vec<Value> {
    let text = text.to_lowercase();
    all.iter()
        .filter(|c| {
            ["account", "name"].iter().any(|k| {
                c[*k]
                    .as_str()
                    .is_some_and(|v| v.to_lowercase().contains(&text))
            })
        })
        .cloned()
        .collect()
}

#[test]
fn search_pages_are_windows_of_every_card() {
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let token = &fixture.tokens["reader"];
    let every = get(&server, "/v1/accounts?as_of=2023-07-01", token).json();
    let every = every.as_array().expect("cards").clone();
    assert!(every.len() > 3, "{every:?}");
    for (text, limit, offset) in [
        ("", 2, 0),
        ("", 2, 2),
        ("", 500, 0),
        ("globex-", 1, 1),
        ("DEUTSCH", 50, 0),
        ("gmbh", 50, 1),
        ("no such account", 50, 0),
    ] {
        let path = format!(
            "/v1/accounts?as_of=2023-07-01&q={}&limit={limit}&offset={offset}",
            text.replace(' ', "+")
        );
        let page = get(&server, &path, token);
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        let want: Vec<Value> = matching(&every, text)
            .into_iter()
            .skip(offset)
            .take(limit)
            .collect();
        assert_eq!(page.json(), Value::Array(want), "{path}");
    }
    // "deutsch" is in a name only: the search reads names, not just ids.
    let by_name = get(&server, "/v1/accounts?q=deutsch", token).json();
    assert_eq!(by_name[0]["account"], "globex-de", "{by_name}");
    // Filters apply before the window, as to every card.
    let closed = get(&server, "/v1/accounts?status=closed&limit=5", token).json();
    let every_closed = get(&server, "/v1/accounts?status=closed", token).json();
    assert_eq!(closed, every_closed);
}

#[test]
fn the_tree_around_an_account_is_its_branch_of_the_whole_tree() {
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let token = &fixture.tokens["reader"];
    let forest = get(&server, "/v1/accounts?tree=true", token).json();
    let globex = forest
        .as_array()
        .expect("a forest")
        .iter()
        .find(|n| n["account"] == "globex")
        .expect("globex's tree")
        .clone();
    let mut branch = globex.clone();
    let de = globex["children"]
        .as_array()
        .expect("children")
        .iter()
        .find(|n| n["account"] == "globex-de")
        .expect("globex-de under globex")
        .clone();
    assert!(
        globex["children"].as_array().is_some_and(|c| c.len() > 1),
        "{globex}"
    );
    branch["children"] = json!([de]);
    let around = get(&server, "/v1/accounts?tree=true&root=globex-de", token);
    assert_eq!(around.status, 200, "{}", around.text());
    assert_eq!(around.json(), json!([branch]));
    // A root's tree is its whole tree.
    let root = get(&server, "/v1/accounts?tree=true&root=globex", token).json();
    assert_eq!(root, json!([globex]));
    let missing = get(&server, "/v1/accounts?tree=true&root=nobody", token);
    assert_eq!(missing.status, 404, "{}", missing.text());
}

#[test]
fn history_pages_are_windows_of_the_whole_history() {
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let token = &fixture.tokens["auditor"];
    let whole = get(&server, "/v1/accounts/globex-de/history", token);
    assert_eq!(whole.status, 200, "{}", whole.text());
    let whole = whole.json().as_array().expect("steps").clone();
    assert!(whole.len() > 5, "{}", whole.len());
    for (limit, offset) in [(1, 0), (3, 2), (500, 0), (5, whole.len() - 2), (5, 10_000)] {
        let path = format!("/v1/accounts/globex-de/history?limit={limit}&offset={offset}");
        let page = get(&server, &path, token);
        assert_eq!(page.status, 200, "{path}: {}", page.text());
        assert_eq!(page.headers["x-total-count"], whole.len().to_string());
        let want: Vec<Value> = whole.iter().skip(offset).take(limit).cloned().collect();
        assert_eq!(page.json(), Value::Array(want), "{path}");
    }
}

#[test]
fn bad_paging_parameters_are_json_400s_naming_the_parameter() {
    let fixture = Fixture::new();
    let server = Served::start(&fixture.dir(), &[], WAIT);
    let token = &fixture.tokens["auditor"];
    let long = "x".repeat(101);
    let cases = [
        ("/v1/accounts?limit=0".to_string(), "limit"),
        ("/v1/accounts?limit=501".to_string(), "limit"),
        ("/v1/accounts?offset=-1".to_string(), "offset"),
        ("/v1/accounts?offset=1000001".to_string(), "offset"),
        (format!("/v1/accounts?q={long}"), "q"),
        ("/v1/accounts?root=globex".to_string(), "root"),
        ("/v1/accounts?tree=true&q=globex".to_string(), "q"),
        (
            "/v1/accounts/globex/history?limit=100000".to_string(),
            "limit",
        ),
        ("/v1/accounts/globex/history?offset=x".to_string(), "offset"),
    ];
    for (path, name) in cases {
        let answer = get(&server, &path, token);
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        let error = answer.json();
        let text = error["error"].as_str().expect("an error");
        assert!(text.contains(name), "{path}: {error}");
    }
}

/// Where the screenshots of every page go besides the test's own folder: the folder
/// `ARL_SCREENS_DIR` names (relative to the workspace's root), e.g. `docs/web`.
fn screens_copy_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("ARL_SCREENS_DIR")?);
    Some(if dir.is_absolute() {
        dir
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
    })
}

/// The events of the generated ledger the screenshots are taken from.
const SCREEN_EVENTS: &str = "200000";

/// Every page at 1280 and 390 px wide, from a generated ledger of 200,000 events (seed
/// 42, as `arl demo`): the root account with the most subsidiaries and the first person on
/// its team, as `crates/arl-bench/web_load.sh` picks them. Each page must show what it is
/// for before its picture is taken.
#[test]
fn every_page_at_both_widths_from_a_generated_ledger() {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("ledger");
    let made = run_arl(&dir, &["--quiet", "demo", "--events", SCREEN_EVENTS]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let made = run_arl(
        &dir,
        &["token", "add", "screens", "--role", "auditor", "--quiet"],
    );
    assert_eq!(made.code, 0, "{}", made.stderr);
    let token = made.stdout.trim().to_string();
    let server = Served::start(&dir, &[], WAIT);
    let forest = get(&server, "/v1/accounts?tree=true", &token).json();
    let account = forest
        .as_array()
        .expect("a forest")
        .iter()
        .max_by_key(|n| n["children"].as_array().map_or(0, Vec::len))
        .and_then(|n| n["account"].as_str())
        .expect("a root account")
        .to_string();
    let team = get(&server, &format!("/v1/accounts/{account}/team"), &token).json();
    let person = team[0]["person"]
        .as_str()
        .expect("someone on the team")
        .to_string();
    let pages = [
        ("search", "/".to_string(), "main", "Next →"),
        ("account", format!("/accounts/{account}"), "#card", "Opened"),
        (
            "hierarchy",
            format!("/accounts/{account}/tree"),
            "#tree",
            account.as_str(),
        ),
        (
            "team",
            format!("/accounts/{account}/team"),
            "#timeline",
            person.as_str(),
        ),
        (
            "balances",
            format!("/accounts/{account}/balances?period=quarter&rollup=true"),
            "#balances",
            "-Q",
        ),
        (
            "history",
            format!("/accounts/{account}/history"),
            "#history",
            "opened",
        ),
        (
            "person",
            format!("/people/{person}"),
            "#portfolio",
            account.as_str(),
        ),
    ];
    let browser = Browser::start("screens");
    browser.sign_in(&server.url("/"), &token);
    browser.wait_for("#accounts", "the accounts", |t| !t.is_empty());
    let copy = screens_copy_dir();
    for (name, path, css, shows) in &pages {
        browser.resize(1280);
        browser.goto(&server.url(path));
        let what = format!("{name} showing {shows:?}");
        browser.wait_for(css, &what, |t| t.contains(shows));
        for width in [1280, 390] {
            browser.resize(width);
            // The narrow layout is the same page laid out again: wait for it to show.
            browser.wait_for(css, &what, |t| t.contains(shows));
            let shot = browser.screenshot(&format!("{name}-{width}"));
            if let Some(copy) = &copy {
                std::fs::create_dir_all(copy).expect("the screenshots' folder");
                std::fs::copy(&shot, copy.join(format!("{name}-{width}.png")))
                    .expect("copying a screenshot");
            }
        }
    }
    // The search page is a page of the list: 50 rows and a link to the next.
    browser.goto(&server.url("/"));
    browser.wait_for(".pager", "the pager", |t| t.contains("Next"));
    let rows = browser.script(
        "return document.querySelectorAll('#accounts tbody tr').length;",
        json!([]),
    );
    assert_eq!(rows, json!(50));
}
