//! One HTTP/1.1 client for the tests, over `std::net::TcpStream`: a request with a method,
//! a path, headers and a body on a fresh connection (`Connection: close`); its answer read
//! by `Content-Length`, chunked, or to the end of the connection (in that order of
//! precedence: `Transfer-Encoding: chunked` first, as HTTP/1.1 says), so a server that keeps
//! its connections open (a WebDriver server does) is read correctly; and a line reader for
//! streaming answers (subscriptions). Being this small, it can also send what no library
//! would: a head and nothing more, or a body a server refuses before reading it.
//!
//! ```no_run
//! use arl_testkit::http::Request;
//! let answer = Request::get("/healthz").send("127.0.0.1:7878");
//! assert_eq!(answer.status, 200);
//! ```

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The longest a read of an answer waits for the next bytes.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One request, built and then sent with [`Request::send`] or [`Request::stream`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// `METHOD PATH` with no header of its own and an empty body.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET PATH`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// `POST PATH` with `body`.
    pub fn post(path: &str, body: &[u8]) -> Request {
        Request::new("POST", path).body(body)
    }

    /// Adds the header `name: value`.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds each of `headers`.
    #[must_use]
    pub fn headers(self, headers: &[(&str, &str)]) -> Request {
        headers
            .iter()
            .fold(self, |request, (name, value)| request.header(name, value))
    }

    /// `Authorization: Bearer TOKEN`; no header for `None`.
    #[must_use]
    pub fn bearer(self, token: Option<&str>) -> Request {
        match token {
            Some(token) => self.header("Authorization", &format!("Bearer {token}")),
            None => self,
        }
    }

    /// The body (sent with its `Content-Length`).
    #[must_use]
    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = body.to_vec();
        self
    }

    /// Connects to `addr` (`host:port`), sends the request and reads the whole answer;
    /// panics when there is none.
    pub fn send(&self, addr: &str) -> Response {
        self.try_send(addr)
            .unwrap_or_else(|e| panic!("{} {} on {addr}: no answer: {e}", self.method, self.path))
    }

    /// [`Request::send`] for a test in which a server may be gone (killed on purpose): an
    /// error when it could not connect or read an answer's head. A body cut short ends
    /// where it was cut.
    pub fn try_send(&self, addr: &str) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        self.write_to(&mut stream, addr)?;
        Response::read(BufReader::new(stream))
    }

    /// Connects to `addr`, sends the request and reads the answer's head; the body is
    /// then read line by line as it arrives.
    pub fn stream(&self, addr: &str) -> (u16, Lines) {
        let mut stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        self.write_to(&mut stream, addr)
            .unwrap_or_else(|e| panic!("sending {} {}: {e}", self.method, self.path));
        Lines::read(stream)
    }

    /// Writes the request (head and body) to `stream`, a connection to `addr`, and reads
    /// nothing: a test that wants to be a slow reader reads later with [`Lines::read`].
    pub fn write_to(&self, stream: &mut TcpStream, addr: &str) -> std::io::Result<()> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n",
            self.method, self.path
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        stream.write_all(head.as_bytes())?;
        // A server may answer (413) before it reads a large body, and close: what it
        // answered is what the test checks, so a failed write of the body is not an error.
        let _ = stream.write_all(&self.body);
        Ok(())
    }
}

/// One whole answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Response {
    fn read(mut reader: BufReader<TcpStream>) -> std::io::Result<Response> {
        let (status, headers) = read_head(&mut reader)?;
        let mut body = Vec::new();
        let mut pieces = Body::of(status, &headers);
        while let Some(piece) = pieces.next_piece(&mut reader) {
            body.extend(piece);
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// The status line and the headers (names in lower case).
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, BTreeMap<String, String>)> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Ok((status, headers))
}

/// How an answer's body ends.
#[derive(Debug)]
enum Body {
    /// Chunks, up to the empty one.
    Chunked,
    /// This many bytes still to read.
    Length(usize),
    /// Everything up to the end of the connection.
    ToEnd,
    /// Nothing more.
    Done,
}

impl Body {
    fn of(status: u16, headers: &BTreeMap<String, String>) -> Body {
        if status == 204 || status == 304 || (100..200).contains(&status) {
            return Body::Done;
        }
        if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            return Body::Chunked;
        }
        match headers.get("content-length") {
            Some(length) => Body::Length(
                length
                    .parse()
                    .unwrap_or_else(|_| panic!("bad Content-Length {length:?}")),
            ),
            None => Body::ToEnd,
        }
    }

    /// The next bytes of the body; `None` at its end (or when the connection closes or
    /// times out).
    fn next_piece(&mut self, reader: &mut impl BufRead) -> Option<Vec<u8>> {
        match self {
            Body::Done => None,
            Body::Chunked => {
                let mut size = String::new();
                if reader.read_line(&mut size).ok()? == 0 {
                    *self = Body::Done;
                    return None;
                }
                let size = usize::from_str_radix(size.trim(), 16).ok()?;
                if size == 0 {
                    *self = Body::Done;
                    return None;
                }
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).ok()?;
                chunk.truncate(size);
                Some(chunk)
            }
            Body::Length(0) => {
                *self = Body::Done;
                None
            }
            Body::Length(left) => {
                let mut piece = vec![0; (*left).min(64 * 1024)];
                let read = reader.read(&mut piece).ok()?;
                if read == 0 {
                    *self = Body::Done;
                    return None;
                }
                piece.truncate(read);
                *left -= read;
                Some(piece)
            }
            Body::ToEnd => {
                let mut piece = vec![0; 64 * 1024];
                let read = reader.read(&mut piece).ok()?;
                if read == 0 {
                    *self = Body::Done;
                    return None;
                }
                piece.truncate(read);
                Some(piece)
            }
        }
    }
}

/// A streaming answer read line by line.
pub struct Lines {
    reader: BufReader<TcpStream>,
    body: Body,
    pending: Vec<u8>,
}

impl Lines {
    /// Reads the answer's head from `stream` (a request was written to it); its status
    /// and the body's line reader.
    pub fn read(stream: TcpStream) -> (u16, Lines) {
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("setting a read timeout");
        let mut reader = BufReader::new(stream);
        let (status, headers) =
            read_head(&mut reader).unwrap_or_else(|e| panic!("reading an answer's head: {e}"));
        let body = Body::of(status, &headers);
        (
            status,
            Lines {
                reader,
                body,
                pending: Vec::new(),
            },
        )
    }

    /// The next line (without its newline); `None` at the stream's end.
    pub fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=at).collect();
                return Some(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            let piece = self.body.next_piece(&mut self.reader)?;
            self.pending.extend(piece);
        }
    }
}
