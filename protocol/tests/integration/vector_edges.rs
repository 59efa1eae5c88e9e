//! Texts for the vectors that a permissive verifier gets wrong — signatures that only a
//! strict (`verify_strict`) check refuses — and texts typed the way hosts with other
//! keyboard layouts and scanners with framing deliver them, from the layouts corpus
//! `tests/vectors/layouts.json`.

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{SigningKey, Verifier};
use serde_json::Value;
use sha2::{Digest, Sha512};
use tillpass_protocol::token::{self, SIGNING_CONTEXT};

/// The group order ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The identity point, canonically encoded (y = 1): a point of small order.
pub const IDENTITY: [u8; 32] = {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
};

/// The identity point encoded with y = p + 1 (p = 2^255 - 19): a non-canonical encoding.
pub const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};

fn split(bytes: &[u8]) -> (&[u8], [u8; 32], [u8; 32]) {
    let (body, sig) = bytes.split_at(bytes.len() - 64);
    (
        body,
        sig[..32].try_into().unwrap(),
        sig[32..].try_into().unwrap(),
    )
}

fn text_of(body: &[u8], r: &[u8; 32], s: &[u8; 32]) -> String {
    token::text::encode(&[body, r, s].concat())
}

/// The token's signature with S replaced by S + ℓ: the same point equation, but S is not
/// reduced. RFC 8032 and `verify_strict` refuse it.
pub fn s_plus_ell(bytes: &[u8]) -> String {
    let (body, r, s) = split(bytes);
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(ELL[i]) + carry;
        sum[i] = v.to_le_bytes()[0];
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    text_of(body, &r, &sum)
}

/// A signature over the token's body by `key` whose R is the encoding `r` of the
/// identity: S = k·a with k = H(R ‖ A ‖ M), so [S]B = R + [k]A holds and a cofactorless
/// check that does not refuse small-order (or non-canonical) R accepts it.
pub fn identity_r(bytes: &[u8], key: &SigningKey, r: [u8; 32]) -> String {
    let (body, _, _) = split(bytes);
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(body);
    let hash: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(key.verifying_key().as_bytes())
        .chain_update(&message)
        .finalize()
        .into();
    let k = Scalar::from_bytes_mod_order_wide(&hash);
    let s = k * key.to_scalar();
    text_of(body, &r, &s.to_bytes())
}

/// The token's body re-keyed to the small-order key (the identity point) and "signed"
/// with R = identity, S = 0: valid for every message under a key that is no key.
pub fn small_order_key(bytes: &[u8]) -> String {
    let (body, _, _) = split(bytes);
    let mut body = body.to_vec();
    let kid = sha2::Sha256::digest(IDENTITY);
    body[2..6].copy_from_slice(&kid[..4]);
    text_of(&body, &IDENTITY, &[0; 32])
}

/// What hosts type, from the layouts corpus.
pub struct Corpus(Value);

impl Corpus {
    pub fn load() -> Corpus {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/layouts.json");
        Corpus(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    /// `us` (US characters) as the host with `layout` and Caps Lock `caps` types it.
    pub fn typed(&self, layout: &str, caps: bool, us: &str) -> String {
        let entry = self.0["layouts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == layout)
            .unwrap_or_else(|| panic!("no layout {layout}"));
        let typed = &entry[if caps { "caps_on" } else { "caps_off" }]["typed"];
        us.chars()
            .map(|c| {
                typed[c.to_string()]
                    .as_str()
                    .unwrap_or_else(|| panic!("{layout} cannot type {c:?}"))
                    .to_owned()
            })
            .collect()
    }
}

#[test]
fn strict_edges_pass_a_permissive_check_and_fail_the_strict_one() {
    let key = crate::util::key("token-2026");
    let good = token::issue(&crate::util::typical_pass(), &key);
    let vk = key.verifying_key();
    let parts = |text: &str| {
        let t = token::decode(text).unwrap();
        let mut m = SIGNING_CONTEXT.to_vec();
        m.extend_from_slice(t.body_bytes());
        (m, t.signature())
    };
    // Small-order R: the cofactorless check accepts, the strict one refuses.
    let (m, sig) = parts(&identity_r(good.as_bytes(), &key, IDENTITY));
    assert!(vk.verify(&m, &sig).is_ok());
    assert!(vk.verify_strict(&m, &sig).is_err());
    // S + ℓ: refused by both here (dalek checks S < ℓ in every mode); libraries that
    // reduce S first accept it.
    let (m, sig) = parts(&s_plus_ell(good.as_bytes()));
    assert!(vk.verify_strict(&m, &sig).is_err());
    // A small-order key accepts its forgery under the permissive check only, and no
    // trust store takes it.
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&IDENTITY).unwrap();
    let (m, sig) = parts(&small_order_key(good.as_bytes()));
    assert!(weak.verify(&m, &sig).is_ok());
    assert!(weak.verify_strict(&m, &sig).is_err());
    assert!(
        tillpass_protocol::trust::TrustedKey::new(
            tillpass_protocol::trust::KeyPurpose::Token,
            &IDENTITY,
            0,
            u64::MAX
        )
        .is_err()
    );
    // A non-canonical R: refused strictly.
    let (m, sig) = parts(&identity_r(good.as_bytes(), &key, IDENTITY_NON_CANONICAL));
    assert!(vk.verify_strict(&m, &sig).is_err());
}
