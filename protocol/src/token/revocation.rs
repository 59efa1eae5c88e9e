//! Revocations: what [`verify`](super::verify) asks ([`Revocations`]), the till's set of
//! revocations ([`RevocationList`]), and the delta central sends in a `revocations`
//! envelope ([`RevocationDelta`]).
//!
//! Delta payload (CBOR map, text keys, nothing else allowed):
//! `{"kids": [bstr .size 4], "token_ids": [bstr .size 8], "subjects": [{"type":
//! "customer_pass"|"gift_card"|"voucher", "subject": bstr .size (1..16), "before": uint}]}`.
//! A subject entry revokes every token of that type and subject issued before `before`
//! (unix seconds). Deltas only add: a revocation is never lifted.

use std::collections::{HashMap, HashSet};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::body::{Subject, TokenBody, TokenId, TokenKind};
use super::refusal::RevokedBy;
use crate::envelope::{
    self, CborBytes, EnvelopeError, EnvelopeHeader, EnvelopePurpose, SignerKeys, from_cbor, to_cbor,
};
use crate::trust::KeyId;

/// What the verifier asks about revocations. Implemented by [`RevocationList`] and
/// [`NoRevocations`]; the agent may implement it over its database.
pub trait Revocations {
    /// Whether every token signed by `kid` is revoked.
    fn is_key_revoked(&self, kid: KeyId) -> bool;
    /// Whether the token with this id is revoked.
    fn is_token_revoked(&self, token_id: TokenId) -> bool;
    /// The time (unix seconds) before which tokens of this type and subject are revoked.
    fn subject_revoked_before(&self, kind: TokenKind, subject: &Subject) -> Option<u64>;
}

/// Which revocation, if any, applies to a token signed by `kid` with `body`.
pub(crate) fn revoked_by(
    revocations: &impl Revocations,
    kid: KeyId,
    body: &TokenBody,
) -> Option<RevokedBy> {
    if revocations.is_key_revoked(kid) {
        return Some(RevokedBy::Key);
    }
    if revocations.is_token_revoked(body.token_id) {
        return Some(RevokedBy::TokenId);
    }
    match revocations.subject_revoked_before(body.kind, &body.subject) {
        Some(before) if u64::from(body.issued_at) < before => Some(RevokedBy::Subject),
        _ => None,
    }
}

/// Nothing is revoked.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocations;

impl Revocations for NoRevocations {
    fn is_key_revoked(&self, _: KeyId) -> bool {
        false
    }
    fn is_token_revoked(&self, _: TokenId) -> bool {
        false
    }
    fn subject_revoked_before(&self, _: TokenKind, _: &Subject) -> Option<u64> {
        None
    }
}

/// Revoking every token of a subject issued before a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectRevocation {
    /// The token type.
    pub kind: TokenKind,
    /// Whose tokens: the customer, gift card or voucher id.
    pub subject: Subject,
    /// Tokens issued before this (unix seconds) are revoked.
    pub before: u64,
}

