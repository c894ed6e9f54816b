//! Money: ISO 4217 currencies, decimal amount strings and integer minor units.
//!
//! Amounts enter the ledger as decimal strings (`"1200.50"`, contract §3) and leave it as
//! decimal strings with exactly the currency's minor-unit digits (contract §7). In between
//! they are `i64` counts of minor units (cents for EUR, yen for JPY, fils for KWD), so no
//! binary floating point ever touches them.
//!
//! - [`Currency::from_code`] accepts the active codes of ISO 4217 list one that have a
//!   minor unit (see [`Currency`] for what is left out and why).
//! - [`parse_amount`] turns `"1200.5"` + EUR into `120050`, or says exactly what is wrong.
//! - [`format_minor`] and [`format_minor_grouped`] turn minor units back into text.
//!
//! ```
//! use arl_domain::money::{format_minor, parse_amount, Currency};
//! let eur = Currency::from_code("EUR").expect("EUR is active");
//! assert_eq!(parse_amount("1200.5", eur), Ok(120_050));
//! assert_eq!(format_minor(-830_050, eur), "-8300.50");
//! ```

use std::fmt;
use std::str::FromStr;

/// Longest amount string accepted, in characters (leading zeros included). A limit on the
/// text, so parsing work and error messages stay small whatever the input.
pub const MAX_AMOUNT_CHARS: usize = 32;

/// Most significant digits an amount may have once expressed in minor units (`"1200.50"` EUR
/// is `120050`: 6 digits). 18 digits keep every amount below 10^18, inside `i64`
/// (max ≈ 9.2 × 10^18). Sums of many amounts can still exceed `i64`: add them with checked
/// or `i128` arithmetic.
pub const MAX_AMOUNT_DIGITS: usize = 18;

/// Longest piece of user input echoed back in an error message, in characters; longer input
/// is cut and ends with `…`.
pub const MAX_ECHO_CHARS: usize = 40;

/// The currency code table: ISO 4217 list one (current currency and funds codes) as in force
/// in 2026, limited to the codes that have a minor unit, sorted by code for binary search.
///
/// Recent changes, all reflected here:
/// - added: `VED` (Venezuela, 2021), `SLE` (Sierra Leone, 2022), `ZWG` (Zimbabwe Gold, 2024),
///   `XCG` (Caribbean guilder, Curaçao and Sint Maarten, 2025), `XAD` (Arab Accounting
///   Dinar of the Arab Monetary Fund, 2025);
/// - withdrawn and therefore absent: `HRK` (Croatia joined the euro, 2023), `SLL`
///   (redenominated to `SLE`), `ZWL` (replaced by `ZWG`, 2024), `CUC` (Cuba, withdrawn from
///   the list in 2025), `ANG` (replaced by `XCG`, 2025), `BGN` (Bulgaria joined the euro on
///   2026-01-01); older ones such as `VEF`, `MRO`, `STD`, `BYR`, `LTL` likewise.
///
/// Left out on purpose, although listed as current: the codes whose minor unit ISO gives as
/// "N.A." (`XAG`, `XAU`, `XPD`, `XPT`, `XBA`, `XBB`, `XBC`, `XBD`, `XDR`, `XSU`, `XUA`,
/// `XTS`, `XXX`): without a minor unit the contract's decimals rule cannot be checked, and
/// none of them is money a customer pays in.
///
/// 165 codes: 138 with 2 digits, 17 with 0, 7 with 3, 2 with 4 (the rest of list one's 178
/// entries are the 13 "N.A." codes above).
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BHD", 3), ("BIF", 0),
    ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2),
    ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHE", 2), ("CHF", 2),
    ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2), ("COU", 2), ("CRC", 2),
    ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2), ("DOP", 2), ("DZD", 2),
    ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2), ("FKP", 2), ("GBP", 2),
    ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2), ("GYD", 2),
    ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2),
    ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2),
    ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3),
    ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2),
    ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2), ("MXV", 2), ("MYR", 2),
    ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2), ("NPR", 2), ("NZD", 2),
    ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2), ("PLN", 2),
    ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0), ("SAR", 2),
    ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2), ("SLE", 2),
    ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2), ("SZL", 2),
    ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2),
    ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2), ("USN", 2), ("UYI", 0),
    ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2), ("VND", 0), ("VUV", 0),
    ("WST", 2), ("XAD", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0), ("XPF", 0),
    ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// A currency accepted for transactions: an active ISO 4217 code with its number of
