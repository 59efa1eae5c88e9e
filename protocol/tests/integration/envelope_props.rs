//! Property tests of signed envelopes, trust lists and revocation deltas.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tillpass_protocol::envelope::{self, EnvelopeHeader, EnvelopePurpose};
use tillpass_protocol::token::{RevocationDelta, Subject, SubjectRevocation, TokenId, TokenKind};
use tillpass_protocol::trust::{KeyId, KeyPurpose, RootKey, TrustStore, TrustedKey};

use crate::util;

fn signers() -> (SigningKey, SigningKey, SigningKey) {
    (util::key("root"), util::key("sync"), util::key("catalog"))
}

/// The store trusting the sync and catalog keys.
fn central_store() -> TrustStore {
    let (_, sync, catalog) = signers();
    util::store(&[(KeyPurpose::Sync, &sync), (KeyPurpose::Catalog, &catalog)])
}

fn signer_for(purpose: EnvelopePurpose) -> SigningKey {
    let (root, sync, catalog) = signers();
    match purpose {
        EnvelopePurpose::TrustList => root,
        EnvelopePurpose::Revocations => sync,
        _ => catalog,
    }
}

/// Opens with the right key source for the purpose.
fn open(
    bytes: &[u8],
    purpose: EnvelopePurpose,
    now: u64,
    last: u64,
) -> Result<envelope::Opened, envelope::EnvelopeError> {
    if purpose == EnvelopePurpose::TrustList {
        let root = RootKey::from_verifying_key(signers().0.verifying_key()).unwrap();
        envelope::open(bytes, purpose, &root, now, last)
    } else {
        envelope::open(bytes, purpose, &central_store(), now, last)
    }
}

fn arb_purpose() -> impl Strategy<Value = EnvelopePurpose> {
    prop::sample::select(vec![
        EnvelopePurpose::TrustList,
        EnvelopePurpose::Revocations,
        EnvelopePurpose::Catalog,
    ])
}

fn arb_header() -> impl Strategy<Value = EnvelopeHeader> {
    (arb_purpose(), 1..u64::MAX, any::<u64>(), any::<u64>()).prop_map(
        |(purpose, sequence, issued_at, max_age_secs)| EnvelopeHeader {
            purpose,
            sequence,
            issued_at,
            max_age_secs,
        },
    )
}

fn arb_kind() -> impl Strategy<Value = TokenKind> {
    prop::sample::select(vec![
        TokenKind::CustomerPass,
        TokenKind::GiftCard,
        TokenKind::Voucher,
    ])
}

