//! Signed notes and their Ed25519 keys, in the C2SP signed-note format.
//!
//! A note is UTF-8 text of lines ending in `\n`, then a blank line, then signature lines
//! `— <name> <base64(key id ‖ signature)>`. The key id is the first 4 bytes of
//! SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key); a verifier key is written
//! `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, a signer key
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`. Signatures cover the text up to
//! and including its last `\n`, not the blank line.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 in the signed-note format.
const ALG_ED25519: u8 = 0x01;
/// The prefix of a signature line: an em dash and a space.
pub const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// At most this many signature lines on a note.
pub const NOTE_SIGNATURES_MAX: usize = 100;
/// At most this many bytes in a note.
pub const NOTE_BYTES_MAX: usize = 64 * 1024;
/// At most this many bytes in a key name.
pub const KEY_NAME_BYTES_MAX: usize = 128;

/// What is wrong with a key or a note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// A key line that does not parse.
    #[error("key is not of the form <name>+<hex key id>+<base64 key>: {reason}")]
    BadKey {
        /// What does not hold.
        reason: &'static str,
    },
    /// A key name that the format forbids.
    #[error("key name {name:?}: 1-{KEY_NAME_BYTES_MAX} bytes, no space and no '+'")]
    BadName {
        /// The name.
        name: String,
    },
    /// A note that does not parse.
    #[error("the note is malformed: {reason}")]
    Malformed {
        /// What does not hold.
        reason: &'static str,
    },
    /// No signature line of the key.
    #[error("the note has no signature by key {key}")]
    Unsigned {
        /// The verifier key's name and id.
        key: String,
    },
    /// A signature line of the key that does not verify.
    #[error("the signature by key {key} does not verify")]
    BadSignature {
        /// The verifier key's name and id.
        key: String,
    },
}

/// Checks a key name: 1–128 bytes, no white space, no `+`.
pub fn check_name(name: &str) -> Result<(), NoteError> {
    let ok = !name.is_empty()
        && name.len() <= KEY_NAME_BYTES_MAX
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(NoteError::BadName {
            name: name.to_string(),
        })
    }
}

/// The key id of an Ed25519 key of this name.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0x0A, ALG_ED25519]);
    hasher.update(public);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A public key that checks signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl VerifierKey {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ public key)>`, checking that the id is the
    /// key's.
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let bad = |reason| NoteError::BadKey { reason };
        // Names hold no '+', ids are hex; the base64 key may hold '+'.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("three parts separated by '+' expected"));
        };
        check_name(name)?;
        let bytes = BASE64
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let public: [u8; 32] = match bytes.split_first() {
            Some((&ALG_ED25519, rest)) => rest.try_into().map_err(|_| bad("not 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 key (type byte 0x01)")),
        };
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad("not a valid point"))?;
        let expected = key_id(name, &public);
        if id != hex4(&expected) {
            return Err(bad("the key id is not the key's"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id: expected,
            key,
        })
    }

    /// The one-line form.
    pub fn line(&self) -> String {
        let mut bytes = vec![ALG_ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex4(&self.id), BASE64.encode(bytes))
    }

    /// `name+id`, for messages.
    pub fn label(&self) -> String {
        format!("{}+{}", self.name, hex4(&self.id))
    }
}

/// A private key that signs.
#[derive(Clone)]
pub struct SignerKey {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({})", self.name)
    }
}

impl SignerKey {
    /// A signer from a name and 32 random bytes.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SignerKey, NoteError> {
        check_name(name)?;
        Ok(SignerKey {
            name: name.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
    pub fn parse(text: &str) -> Result<SignerKey, NoteError> {
        let bad = |reason| NoteError::BadKey { reason };
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(bad("a signer key starts with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(seed)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("three parts separated by '+' expected"));
        };
        let bytes = BASE64
            .decode(seed)
            .map_err(|_| bad("the key is not base64"))?;
        let seed: [u8; 32] = match bytes.split_first() {
            Some((&ALG_ED25519, rest)) => rest.try_into().map_err(|_| bad("not 32 bytes"))?,
            _ => return Err(bad("not an Ed25519 key (type byte 0x01)")),
        };
        let signer = SignerKey::from_seed(name, seed)?;
        if id != hex4(&signer.verifier().id) {
            return Err(bad("the key id is not the key's"));
        }
        Ok(signer)
    }

    /// The one-line private form (keep it secret).
    pub fn line(&self) -> String {
        let mut bytes = vec![ALG_ED25519];
        bytes.extend_from_slice(self.key.as_bytes());
        let id = self.verifier().id;
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex4(&id),
            BASE64.encode(bytes)
        )
    }

    /// The public half.
    pub fn verifier(&self) -> VerifierKey {
        let key = self.key.verifying_key();
        VerifierKey {
            id: key_id(&self.name, key.as_bytes()),
            name: self.name.clone(),
            key,
        }
    }

    /// The signature line of this key over `text` (which must end in `\n`).
    pub fn sign_line(&self, text: &str) -> String {
        assert!(text.ends_with('\n'), "a note's text ends in a newline");
        let signature = self.key.sign(text.as_bytes());
        let mut bytes = self.verifier().id.to_vec();
        bytes.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(bytes))
    }
}

/// A note: its text and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in `\n`.
    pub text: String,
    /// The signature lines: (name, key id, signature), in order.
    pub signatures: Vec<(String, [u8; 4], [u8; 64])>,
}

