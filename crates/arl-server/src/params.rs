//! Query parameters, named like the command line's flags (`as_of`, `known_at`, `at_seq`,
//! `period`, `from`, `to`, `rollup`, ...). Every endpoint names the parameters it takes; any
//! other is a 400, as is a parameter given twice or a value that does not parse.

use crate::error::ApiError;
use arl_domain::{Period, Timestamp};
use arl_query::At;
use std::collections::BTreeMap;

/// The longest query string read, in bytes.
pub const QUERY_BYTES_MAX: usize = 8192;

/// Parsed parameters of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

/// The point parameters every query takes.
pub const POINT: &[&str] = &["as_of", "known_at", "at_seq"];

impl Params {
    /// Parses `query` (the URL's query string), allowing only `allowed` names.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, ApiError> {
        let query = query.unwrap_or("");
        if query.len() > QUERY_BYTES_MAX {
            return Err(ApiError::new(
                axum::http::StatusCode::URI_TOO_LONG,
                "query_too_long",
                format!(
                    "the query string is {} bytes; the limit is {QUERY_BYTES_MAX}",
                    query.len()
                ),
            ));
        }
        let pairs: Vec<(String, String)> =
            query_pairs(query).map_err(|e| ApiError::bad_request("bad_query", e))?;
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            // `min_seq` is every query's (read-your-writes, waited for before the handler).
            if !allowed.contains(&name.as_str()) && name != crate::MIN_SEQ_PARAM {
                let known = if allowed.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("this endpoint takes {}", allowed.join(", "))
                };
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!("unknown parameter {name:?}"),
                )
                .with_fix(known));
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    format!("parameter {name:?} is given twice"),
                )
                .with_fix("give each parameter once"));
            }
        }
        Ok(Params { values })
    }

    /// The raw value of `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    fn bad(name: &str, value: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request("bad_parameter", format!("{name}={value:?}: {why}"))
    }

    /// A query time (a date is the end of that day UTC).
    pub fn query_time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.text(name)
            .map(|v| Timestamp::parse_query(v).map_err(|e| Params::bad(name, v, e)))
            .transpose()
    }

    /// An input time (a date is its midnight UTC).
    pub fn input_time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.text(name)
            .map(|v| Timestamp::parse_input(v).map_err(|e| Params::bad(name, v, e)))
            .transpose()
    }

    /// A non-negative integer.
    pub fn uint(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.text(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| Params::bad(name, v, "not a non-negative integer"))
            })
            .transpose()
    }

    /// A count from `min` to `max` (a page's `limit` or `offset`), so an outsider cannot
    /// ask for more work than one page is worth.
    pub fn count(&self, name: &str, min: usize, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(value) = self.uint(name)? else {
            return Ok(None);
        };
        match usize::try_from(value) {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(Params::bad(
                name,
                &value.to_string(),
                format!("use {min} to {max}"),
            )),
        }
    }

    /// Text of at most `max_chars` characters (absent: `None`).
    pub fn short_text(&self, name: &str, max_chars: usize) -> Result<Option<&str>, ApiError> {
        match self.text(name) {
            Some(v) if v.chars().count() > max_chars => Err(ApiError::bad_request(
                "bad_parameter",
                format!(
                    "{name} is {} characters; the most is {max_chars}",
                    v.chars().count()
                ),
            )),
            other => Ok(other),
        }
    }

    /// `true` or `false` (absent: false).
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.text(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(Params::bad(name, v, "use true or false")),
        }
    }

    /// One of `choices` (absent: `None`).
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<String>, ApiError> {
        match self.text(name) {
            None => Ok(None),
            Some(v) if choices.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(Params::bad(
                name,
                v,
                format!("use one of {}", choices.join(", ")),
            )),
        }
    }

    /// The point: `as_of`, `known_at` or `at_seq` (not both of the last two).
    pub fn at(&self) -> Result<At, ApiError> {
        let at = At {
            as_of: self.query_time("as_of")?,
            known_at: self.query_time("known_at")?,
            at_seq: self.uint("at_seq")?,
        };
        if at.known_at.is_some() && at.at_seq.is_some() {
            return Err(ApiError::bad_request(
                "conflicting_parameters",
                "known_at and at_seq both given",
            )
            .with_fix("give one of known_at and at_seq"));
        }
        Ok(at)
    }

    /// `period=month|quarter|year|all` (default all).
    pub fn period(&self) -> Result<Period, ApiError> {
        Ok(
            match self
                .choice("period", &["month", "quarter", "year", "all"])?
                .as_deref()
            {
                Some("month") => Period::Month,
                Some("quarter") => Period::Quarter,
                Some("year") => Period::Year,
                _ => Period::All,
            },
        )
    }

    /// `format=json|csv` (default json): true for CSV.
    pub fn csv(&self) -> Result<bool, ApiError> {
        Ok(self.choice("format", &["json", "csv"])?.as_deref() == Some("csv"))
    }
}

/// `application/x-www-form-urlencoded` pairs, percent-decoded.
/// The `name=value` pairs of a query string, percent-decoded, in order.
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode(name)?, decode(value)?));
    }
    Ok(out)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-escape in {text:?}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_refuses_unknown_and_repeated() {
        let p = Params::parse(
            Some("as_of=2023-07-01&at_seq=5&format=csv"),
            &["as_of", "at_seq", "format"],
        )
        .unwrap();
        assert_eq!(p.uint("at_seq").unwrap(), Some(5));
        assert!(p.csv().unwrap());
        assert!(p.at().unwrap().as_of.is_some());
        let e = Params::parse(Some("as_off=2023"), POINT).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.rule.as_str()),
            (400, "unknown_parameter")
        );
        let e = Params::parse(Some("at_seq=1&at_seq=2"), POINT).unwrap_err();
        assert_eq!(e.rule, "repeated_parameter");
        let p = Params::parse(Some("as_of=2023-13-45"), POINT).unwrap();
        assert_eq!(p.at().unwrap_err().rule, "bad_parameter");
        let p = Params::parse(Some("known_at=2023-07-05T00%3A00%3A00Z"), POINT).unwrap();
        assert!(p.at().unwrap().known_at.is_some());
        assert!(Params::parse(Some("a=%zz"), &["a"]).is_err());
    }

    #[test]
    fn counts_and_short_texts_are_bounded_and_name_the_parameter() {
        let p = Params::parse(Some("limit=0&offset=7&q=abc"), &["limit", "offset", "q"]).unwrap();
        let e = p.count("limit", 1, 500).unwrap_err();
        assert_eq!((e.status.as_u16(), e.rule.as_str()), (400, "bad_parameter"));
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(p.count("offset", 0, 10).unwrap(), Some(7));
        assert_eq!(p.count("absent", 0, 10).unwrap(), None);
        assert_eq!(p.short_text("q", 3).unwrap(), Some("abc"));
        let e = p.short_text("q", 2).unwrap_err();
        assert!(e.to_string().contains("q is 3 characters"), "{e}");
        let p = Params::parse(Some("limit=99999999999999999999"), &["limit"]).unwrap();
        assert_eq!(p.count("limit", 1, 500).unwrap_err().rule, "bad_parameter");
    }
}