/// Revocations central adds in one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationDelta {
    /// Revoked signing keys.
    pub kids: Vec<KeyId>,
    /// Revoked token ids.
    pub token_ids: Vec<TokenId>,
    /// Subjects whose older tokens are revoked.
    pub subjects: Vec<SubjectRevocation>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectWire {
    #[serde(rename = "type")]
    kind: String,
    subject: CborBytes,
    before: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaWire {
    kids: Vec<CborBytes>,
    token_ids: Vec<CborBytes>,
    subjects: Vec<SubjectWire>,
}

impl RevocationDelta {
    /// The CBOR payload.
    pub fn to_cbor(&self) -> Result<Vec<u8>, EnvelopeError> {
        to_cbor(&DeltaWire {
            kids: self.kids.iter().map(|k| CborBytes(k.0.to_vec())).collect(),
            token_ids: self
                .token_ids
                .iter()
                .map(|t| CborBytes(t.0.to_vec()))
                .collect(),
            subjects: self
                .subjects
                .iter()
                .map(|s| SubjectWire {
                    kind: s.kind.code().to_owned(),
                    subject: CborBytes(s.subject.as_bytes().to_vec()),
                    before: s.before,
                })
                .collect(),
        })
    }

    /// Reads a CBOR payload, refusing unknown fields, wrong lengths and unknown types.
    pub fn from_cbor(bytes: &[u8]) -> Result<RevocationDelta, EnvelopeError> {
        let wire: DeltaWire = from_cbor(bytes)?;
        let bad = EnvelopeError::BadPayload;
        let kids = wire
            .kids
            .iter()
            .map(|k| k.to_array().map(KeyId).ok_or(bad("kid is not 4 bytes")))
            .collect::<Result<_, _>>()?;
        let token_ids = wire
            .token_ids
            .iter()
            .map(|t| {
                t.to_array()
                    .map(TokenId)
                    .ok_or(bad("token id is not 8 bytes"))
            })
            .collect::<Result<_, _>>()?;
        let subjects = wire
            .subjects
            .iter()
            .map(|s| {
                Ok(SubjectRevocation {
                    kind: TokenKind::from_code(&s.kind).ok_or(bad("unknown token type"))?,
                    subject: Subject::new(&s.subject.0).ok_or(bad("bad subject length"))?,
                    before: s.before,
                })
            })
            .collect::<Result<_, EnvelopeError>>()?;
        Ok(RevocationDelta {
            kids,
            token_ids,
            subjects,
        })
    }

    /// Signs the delta as a `revocations` envelope with a `sync` key.
    pub fn seal(
        &self,
        sequence: u64,
        issued_at: u64,
        max_age_secs: u64,
        key: &SigningKey,
    ) -> Result<Vec<u8>, EnvelopeError> {
        let header = EnvelopeHeader {
            purpose: EnvelopePurpose::Revocations,
            sequence,
            issued_at,
            max_age_secs,
        };
        envelope::sign(&header, &self.to_cbor()?, key)
    }

    /// Opens a `revocations` envelope (see [`envelope::open`]) and reads its delta.
    pub fn open(
        bytes: &[u8],
        keys: &impl SignerKeys,
        now: u64,
        last_sequence: u64,
    ) -> Result<(RevocationDelta, EnvelopeHeader), EnvelopeError> {
        let opened = envelope::open(
            bytes,
            EnvelopePurpose::Revocations,
            keys,
            now,
            last_sequence,
        )?;
        Ok((RevocationDelta::from_cbor(&opened.payload)?, opened.header))
    }
}

/// Every revocation a till knows, built from deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    kids: HashSet<KeyId>,
    token_ids: HashSet<TokenId>,
    subjects: HashMap<(TokenKind, Subject), u64>,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> RevocationList {
        RevocationList::default()
    }

    /// Adds every revocation of `delta`. For a subject revoked twice, the later time wins.
    pub fn apply(&mut self, delta: &RevocationDelta) {
        self.kids.extend(delta.kids.iter().copied());
        self.token_ids.extend(delta.token_ids.iter().copied());
        for s in &delta.subjects {
            let before = self.subjects.entry((s.kind, s.subject)).or_insert(s.before);
            *before = (*before).max(s.before);
        }
    }

    /// The number of revocations held.
    pub fn len(&self) -> usize {
        self.kids.len() + self.token_ids.len() + self.subjects.len()
    }

    /// Whether nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Revocations for RevocationList {
    fn is_key_revoked(&self, kid: KeyId) -> bool {
        self.kids.contains(&kid)
    }
    fn is_token_revoked(&self, token_id: TokenId) -> bool {
        self.token_ids.contains(&token_id)
    }
    fn subject_revoked_before(&self, kind: TokenKind, subject: &Subject) -> Option<u64> {
        self.subjects.get(&(kind, *subject)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::{KeyPurpose, TrustStore, TrustedKey};

    fn subject(b: u8) -> Subject {
        Subject::new(&[b; 6]).unwrap()
    }

    fn body(issued_at: u32) -> TokenBody {
        TokenBody {
            kind: TokenKind::CustomerPass,
            subject: subject(1),
            issued_at,
            lifetime_secs: 60,
            token_id: TokenId([7; 8]),
            tier: None,
            balance: None,
        }
    }

    fn delta() -> RevocationDelta {
        RevocationDelta {
            kids: vec![KeyId([1, 2, 3, 4])],
            token_ids: vec![TokenId([9; 8])],
            subjects: vec![SubjectRevocation {
                kind: TokenKind::CustomerPass,
                subject: subject(1),
                before: 1_000,
            }],
        }
    }

    #[test]
    fn subject_revocation_covers_only_tokens_issued_before_and_of_that_type() {
        let mut list = RevocationList::new();
        list.apply(&delta());
        let kid = KeyId([0; 4]);
        assert_eq!(revoked_by(&list, kid, &body(999)), Some(RevokedBy::Subject));
        assert_eq!(revoked_by(&list, kid, &body(1_000)), None);
        let gift = TokenBody {
            kind: TokenKind::GiftCard,
            ..body(999)
        };
        assert_eq!(revoked_by(&list, kid, &gift), None);
        assert_eq!(revoked_by(&NoRevocations, kid, &body(0)), None);
    }

    #[test]
    fn key_then_token_id_then_subject() {
        let mut list = RevocationList::new();
        list.apply(&delta());
        let revoked_id = TokenBody {
            token_id: TokenId([9; 8]),
            ..body(0)
        };
        assert_eq!(
            revoked_by(&list, KeyId([1, 2, 3, 4]), &revoked_id),
            Some(RevokedBy::Key)
        );
        assert_eq!(
            revoked_by(&list, KeyId([0; 4]), &revoked_id),
            Some(RevokedBy::TokenId)
        );
    }

    #[test]
    fn a_later_subject_revocation_wins_and_an_earlier_one_does_not_undo_it() {
        let mut list = RevocationList::new();
        list.apply(&delta());
        let mut later = delta();
        later.subjects[0].before = 5_000;
        list.apply(&later);
        list.apply(&delta());
        assert_eq!(
            list.subject_revoked_before(TokenKind::CustomerPass, &subject(1)),
            Some(5_000)
        );
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn deltas_round_trip_through_a_revocations_envelope() {
        let sync = SigningKey::from_bytes(&[3; 32]);
        let trusted =
            TrustedKey::from_verifying_key(KeyPurpose::Sync, sync.verifying_key(), 0, 10_000)
                .unwrap();
        let store = TrustStore::new(1, [trusted]).unwrap();
        let sealed = delta().seal(2, 500, 600, &sync).unwrap();
        let (opened, header) = RevocationDelta::open(&sealed, &store, 600, 1).unwrap();
        assert_eq!(opened, delta());
        assert_eq!(header.sequence, 2);
    }

    #[test]
    fn bad_lengths_and_types_in_a_delta_are_refused() {
        let wire = |kids: Vec<CborBytes>, kind: &str, subject: Vec<u8>| {
            to_cbor(&DeltaWire {
                kids,
                token_ids: vec![],
                subjects: vec![SubjectWire {
                    kind: kind.into(),
                    subject: CborBytes(subject),
                    before: 1,
                }],
            })
            .unwrap()
        };
        let check = |bytes: Vec<u8>| RevocationDelta::from_cbor(&bytes);
        assert!(check(wire(vec![], "voucher", vec![1])).is_ok());
        assert_eq!(
            check(wire(vec![CborBytes(vec![1; 5])], "voucher", vec![1])),
            Err(EnvelopeError::BadPayload("kid is not 4 bytes"))
        );
        assert_eq!(
            check(wire(vec![], "coupon", vec![1])),
            Err(EnvelopeError::BadPayload("unknown token type"))
        );
        assert_eq!(
            check(wire(vec![], "voucher", vec![])),
            Err(EnvelopeError::BadPayload("bad subject length"))
        );
    }
}