/// minor-unit digits (EUR 2, JPY 0, KWD 3, CLF 4).
///
/// Only [`Currency::from_code`] (or `str::parse`) makes one, so every `Currency` is in the
/// table. Codes without a minor unit ("N.A." in ISO 4217: the precious metals `XAU`, `XAG`,
/// `XPT`, `XPD`, the bond-market units `XBA`..`XBD`, `XDR`, `XSU`, `XUA`, and the
/// `XTS`/`XXX` test and no-currency codes) are not accepted, and neither are withdrawn codes
/// (`HRK`, `BGN`, `ANG`, `SLL`, `ZWL`, `CUC`, `VEF`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor_units: u8,
}

/// Codes are three letters A–Z: one slot per possible code.
const CURRENCY_SLOTS: usize = 26 * 26 * 26;

/// The slot of a three-letter upper-case code, `None` for anything else.
fn slot(code: &[u8]) -> Option<usize> {
    let [a, b, c] = <[u8; 3]>::try_from(code).ok()?;
    let letter = |x: u8| x.is_ascii_uppercase().then(|| usize::from(x - b'A'));
    Some((letter(a)? * 26 + letter(b)?) * 26 + letter(c)?)
}

/// For each slot, 1 + the code's index in `CURRENCIES`, or 0 for a code not in it.
fn currency_slots() -> &'static [u8; CURRENCY_SLOTS] {
    static SLOTS: std::sync::OnceLock<Box<[u8; CURRENCY_SLOTS]>> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let mut slots = Box::new([0u8; CURRENCY_SLOTS]);
        for (i, (code, _)) in CURRENCIES.iter().enumerate() {
            if let Some(at) = slot(code.as_bytes()) {
                slots[at] = u8::try_from(i + 1).expect("fewer than 255 currencies");
            }
        }
        slots
    })
}

impl Currency {
    /// The currency with this ISO 4217 alphabetic code, or `None` when the code is not an
    /// active code with a minor unit. Upper case only: `"eur"` is `None`.
    ///
    /// Not accepted, by decision: the "N.A." codes (`XAU`, `XAG`, `XPT`, `XPD`, `XBA`,
    /// `XBB`, `XBC`, `XBD`, `XDR`, `XSU`, `XUA`, `XTS`, `XXX`), whose amounts have no
    /// defined decimals, and every withdrawn code.
    pub fn from_code(code: &str) -> Option<Currency> {
        // One table read: this runs for every transaction parsed, staged, loaded or summed.
        let index = usize::from(*currency_slots().get(slot(code.as_bytes())?)?);
        let index = index.checked_sub(1)?;
        let (table_code, minor_units) = CURRENCIES[index];
        let bytes = table_code.as_bytes();
        Some(Currency {
            code: [bytes[0], bytes[1], bytes[2]],
            minor_units,
        })
    }