fn arb_delta() -> impl Strategy<Value = RevocationDelta> {
    (
        prop::collection::vec(any::<[u8; 4]>(), 0..4),
        prop::collection::vec(any::<[u8; 8]>(), 0..4),
        prop::collection::vec(
            (
                arb_kind(),
                prop::collection::vec(any::<u8>(), 1..=16),
                any::<u64>(),
            ),
            0..4,
        ),
    )
        .prop_map(|(kids, ids, subjects)| RevocationDelta {
            kids: kids.into_iter().map(KeyId).collect(),
            token_ids: ids.into_iter().map(TokenId).collect(),
            subjects: subjects
                .into_iter()
                .map(|(kind, s, before)| SubjectRevocation {
                    kind,
                    subject: Subject::new(&s).unwrap(),
                    before,
                })
                .collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn envelopes_round_trip(header in arb_header(), payload in prop::collection::vec(any::<u8>(), 0..256)) {
        let key = signer_for(header.purpose);
        let sealed = envelope::sign(&header, &payload, &key).unwrap();
        let opened = open(&sealed, header.purpose, header.issued_at, header.sequence - 1).unwrap();
        prop_assert_eq!(opened.header, header);
        prop_assert_eq!(opened.payload, payload);
        prop_assert_eq!(opened.kid, KeyId::of(&key.verifying_key()));
        // The same envelope again is a rollback.
        prop_assert_eq!(
            open(&sealed, header.purpose, header.issued_at, header.sequence).map_err(|e| e.code()),
            Err("rollback")
        );
    }

    #[test]
    fn an_envelope_opened_as_another_purpose_is_refused(header in arb_header(), other in arb_purpose()) {
        prop_assume!(other != header.purpose);
        let sealed = envelope::sign(&header, b"{}", &signer_for(header.purpose)).unwrap();
        prop_assert!(open(&sealed, other, header.issued_at, 0).is_err());
    }

    #[test]
    fn trust_lists_round_trip(
        entries in prop::collection::vec(
            (
                any::<[u8; 32]>(),
                prop::sample::select(vec![KeyPurpose::Token, KeyPurpose::Catalog, KeyPurpose::Sync]),
                0..u64::MAX / 2,
                1..u64::MAX / 2,
            ),
            0..6,
        ),
        sequence in 1..u64::MAX,
    ) {
        let keys: Vec<TrustedKey> = entries
            .iter()
            .map(|(seed, purpose, from, span)| {
                let vk = SigningKey::from_bytes(seed).verifying_key();
                TrustedKey::from_verifying_key(*purpose, vk, *from, from + span).unwrap()
            })
            .collect();
        prop_assume!(TrustStore::new(sequence, keys.clone()).is_ok());
        let store = TrustStore::new(sequence, keys).unwrap();
        let (root, _, _) = signers();
        let sealed = store.seal(&root, 1_000, 60).unwrap();
        let pinned = RootKey::from_verifying_key(root.verifying_key()).unwrap();
        let (opened, header) = TrustStore::open(&sealed, &pinned, 1_000, sequence - 1).unwrap();
        prop_assert_eq!(opened, store);
        prop_assert_eq!(header.sequence, sequence);
    }

    #[test]
    fn signed_garbage_payloads_are_refused_without_panic(payload in prop::collection::vec(any::<u8>(), 0..128)) {
        let (root, sync, _) = signers();
        let pinned = RootKey::from_verifying_key(root.verifying_key()).unwrap();
        let header = |purpose| EnvelopeHeader { purpose, sequence: 1, issued_at: 0, max_age_secs: 60 };
        let list = envelope::sign(&header(EnvelopePurpose::TrustList), &payload, &root).unwrap();
        let _ = TrustStore::open(&list, &pinned, 0, 0);
        let delta = envelope::sign(&header(EnvelopePurpose::Revocations), &payload, &sync).unwrap();
        let _ = RevocationDelta::open(&delta, &central_store(), 0, 0);
    }

    #[test]
    fn revocation_deltas_round_trip(delta in arb_delta(), sequence in 1..u64::MAX) {
        let (_, sync, _) = signers();
        let sealed = delta.seal(sequence, 1_000, 60, &sync).unwrap();
        let (opened, _) = RevocationDelta::open(&sealed, &central_store(), 1_000, sequence - 1).unwrap();
        prop_assert_eq!(opened, delta);
    }
}

proptest! {
    // Each case opens every single-bit flip of one envelope (about 1,500 of them).
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn every_single_bit_flip_of_an_envelope_is_refused(header in arb_header(), payload in prop::collection::vec(any::<u8>(), 0..24)) {
        let sealed = envelope::sign(&header, &payload, &signer_for(header.purpose)).unwrap();
        prop_assume!(open(&sealed, header.purpose, header.issued_at, header.sequence - 1).is_ok());
        for bit in 0..sealed.len() * 8 {
            let mut flipped = sealed.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(
                open(&flipped, header.purpose, header.issued_at, header.sequence - 1).is_err(),
                "bit {} flipped still opens", bit
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic_the_opener(bytes in prop::collection::vec(any::<u8>(), 0..512), purpose in arb_purpose()) {
        let _ = open(&bytes, purpose, 0, 0);
    }

    #[test]
    fn cose_shaped_bytes_never_panic_the_opener(tail in prop::collection::vec(any::<u8>(), 0..256), purpose in arb_purpose()) {
        // Tag 18 (COSE_Sign1), array of 4, then anything.
        let mut bytes = vec![0xd2, 0x84];
        bytes.extend_from_slice(&tail);
        let _ = open(&bytes, purpose, 0, 0);
    }

    #[test]
    fn arbitrary_payloads_never_panic_the_payload_readers(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = RevocationDelta::from_cbor(&bytes);
    }
}