impl Note {
    /// An unsigned note with this text.
    pub fn new(text: String) -> Note {
        Note {
            text,
            signatures: Vec::new(),
        }
    }

    /// Parses a signed note: the text ends at the last blank line.
    pub fn parse(note: &str) -> Result<Note, NoteError> {
        let bad = |reason| NoteError::Malformed { reason };
        if note.len() > NOTE_BYTES_MAX {
            return Err(bad("more than 64 KiB"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(bad("no blank line before the signatures"))?;
        let (text, lines) = (&note[..split + 1], &note[split + 2..]);
        if !lines.ends_with('\n') {
            return Err(bad("the last signature line does not end in a newline"));
        }
        let mut signatures = Vec::new();
        for line in lines.lines() {
            if signatures.len() == NOTE_SIGNATURES_MAX {
                return Err(bad("more than 100 signatures"));
            }
            signatures.push(parse_signature_line(line)?);
        }
        if signatures.is_empty() {
            return Err(bad("no signature line"));
        }
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Adds the signature of `key`.
    pub fn sign(&mut self, key: &SignerKey) {
        let line = key.sign_line(&self.text);
        let parsed = parse_signature_line(line.trim_end()).expect("a line we wrote parses");
        self.signatures.push(parsed);
    }

    /// Checks the signature of `key`: the first line with its name and id decides.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), NoteError> {
        let found = self
            .signatures
            .iter()
            .find(|(name, id, _)| *name == key.name && *id == key.id)
            .ok_or_else(|| NoteError::Unsigned { key: key.label() })?;
        let signature = ed25519_dalek::Signature::from_bytes(&found.2);
        key.key
            .verify_strict(self.text.as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature { key: key.label() })
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn render(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for (name, id, signature) in &self.signatures {
            let mut bytes = id.to_vec();
            bytes.extend_from_slice(signature);
            out.push_str(&format!(
                "{SIGNATURE_PREFIX}{name} {}\n",
                BASE64.encode(bytes)
            ));
        }
        out
    }
}

fn parse_signature_line(line: &str) -> Result<(String, [u8; 4], [u8; 64]), NoteError> {
    let bad = |reason| NoteError::Malformed { reason };
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(bad("a signature line starts with an em dash and a space"))?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(bad("a signature line is: em dash, name, base64"))?;
    check_name(name).map_err(|_| bad("a signature line names a bad key name"))?;
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| bad("a signature is not base64"))?;
    if bytes.len() != 68 {
        return Err(bad("an Ed25519 signature line holds 4 + 64 bytes"));
    }
    let id: [u8; 4] = bytes[..4].try_into().expect("4 bytes");
    let signature: [u8; 64] = bytes[4..].try_into().expect("64 bytes");
    Ok((name.to_string(), id, signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_signed_verifies_and_any_change_fails() {
        let signer = SignerKey::from_seed("arl.example", [7; 32]).unwrap();
        let verifier = VerifierKey::parse(&signer.verifier().line()).unwrap();
        assert_eq!(verifier, signer.verifier());
        assert_eq!(
            SignerKey::parse(&signer.line()).unwrap().verifier(),
            verifier
        );
        let mut note = Note::new("arl.example\n3\nAAAA\n".into());
        note.sign(&signer);
        let text = note.render();
        assert!(text.contains("\n\n\u{2014} arl.example "));
        let parsed = Note::parse(&text).unwrap();
        parsed.verify(&verifier).unwrap();
        let changed = Note::parse(&text.replacen("\n3\n", "\n4\n", 1)).unwrap();
        assert!(matches!(
            changed.verify(&verifier),
            Err(NoteError::BadSignature { .. })
        ));
        let other = SignerKey::from_seed("arl.example", [8; 32]).unwrap();
        assert!(matches!(
            parsed.verify(&other.verifier()),
            Err(NoteError::Unsigned { .. })
        ));
        let bad_id = verifier.line().replacen(&hex4(&verifier.id), "00000000", 1);
        assert!(VerifierKey::parse(&bad_id).is_err());
        for seed in 0..64u8 {
            let key = SignerKey::from_seed("k", [seed; 32]).unwrap();
            assert_eq!(
                SignerKey::parse(&key.line()).unwrap().verifier(),
                key.verifier()
            );
            assert_eq!(
                VerifierKey::parse(&key.verifier().line()).unwrap(),
                key.verifier()
            );
        }
        assert!(
            check_name("a b").is_err() && check_name("a+b").is_err() && check_name("").is_err()
        );
    }
}