    /// The three-letter code, e.g. `"EUR"`.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("currency codes come from the ASCII table")
    }

    /// The three-letter code as bytes.
    pub fn code_bytes(&self) -> [u8; 3] {
        self.code
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD, 4 for CLF.
    pub fn minor_units(&self) -> u8 {
        self.minor_units
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    /// [`Currency::from_code`], with [`MoneyError::UnknownCurrency`] for an unknown code.
    fn from_str(code: &str) -> Result<Currency, MoneyError> {
        Currency::from_code(code).ok_or_else(|| MoneyError::UnknownCurrency { code: echo(code) })
    }
}

/// What can be wrong with a currency code or an amount string. Every message quotes the
/// input (cut to [`MAX_ECHO_CHARS`]) and says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The code is not an active ISO 4217 code with a minor unit.
    #[error("unknown currency \"{code}\": use an ISO 4217 code such as EUR or USD")]
    UnknownCurrency {
        /// The code as given.
        code: String,
    },
    /// The amount is not digits with an optional single `.` between digits.
    #[error(
        "amount \"{amount}\" is not a decimal number: \
         write digits with an optional \".\" (e.g. \"1200.50\")"
    )]
    NotADecimal {
        /// The amount as given.
        amount: String,
    },
    /// The amount is zero or negative; amounts are greater than zero.
    #[error(
        "amount \"{amount}\" is not greater than zero: write a positive amount \
         (record a purchase with kind \"purchase\", undo a sale with transaction.reversed)"
    )]
    NotPositive {
        /// The amount as given.
        amount: String,
    },
    /// The amount has more decimals than the currency's minor unit, trailing zeros included.
    #[error("amount \"{amount}\" has more decimals than {currency} allows ({minor_units})")]
    TooManyDecimals {
        /// The amount as given.
        amount: String,
        /// The currency code.
        currency: String,
        /// The currency's minor-unit digits.
        minor_units: u8,
    },
    /// The amount is longer than [`MAX_AMOUNT_CHARS`] or has more than [`MAX_AMOUNT_DIGITS`]
    /// significant digits in minor units.
    #[error(
        "amount \"{amount}\" is too large: at most {MAX_AMOUNT_DIGITS} digits in minor units \
         and {MAX_AMOUNT_CHARS} characters in all"
    )]
    TooLarge {
        /// The amount as given.
        amount: String,
    },
}

/// Parses a positive decimal string into minor units of `currency`.
///
/// Grammar: one or more ASCII digits, optionally followed by `.` and one or more ASCII
/// digits (`"1200.5"`, `"40000"`, `"0.01"`). No sign, exponent, spaces or thousands
/// separators; `"5."` and `".5"` are rejected (write `"5"` and `"0.5"`). Leading zeros are
/// accepted (`"007.50"` is 750 cents for EUR). Rules, checked in this order:
/// 1. the grammar, else [`MoneyError::NotADecimal`] (a leading `-` before an otherwise valid
///    number gives [`MoneyError::NotPositive`] instead, which says more);
/// 2. at most [`MAX_AMOUNT_CHARS`] characters, else [`MoneyError::TooLarge`];
/// 3. at most `currency.minor_units()` decimals, trailing zeros included (`"1200.500"` is
///    rejected for EUR, `"40000.0"` for JPY), else [`MoneyError::TooManyDecimals`];
/// 4. greater than zero, else [`MoneyError::NotPositive`];
/// 5. at most [`MAX_AMOUNT_DIGITS`] significant digits in minor units, else
///    [`MoneyError::TooLarge`].
pub fn parse_amount(amount: &str, currency: Currency) -> Result<i64, MoneyError> {
    let Some((integer, fraction)) = split_decimal(amount) else {
        return Err(match amount.strip_prefix('-').and_then(split_decimal) {
            Some(_) => MoneyError::NotPositive {
                amount: echo(amount),
            },
            None => MoneyError::NotADecimal {
                amount: echo(amount),
            },
        });
    };
    if amount.len() > MAX_AMOUNT_CHARS {
        return Err(MoneyError::TooLarge {
            amount: echo(amount),
        });
    }
    let minor_units = usize::from(currency.minor_units());
    if fraction.len() > minor_units {
        return Err(MoneyError::TooManyDecimals {
            amount: echo(amount),
            currency: currency.code().to_owned(),
            minor_units: currency.minor_units(),
        });
    }
    let significant = integer.trim_start_matches('0');
    let padding = minor_units - fraction.len();
    let digits = significant.bytes().chain(fraction.bytes());
    let mut amount_minor: i64 = 0;
    for digit in digits.chain(std::iter::repeat_n(b'0', padding)) {
        amount_minor = amount_minor
            .checked_mul(10)
            .and_then(|value| value.checked_add(i64::from(digit - b'0')))
            .ok_or_else(|| MoneyError::TooLarge {
                amount: echo(amount),
            })?;
    }
    if amount_minor == 0 {
        return Err(MoneyError::NotPositive {
            amount: echo(amount),
        });
    }
    if decimal_digits(amount_minor.unsigned_abs()) > MAX_AMOUNT_DIGITS {
        return Err(MoneyError::TooLarge {
            amount: echo(amount),
        });
    }
    Ok(amount_minor)
}

