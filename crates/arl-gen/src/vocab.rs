//! The fixed vocabulary of the contract (§3) and the word lists used for names.

/// Account scopes, in contract order.
pub const SCOPES: [&str; 5] = ["global", "national", "divisional", "district", "territory"];
pub const SCOPE_GLOBAL: u8 = 0;
pub const SCOPE_NATIONAL: u8 = 1;
pub const SCOPE_DIVISIONAL: u8 = 2;
pub const SCOPE_DISTRICT: u8 = 3;
pub const SCOPE_TERRITORY: u8 = 4;

/// Account statuses.
pub const STATUSES: [&str; 5] = ["prospect", "active", "on_hold", "dormant", "closed"];
pub const STATUS_PROSPECT: u8 = 0;
pub const STATUS_ACTIVE: u8 = 1;
pub const STATUS_ON_HOLD: u8 = 2;
pub const STATUS_DORMANT: u8 = 3;
pub const STATUS_CLOSED: u8 = 4;

/// Team roles, in contract order.
pub const ROLES: [&str; 14] = [
    "global_account_manager",
    "national_account_manager",
    "key_account_manager",
    "account_executive",
    "account_director",
    "senior_sales_manager",
    "sales_rep",
    "brand_manager",
    "media",
    "marketing",
    "logistics",
    "product_design",
    "sales_support",
    "executive_sponsor",
];
pub const ROLE_GAM: u8 = 0;
pub const ROLE_NAM: u8 = 1;
pub const ROLE_KAM: u8 = 2;
pub const ROLE_AE: u8 = 3;

/// Kinds of staff: which pool a role is filled from.
pub const KIND_DIRECTOR: u8 = 0;
pub const KIND_GLOBAL: u8 = 1;
pub const KIND_NATIONAL: u8 = 2;
pub const KIND_KEY: u8 = 3;
pub const KIND_SALES: u8 = 4;
pub const KIND_COUNT: usize = 8;
/// Share of each kind among staff, per mille.
pub const KIND_SHARE_PER_MILLE: [u64; KIND_COUNT] = [60, 100, 150, 170, 200, 110, 80, 130];
pub const KIND_TITLES: [&str; KIND_COUNT] = [
    "Account Director",
    "Global Account Manager",
    "National Account Manager",
    "Key Account Manager",
    "Sales Manager",
    "Brand Manager",
    "Media Planner",
    "Sales Support",
];
/// The kind of person each role (by index in [`ROLES`]) is filled with.
pub const ROLE_KIND: [u8; 14] = [1, 2, 3, 3, 0, 4, 4, 5, 6, 5, 7, 5, 7, 0];

/// Reporting tier of a kind: lines only ever point from a higher tier to a lower one, so no
/// cycle can arise in any order of valid time.
pub fn tier(kind: u8) -> u8 {
    match kind {
        KIND_DIRECTOR => 0,
        KIND_GLOBAL => 1,
        _ => 2,
    }
}

/// The role of an account's primary (owner), by scope.
pub fn primary_role(scope: u8) -> u8 {
    match scope {
        SCOPE_GLOBAL => ROLE_GAM,
        SCOPE_NATIONAL => ROLE_NAM,
        SCOPE_TERRITORY => ROLE_AE,
        _ => ROLE_KAM,
    }
}

/// Buying-center roles.
pub const CONTACT_ROLES: [&str; 7] = [
    "initiator",
    "user",
    "influencer",
    "decider",
    "approver",
    "buyer",
    "gatekeeper",
];

/// Classification models with their categories (the `custom` list is ours).
pub const MODELS: [(&str, &[&str]); 4] = [
    (
        "millman-wilson",
        &[
            "pre-kam",
            "early-kam",
            "mid-kam",
            "partnership-kam",
            "synergistic-kam",
            "uncoupling-kam",
        ],
    ),
    (
        "mcdonald-rogers",
        &[
            "exploratory",
            "basic",
            "cooperative",
            "interdependent",
            "integrated",
        ],
    ),
    ("st-gallen", &["target", "top", "basic", "question-mark"]),
    (
        "custom",
        &["strategic", "growth", "maintain", "tier-a", "tier-b"],
    ),
];

