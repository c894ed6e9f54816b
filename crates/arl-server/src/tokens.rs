//! Bearer tokens and their roles, stored as blake3 hashes in `<ledger>/tokens.json` (mode
//! 0600). A token is shown once, when it is made; the file never holds it.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The tokens file inside the ledger directory.
pub const TOKENS_FILE: &str = "tokens.json";
/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;
/// The prefix of every token, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "arl_";
/// The longest token name.
pub const TOKEN_NAME_BYTES_MAX: usize = 64;
/// The most tokens one ledger keeps (revoked ones included).
pub const TOKENS_MAX: usize = 10_000;
/// The largest tokens file read, in bytes.
const TOKENS_FILE_BYTES_MAX: u64 = 16 << 20;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every query.
    Reader,
    /// Reader plus history, export, proofs, verify and subscriptions.
    Auditor,
    /// Reader plus appends.
    Writer,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Reader, Role::Auditor, Role::Writer, Role::Admin];

    /// The role named `text`.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Auditor => "auditor",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    /// True when this role may do what `need` asks.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => true,
            Need::Audit => matches!(self, Role::Auditor | Role::Admin),
            Need::Write => matches!(self, Role::Writer | Role::Admin),
            Need::Admin => self == Role::Admin,
        }
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A query (any role).
    Read,
    /// History, export, proofs, verify, subscriptions (auditor, admin).
    Audit,
    /// An append (writer, admin).
    Write,
    /// An erasure (admin).
    Admin,
}

impl Need {
    /// The roles that may.
    pub fn roles(self) -> Vec<&'static str> {
        Role::ALL
            .into_iter()
            .filter(|r| r.allows(self))
            .map(Role::as_str)
            .collect()
    }
}

/// One token as stored: its name, role, hash and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub role: Role,
    /// blake3 of the token's text, hex.
    pub hash: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The name breaks the identifier rule.
    #[error("token name {name:?}: use 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit")]
    BadName { name: String },
    /// A live token of that name exists.
    #[error("a token named {name:?} exists; revoke it first (arl token revoke {name}) or pick another name")]
    Exists { name: String },
    /// No live token of that name.
    #[error("no live token named {name:?}; see arl token list")]
    Unknown { name: String },
    /// Too many tokens.
    #[error("the ledger holds {TOKENS_MAX} tokens, the most it keeps")]
    TooMany,
    /// The file is not what this version writes.
    #[error("{path}: not a tokens file: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The hash stored for a token's text.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TOKEN_NAME_BYTES_MAX
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn read_file(path: &Path) -> Result<TokensFile, TokenError> {
    let text = match std::fs::metadata(path) {
        Ok(meta) if meta.len() > TOKENS_FILE_BYTES_MAX => {
            return Err(TokenError::Corrupt {
                path: path.to_path_buf(),
                message: format!("over {TOKENS_FILE_BYTES_MAX} bytes"),
            })
        }
        Ok(_) => std::fs::read_to_string(path).map_err(io_error(path))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TokensFile::default()),
        Err(e) => return Err(io_error(path)(e)),
    };
    serde_json::from_str(&text).map_err(|e| TokenError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes the file owner-only (0600) through a temporary file and a rename, synced.
fn write_file(path: &Path, file: &TokensFile) -> Result<(), TokenError> {
    let text = serde_json::to_string_pretty(file).map_err(|e| TokenError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(&tmp).map_err(io_error(&tmp))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_error(&tmp))?;
    }
    out.write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.sync_all())
        .map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

fn now_text() -> String {
    arl_domain::Timestamp::now().canonical()
}

/// Makes a token named `name` with `role` in the ledger directory `dir`; returns its text
/// (shown once: only its hash is stored).
pub fn add(dir: &Path, name: &str, role: Role) -> Result<String, TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName {
            name: name.to_string(),
        });
    }
    let path = dir.join(TOKENS_FILE);
    let mut file = read_file(&path)?;
    if file
        .tokens
        .iter()
        .any(|t| t.name == name && t.revoked_at.is_none())
    {
        return Err(TokenError::Exists {
            name: name.to_string(),
        });
    }
    if file.tokens.len() >= TOKENS_MAX {
        return Err(TokenError::TooMany);
    }
    let mut random = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut random)
        .map_err(|e| io_error(&path)(std::io::Error::other(e.to_string())))?;
    let token = format!("{TOKEN_PREFIX}{}", blake3::Hash::from(random).to_hex());
    file.tokens.push(TokenEntry {
        name: name.to_string(),
        role,
        hash: token_hash(&token),
        created_at: now_text(),
        revoked_at: None,
    });
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    write_file(&path, &file)?;
    Ok(token)
}