/// Formats minor units (zero and negative included) with exactly the currency's digits and
/// no grouping: `(120050, EUR)` → `"1200.50"`, `(-830050, EUR)` → `"-8300.50"`,
/// `(40000, JPY)` → `"40000"`, `(5, KWD)` → `"0.005"`, `(0, EUR)` → `"0.00"`.
/// This is the contract's amount form (§7).
pub fn format_minor(amount_minor: i64, currency: Currency) -> String {
    let (integer, fraction) = split_minor(amount_minor, currency);
    join(amount_minor < 0, &integer, &fraction)
}

/// Like [`format_minor`], with `,` between groups of three integer digits, for tables:
/// `(120050, EUR)` → `"1,200.50"`, `(-123456789, JPY)` → `"-123,456,789"`.
pub fn format_minor_grouped(amount_minor: i64, currency: Currency) -> String {
    let (integer, fraction) = split_minor(amount_minor, currency);
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    join(amount_minor < 0, &grouped, &fraction)
}

/// Splits `amount` into its integer and fraction digits when it follows the grammar of
/// [`parse_amount`]; the fraction is empty when there is no `.`.
fn split_decimal(amount: &str) -> Option<(&str, &str)> {
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let (integer, fraction) = match amount.split_once('.') {
        Some((integer, fraction)) if all_digits(fraction) => (integer, fraction),
        Some(_) => return None,
        None => (amount, ""),
    };
    all_digits(integer).then_some((integer, fraction))
}

/// The integer and fraction digits of `|amount_minor|` in `currency`.
fn split_minor(amount_minor: i64, currency: Currency) -> (String, String) {
    let minor_units = usize::from(currency.minor_units());
    let digits = format!(
        "{:0width$}",
        amount_minor.unsigned_abs(),
        width = minor_units + 1
    );
    let (integer, fraction) = digits.split_at(digits.len() - minor_units);
    (integer.to_owned(), fraction.to_owned())
}

/// Puts sign, integer and fraction together.
fn join(negative: bool, integer: &str, fraction: &str) -> String {
    let sign = if negative { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{integer}")
    } else {
        format!("{sign}{integer}.{fraction}")
    }
}