/// Currencies: ISO 4217 code, minor-unit digits, and a rough size of one US dollar in the
/// currency as (numerator, denominator), so that amounts look plausible.
pub const CURRENCIES: [(&str, u32, u64, u64); 21] = [
    ("EUR", 2, 9, 10),
    ("USD", 2, 1, 1),
    ("GBP", 2, 8, 10),
    ("JPY", 0, 150, 1),
    ("CHF", 2, 9, 10),
    ("SEK", 2, 10, 1),
    ("KWD", 3, 3, 10),
    ("NOK", 2, 10, 1),
    ("DKK", 2, 7, 1),
    ("PLN", 2, 4, 1),
    ("CAD", 2, 13, 10),
    ("AUD", 2, 15, 10),
    ("BRL", 2, 5, 1),
    ("INR", 2, 83, 1),
    ("CNY", 2, 7, 1),
    ("SGD", 2, 13, 10),
    ("AED", 2, 37, 10),
    ("BHD", 3, 4, 10),
    ("KRW", 0, 1300, 1),
    ("MXN", 2, 17, 1),
    ("ZAR", 2, 18, 1),
];
pub const CURRENCY_EUR: u8 = 0;
pub const CURRENCY_USD: u8 = 1;

/// Countries: ISO 3166-1 alpha-2 code (upper and lower case), home currency, a name.
pub const COUNTRIES: [(&str, &str, u8, &str); 29] = [
    ("US", "us", 1, "USA"),
    ("DE", "de", 0, "Deutschland"),
    ("FR", "fr", 0, "France"),
    ("GB", "gb", 2, "UK"),
    ("JP", "jp", 3, "Japan"),
    ("CH", "ch", 4, "Schweiz"),
    ("SE", "se", 5, "Sverige"),
    ("KW", "kw", 6, "Kuwait"),
    ("IT", "it", 0, "Italia"),
    ("ES", "es", 0, "Espana"),
    ("NL", "nl", 0, "Nederland"),
    ("AT", "at", 0, "Austria"),
    ("BE", "be", 0, "Belgium"),
    ("NO", "no", 7, "Norge"),
    ("DK", "dk", 8, "Danmark"),
    ("PL", "pl", 9, "Polska"),
    ("CA", "ca", 10, "Canada"),
    ("AU", "au", 11, "Australia"),
    ("BR", "br", 12, "Brasil"),
    ("IN", "in", 13, "India"),
    ("CN", "cn", 14, "China"),
    ("SG", "sg", 15, "Singapore"),
    ("AE", "ae", 16, "Emirates"),
    ("BH", "bh", 17, "Bahrain"),
    ("KR", "kr", 18, "Korea"),
    ("MX", "mx", 19, "Mexico"),
    ("ZA", "za", 20, "South Africa"),
    ("IE", "ie", 0, "Ireland"),
    ("FI", "fi", 0, "Suomi"),
];
/// Countries where global accounts are usually headquartered (indices into [`COUNTRIES`]).
pub const HQ_COUNTRIES: [u8; 10] = [0, 0, 0, 1, 1, 2, 3, 4, 5, 10];

/// Syllables for made-up company and person names.
pub const SYLLABLES: [&str; 32] = [
    "ka", "lo", "mi", "ra", "ne", "to", "vi", "sa", "de", "lu", "ro", "an", "el", "ti", "ma", "no",
    "ve", "ri", "so", "ba", "qu", "zen", "dor", "fal", "gri", "hal", "jo", "kem", "lin", "mor",
    "pel", "tas",
];
/// Legal or descriptive suffixes for company names.
pub const COMPANY_SUFFIXES: [&str; 12] = [
    "Group",
    "Holdings",
    "Industries",
    "Foods",
    "Systems",
    "Retail",
    "Pharma",
    "Motors",
    "Logistics",
    "Brands",
    "Trading",
    "Works",
];
/// Short descriptions for transactions.
pub const DESCRIPTIONS: [&str; 8] = [
    "display stands",
    "seasonal promotion",
    "annual volume bonus",
    "shelf placement fee",
    "media campaign",
    "sample shipment",
    "listing fee",
    "pallet delivery",
];