/// Every token of the ledger (revoked ones too), in the order made.
pub fn list(dir: &Path) -> Result<Vec<TokenEntry>, TokenError> {
    Ok(read_file(&dir.join(TOKENS_FILE))?.tokens)
}

/// Revokes the live token named `name`.
pub fn revoke(dir: &Path, name: &str) -> Result<(), TokenError> {
    let path = dir.join(TOKENS_FILE);
    let mut file = read_file(&path)?;
    let Some(entry) = file
        .tokens
        .iter_mut()
        .find(|t| t.name == name && t.revoked_at.is_none())
    else {
        return Err(TokenError::Unknown {
            name: name.to_string(),
        });
    };
    entry.revoked_at = Some(now_text());
    write_file(&path, &file)
}

/// Who a request is: the token's name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

/// The live tokens by hash, reloaded when the file changes (so a revocation takes effect
/// on the next request, without a restart).
pub struct Authenticator {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    stamp: Option<(SystemTime, u64)>,
    by_hash: HashMap<String, Identity>,
}

impl Authenticator {
    /// An authenticator of the tokens of ledger directory `dir`.
    pub fn new(dir: &Path) -> Result<Authenticator, TokenError> {
        let auth = Authenticator {
            path: dir.join(TOKENS_FILE),
            cache: Mutex::new(Cache::default()),
        };
        auth.refresh()?;
        Ok(auth)
    }

    fn refresh(&self) -> Result<(), TokenError> {
        let stamp = match std::fs::metadata(&self.path) {
            Ok(meta) => Some((meta.modified().map_err(io_error(&self.path))?, meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&self.path)(e)),
        };
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.stamp == stamp && stamp.is_some() {
            return Ok(());
        }
        let file = read_file(&self.path)?;
        cache.by_hash = file
            .tokens
            .into_iter()
            .filter(|t| t.revoked_at.is_none())
            .map(|t| {
                let identity = Identity {
                    name: t.name,
                    role: t.role,
                };
                (t.hash, identity)
            })
            .collect();
        cache.stamp = stamp;
        Ok(())
    }

    /// The identity of a presented token, `None` when it is unknown or revoked.
    pub fn identify(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        self.refresh()?;
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(cache.by_hash.get(&token_hash(token)).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_revoke_and_identify() {
        let dir = tempfile::tempdir().unwrap();
        let token = add(dir.path(), "ops", Role::Writer).unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        let text = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!text.contains(&token), "the file must not hold the token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKENS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let auth = Authenticator::new(dir.path()).unwrap();
        let who = auth.identify(&token).unwrap().unwrap();
        assert_eq!((who.name.as_str(), who.role), ("ops", Role::Writer));
        assert!(auth.identify("arl_nope").unwrap().is_none());
        assert!(matches!(
            add(dir.path(), "ops", Role::Reader),
            Err(TokenError::Exists { .. })
        ));
        assert!(matches!(
            add(dir.path(), "-bad", Role::Reader),
            Err(TokenError::BadName { .. })
        ));
        revoke(dir.path(), "ops").unwrap();
        // A revocation within the same second and size must still be seen: the file
        // grows by the revocation time, so its length changes.
        assert!(auth.identify(&token).unwrap().is_none());
        assert!(matches!(
            revoke(dir.path(), "ops"),
            Err(TokenError::Unknown { .. })
        ));
        let listed = list(dir.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_at.is_some());
    }

    #[test]
    fn roles_allow() {
        assert_eq!(Need::Read.roles(), ["reader", "auditor", "writer", "admin"]);
        assert_eq!(Need::Audit.roles(), ["auditor", "admin"]);
        assert_eq!(Need::Write.roles(), ["writer", "admin"]);
        assert_eq!(Need::Admin.roles(), ["admin"]);
    }
}