/// Number of decimal digits of `value` (1 for 0).
fn decimal_digits(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// `input` for an error message, cut to [`MAX_ECHO_CHARS`] characters.
fn echo(input: &str) -> String {
    match input.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

#[cfg(test)]
// The table-driven checks take their expected values by value, written as literals.
#[allow(clippy::needless_pass_by_value)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn currency(code: &str) -> Currency {
        Currency::from_code(code).unwrap_or_else(|| panic!("{code} should be in the table"))
    }

    /// Parses `amount` in `code` and compares with `expected`; an `Ok` is also formatted back
    /// and must give the normalized form of `amount`.
    fn check(amount: &str, code: &str, expected: Result<i64, MoneyError>) {
        let currency = currency(code);
        let actual = parse_amount(amount, currency);
        assert_eq!(actual, expected, "parse_amount({amount:?}, {code})");
        if let Ok(amount_minor) = actual {
            assert_eq!(
                format_minor(amount_minor, currency),
                normalized(amount, currency)
            );
        }
    }

    /// `amount` without leading zeros and padded to the currency's digits.
    fn normalized(amount: &str, currency: Currency) -> String {
        let (integer, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let integer = match integer.trim_start_matches('0') {
            "" => "0",
            significant => significant,
        };
        let width = usize::from(currency.minor_units());
        join(false, integer, &format!("{fraction:0<width$}"))
    }

    fn not_decimal(amount: &str) -> Result<i64, MoneyError> {
        Err(MoneyError::NotADecimal {
            amount: amount.to_owned(),
        })
    }

    fn not_positive(amount: &str) -> Result<i64, MoneyError> {
        Err(MoneyError::NotPositive {
            amount: amount.to_owned(),
        })
    }

    fn too_many(amount: &str, code: &str, minor_units: u8) -> Result<i64, MoneyError> {
        Err(MoneyError::TooManyDecimals {
            amount: amount.to_owned(),
            currency: code.to_owned(),
            minor_units,
        })
    }

    fn too_large(amount: &str) -> Result<i64, MoneyError> {
        Err(MoneyError::TooLarge {
            amount: amount.to_owned(),
        })
    }

    #[test]
    fn valid_amounts() {
        check("1200.50", "EUR", Ok(120_050));
        check("1200.5", "EUR", Ok(120_050));
        check("40000", "EUR", Ok(4_000_000));
        check("0.01", "EUR", Ok(1));
        check("007.50", "EUR", Ok(750));
        check("40000", "JPY", Ok(40_000));
        check("1", "KRW", Ok(1));
        check("0.005", "KWD", Ok(5));
        check("12.345", "BHD", Ok(12_345));
        check("1.5", "TND", Ok(1_500));
        check("0.0001", "CLF", Ok(1));
        check("39000.1234", "CLF", Ok(390_001_234));
        check("2.5", "UYW", Ok(25_000));
        check("100", "XOF", Ok(100));
        check("10.00", "XCG", Ok(1_000));
        check("10.00", "ZWG", Ok(1_000));
        check("10.00", "XAD", Ok(1_000));
    }

    #[test]
    fn not_a_decimal() {
        for amount in [
            "", "1,5", "1,200.50", "1 200", " 1", "1 ", "+1", "1e3", "1E3", "5.", ".5", ".",
            "1.2.3", "1..2", "--1", "-", "-.5", "abc", "١٢", "0x10", "1_000", "NaN", "∞",
        ] {
            check(amount, "EUR", not_decimal(amount));
        }
    }

    #[test]
    fn not_positive_amounts() {
        for amount in ["0", "0.00", "000", "0.0", "-1", "-0", "-1200.50", "-1.005"] {
            check(amount, "EUR", not_positive(amount));
        }
        check("0", "JPY", not_positive("0"));
        check("0.0000", "CLF", not_positive("0.0000"));
    }

    #[test]
    fn too_many_decimals_even_when_trailing_zeros() {
        check("1.005", "EUR", too_many("1.005", "EUR", 2));
        check("1200.500", "EUR", too_many("1200.500", "EUR", 2));
        check("0.000", "EUR", too_many("0.000", "EUR", 2));
        check("40000.0", "JPY", too_many("40000.0", "JPY", 0));
        check("1.5", "ISK", too_many("1.5", "ISK", 0));
        check("0.0005", "KWD", too_many("0.0005", "KWD", 3));
        check("1.00001", "CLF", too_many("1.00001", "CLF", 4));
    }

    #[test]
    fn limit_on_digits_in_minor_units() {
        let max_jpy = "9".repeat(MAX_AMOUNT_DIGITS);
        check(&max_jpy, "JPY", Ok(999_999_999_999_999_999));
        let over_jpy = "1".to_owned() + &"0".repeat(MAX_AMOUNT_DIGITS);
        check(&over_jpy, "JPY", too_large(&over_jpy));
        let max_eur = "9".repeat(MAX_AMOUNT_DIGITS - 2) + ".99";
        check(&max_eur, "EUR", Ok(999_999_999_999_999_999));
        let over_eur = "1".to_owned() + &"0".repeat(MAX_AMOUNT_DIGITS - 2);
        check(&over_eur, "EUR", too_large(&over_eur));
        let max_clf = "9".repeat(MAX_AMOUNT_DIGITS - 4) + ".9999";
        check(&max_clf, "CLF", Ok(999_999_999_999_999_999));
        let over_clf = "1".to_owned() + &"0".repeat(MAX_AMOUNT_DIGITS - 4) + ".0001";
        check(&over_clf, "CLF", too_large(&over_clf));
        // Beyond i64 altogether.
        let huge = "9".repeat(25);
        check(&huge, "JPY", too_large(&huge));
    }

    #[test]
    fn limit_on_characters() {
        let longest = "0".repeat(MAX_AMOUNT_CHARS - 4) + "1.50";
        assert_eq!(longest.len(), MAX_AMOUNT_CHARS);
        check(&longest, "EUR", Ok(150));
        let too_long = "0".repeat(MAX_AMOUNT_CHARS - 3) + "1.50";
        let echoed = echo(&too_long);
        check(&too_long, "EUR", too_large(&echoed));
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let eur = currency("EUR");
        let message = |amount: &str| match parse_amount(amount, eur) {
            Err(error) => error.to_string(),
            Ok(value) => panic!("{amount:?} parsed as {value}"),
        };
        assert_eq!(
            message("1,5"),
            "amount \"1,5\" is not a decimal number: write digits with an optional \".\" \
             (e.g. \"1200.50\")"
        );
        assert_eq!(
            message("1.005"),
            "amount \"1.005\" has more decimals than EUR allows (2)"
        );
        assert!(message("0").starts_with("amount \"0\" is not greater than zero"));
        assert!(message(&"9".repeat(20)).contains("is too large: at most 18 digits"));
        assert_eq!(
            "XYZ".parse::<Currency>().map_err(|error| error.to_string()),
            Err("unknown currency \"XYZ\": use an ISO 4217 code such as EUR or USD".to_owned())
        );
    }

    #[test]
    fn echo_cuts_long_input_on_a_character_boundary() {
        let exact = "é".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&exact), exact);
        let long = "é".repeat(MAX_ECHO_CHARS + 1);
        assert_eq!(echo(&long), exact.clone() + "…");
        let error = parse_amount(&"x".repeat(70_000), currency("EUR"));
        assert_eq!(error, not_decimal(&("x".repeat(MAX_ECHO_CHARS) + "…")));
    }

    #[test]
    fn currency_table() {
        for (code, minor_units) in [
            ("EUR", 2),
            ("USD", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("CLP", 0),
            ("ISK", 0),
            ("VND", 0),
            ("UGX", 0),
            ("XAF", 0),
            ("XOF", 0),
            ("XPF", 0),
            ("BHD", 3),
            ("KWD", 3),
            ("JOD", 3),
            ("OMR", 3),
            ("TND", 3),
            ("IQD", 3),
            ("LYD", 3),
            ("CLF", 4),
            ("UYW", 4),
            ("BOV", 2),
            ("CHE", 2),
            ("CHW", 2),
            ("COU", 2),
            ("MXV", 2),
            ("USN", 2),
            ("UYI", 0),
            ("XCD", 2),
            ("XCG", 2),
            ("ZWG", 2),
            ("VED", 2),
            ("VES", 2),
            ("SLE", 2),
            ("XAD", 2),
        ] {
            let currency = currency(code);
            assert_eq!(
                (currency.code(), currency.minor_units()),
                (code, minor_units)
            );
            assert_eq!(currency.to_string(), code);
        }
        for code in [
            "XAU", "XAG", "XPT", "XPD", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS",
            "XXX", "HRK", "BGN", "ANG", "SLL", "ZWL", "CUC", "VEF", "MRO", "STD", "BYR", "LTL",
            "DEM", "eur", "Eur", "EU", "EURO", "", " EUR", "€",
        ] {
            assert_eq!(Currency::from_code(code), None, "{code:?}");
        }
    }

    #[test]
    fn currency_table_is_sorted_unique_and_well_formed() {
        assert!(CURRENCIES.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert_eq!(CURRENCIES.len(), 165);
        for (code, minor_units) in CURRENCIES {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(matches!(minor_units, 0 | 2 | 3 | 4), "{code} {minor_units}");
            assert_eq!(currency(code).code(), *code);
        }
    }

    #[test]
    fn every_three_letter_code_is_found_exactly_when_listed() {
        let letters = b'A'..=b'Z';
        for a in letters.clone() {
            for b in letters.clone() {
                for c in letters.clone() {
                    let code = String::from_utf8(vec![a, b, c]).unwrap();
                    let listed = CURRENCIES.iter().find(|(listed, _)| *listed == code);
                    let found = Currency::from_code(&code);
                    assert_eq!(
                        found.map(|f| (f.code().to_string(), f.minor_units())),
                        listed.map(|(l, m)| (l.to_string(), *m)),
                        "{code}"
                    );
                }
            }
        }
        for odd in ["", "EU", "EURO", "eur", "E1R", "ÉUR", "EU\u{0}"] {
            assert_eq!(Currency::from_code(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn formatting() {
        for (amount_minor, code, plain, grouped) in [
            (120_050, "EUR", "1200.50", "1,200.50"),
            (-830_050, "EUR", "-8300.50", "-8,300.50"),
            (40_000, "JPY", "40000", "40,000"),
            (5, "KWD", "0.005", "0.005"),
            (0, "EUR", "0.00", "0.00"),
            (0, "JPY", "0", "0"),
            (-1, "EUR", "-0.01", "-0.01"),
            (1, "CLF", "0.0001", "0.0001"),
            (999, "JPY", "999", "999"),
            (1_000, "JPY", "1000", "1,000"),
            (-123_456_789, "JPY", "-123456789", "-123,456,789"),
            (100_000_000, "EUR", "1000000.00", "1,000,000.00"),
            (
                i64::MAX,
                "EUR",
                "92233720368547758.07",
                "92,233,720,368,547,758.07",
            ),
            (
                i64::MIN,
                "EUR",
                "-92233720368547758.08",
                "-92,233,720,368,547,758.08",
            ),
            (
                i64::MIN,
                "JPY",
                "-9223372036854775808",
                "-9,223,372,036,854,775,808",
            ),
        ] {
            let currency = currency(code);
            assert_eq!(
                format_minor(amount_minor, currency),
                plain,
                "{amount_minor} {code}"
            );
            assert_eq!(format_minor_grouped(amount_minor, currency), grouped);
        }
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        (0..CURRENCIES.len()).prop_map(|index| currency(CURRENCIES[index].0))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn round_trip_from_text(
            currency in any_currency(),
            zeros in 0usize..3,
            integer in "[0-9]{1,12}",
            fraction in "[0-9]{0,4}",
        ) {
            let fraction = &fraction[..fraction.len().min(usize::from(currency.minor_units()))];
            let amount = "0".repeat(zeros) + &integer + if fraction.is_empty() { "" } else { "." } + fraction;
            match parse_amount(&amount, currency) {
                Ok(amount_minor) => {
                    prop_assert!(amount_minor > 0);
                    prop_assert_eq!(format_minor(amount_minor, currency), normalized(&amount, currency));
                }
                Err(error) => {
                    prop_assert!(amount.bytes().all(|b| b == b'0' || b == b'.'), "{amount}: {error}");
                    prop_assert_eq!(error, MoneyError::NotPositive { amount: amount.clone() });
                }
            }
        }

        #[test]
        fn round_trip_from_minor_units(
            currency in any_currency(),
            amount_minor in 1i64..1_000_000_000_000_000_000,
        ) {
            let text = format_minor(amount_minor, currency);
            prop_assert_eq!(parse_amount(&text, currency), Ok(amount_minor));
            let negative = format_minor(-amount_minor, currency);
            prop_assert_eq!(negative.strip_prefix('-'), Some(text.as_str()));
            let grouped = format_minor_grouped(amount_minor, currency);
            prop_assert_eq!(grouped.replace(',', ""), text);
        }
    }
}
