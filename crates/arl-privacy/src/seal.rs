//! The sealed form of one personal field: `arl:sealed:v1:` followed by base64url (no
//! padding) of the key's record number (u32, little-endian), a 24-byte nonce and the
//! XChaCha20-Poly1305 ciphertext with its 16-byte tag.
//!
//! The nonce is derived from the key and the plaintext (keyed blake3, a synthetic nonce):
//! the same field of the same subject seals to the same bytes, so an event sent twice is
//! stored identically and the log's idempotency (which compares stored data) still
//! recognizes it. Nonces of different plaintexts differ unless blake3 collides, so the
//! nonce is never reused with a different message. The associated data binds the
//! ciphertext to its subject (kind and id), so a sealed value copied onto another subject
//! does not open.

use crate::{PrivacyError, Subject};
use arl_domain::ids::SEALED_PREFIX;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Bytes of a subject's key.
pub const KEY_BYTES: usize = 32;
/// Bytes of the nonce (XChaCha20).
pub const NONCE_BYTES: usize = 24;
/// Bytes of the key's record number at the start of a sealed value.
pub const REF_BYTES: usize = 4;
/// Context string of the nonce key's derivation (blake3 `derive_key`).
const NONCE_CONTEXT: &str = "arl 2026 sealed v1 nonce";

/// A subject's key; zeroed when dropped.
#[derive(Clone)]
pub struct Key(pub(crate) Zeroizing<[u8; KEY_BYTES]>);

impl Key {
    /// A fresh random key from the operating system.
    pub fn random() -> Result<Key, PrivacyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::getrandom(bytes.as_mut()).map_err(|e| PrivacyError::Random(e.to_string()))?;
        Ok(Key(bytes))
    }

    /// A key from its bytes (tests, the key store).
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Key {
        Key(Zeroizing::new(bytes))
    }

    /// The key's bytes, for a key store to keep (never for the log, the views or output).
    pub fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

fn aad(subject: &Subject) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEALED_PREFIX.len() + 2 + subject.id.len());
    aad.extend_from_slice(SEALED_PREFIX.as_bytes());
    aad.push(subject.kind.code());
    aad.push(0);
    aad.extend_from_slice(subject.id.as_bytes());
    aad
}

fn nonce(key: &Key, aad: &[u8], plaintext: &str) -> [u8; NONCE_BYTES] {
    let nonce_key = Zeroizing::new(blake3::derive_key(NONCE_CONTEXT, key.0.as_ref()));
    let mut h = blake3::Hasher::new_keyed(&nonce_key);
    h.update(&(aad.len() as u64).to_le_bytes());
    h.update(aad);
    h.update(plaintext.as_bytes());
    let mut out = [0u8; NONCE_BYTES];
    h.finalize_xof().fill(&mut out);
    out
}

/// Seals `plaintext` of `subject` under `key`, whose record number is `key_ref`.
pub fn seal(key: &Key, key_ref: u32, subject: &Subject, plaintext: &str) -> String {
    let aad = aad(subject);
    let nonce = nonce(key, &aad, plaintext);
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    let payload = Payload {
        msg: plaintext.as_bytes(),
        aad: &aad,
    };
    // Encryption fails only for messages beyond 256 GiB; a field is at most 800 bytes.
    let ciphertext = cipher
        .encrypt(XNonce::from_slice(&nonce), payload)
        .unwrap_or_else(|e| unreachable!("sealing a field of at most 800 bytes: {e}"));
    let mut blob = Vec::with_capacity(REF_BYTES + NONCE_BYTES + ciphertext.len());
    blob.extend_from_slice(&key_ref.to_le_bytes());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))
}

/// True when `value` is in the sealed form (by its prefix).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// The key's record number of a sealed value, or `None` when `value` is not well formed.
pub fn key_ref(value: &str) -> Option<u32> {
    let blob = decode(value)?;
    Some(u32::from_le_bytes(blob[..REF_BYTES].try_into().ok()?))
}

fn decode(value: &str) -> Option<Vec<u8>> {
    let body = value.strip_prefix(SEALED_PREFIX)?;
    let blob = URL_SAFE_NO_PAD.decode(body).ok()?;
    (blob.len() >= REF_BYTES + NONCE_BYTES + 16).then_some(blob)
}

/// Opens a sealed value of `subject` with `key`; `None` when it does not open (another
/// key, another subject, damaged).
pub fn open(key: &Key, subject: &Subject, value: &str) -> Option<String> {
    let blob = decode(value)?;
    let (nonce, ciphertext) = blob[REF_BYTES..].split_at(NONCE_BYTES);
    let aad = aad(subject);
    let cipher = XChaCha20Poly1305::new(key.0.as_ref().into());
    let plain = cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SubjectKind;

    fn subject(id: &str) -> Subject {
        Subject::new(SubjectKind::Contact, id)
    }

    #[test]
    fn seal_is_deterministic_and_opens() {
        let key = Key::from_bytes([7; KEY_BYTES]);
        let a = seal(&key, 3, &subject("k-vogel"), "Karl Vogel");
        let b = seal(&key, 3, &subject("k-vogel"), "Karl Vogel");
        assert_eq!(a, b);
        assert!(is_sealed(&a));
        assert!(!a.contains("Karl"));
        assert_eq!(key_ref(&a), Some(3));
        assert_eq!(
            open(&key, &subject("k-vogel"), &a).as_deref(),
            Some("Karl Vogel")
        );
        assert!(arl_domain::ids::is_sealed_body(&a[SEALED_PREFIX.len()..]));
    }

    #[test]
    fn another_plaintext_key_or_subject_does_not_open() {
        let key = Key::from_bytes([7; KEY_BYTES]);
        let a = seal(&key, 0, &subject("k-vogel"), "Karl Vogel");
        let b = seal(&key, 0, &subject("k-vogel"), "Karl Vogel.");
        assert_ne!(a[..60], b[..60]);
        assert_eq!(
            open(&Key::from_bytes([8; KEY_BYTES]), &subject("k-vogel"), &a),
            None
        );
        assert_eq!(open(&key, &subject("m-ng"), &a), None);
        assert_eq!(open(&key, &subject("k-vogel"), "arl:sealed:v1:AAAA"), None);
    }

    #[test]
    fn the_longest_field_fits_the_domain_limit() {
        let key = Key::from_bytes([1; KEY_BYTES]);
        let longest = "\u{1F600}".repeat(arl_domain::ids::TEXT_CHARS_MAX);
        let sealed = seal(&key, u32::MAX, &subject("x"), &longest);
        assert!(arl_domain::ids::is_sealed_body(
            &sealed[SEALED_PREFIX.len()..]
        ));
        assert_eq!(open(&key, &subject("x"), &sealed), Some(longest));
    }
}
