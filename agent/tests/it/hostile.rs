//! Arbitrary scan text never panics the pipeline: it is refused with a code, and the
//! pipeline keeps working.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tillpass_agent::clock::{Clock, system_wall_clock};
use tillpass_agent::identify::{Identifier, IdentifierParts};
use tillpass_agent::metrics::Metrics;
use tillpass_agent::slot::Slot;
use tillpass_agent::store::Store;
use tillpass_agent::store::journal::TillIdentity;
use tillpass_protocol::sync::{StoreId, TillId};
use tillpass_protocol::token::VerifyPolicy;

use crate::util::{Central, now};

fn pipeline(dir: &std::path::Path, central: &Central) -> Identifier {
    let store = Arc::new(Store::open(dir).unwrap());
    tillpass_agent::store::tokens::accept_trust_list(
        &store.conn(),
        central.root.verifying_key().to_bytes(),
        &central.trust_list(1, now() - 60),
        now(),
    )
    .unwrap();
    Identifier::new(IdentifierParts {
        store,
        policy: VerifyPolicy::default(),
        max_uses_per_pass: 3,
        who: Some(TillIdentity {
            store: StoreId::new("S1").unwrap(),
            till: TillId::new("S1-T1").unwrap(),
        }),
        clock: Arc::new(Clock::new(system_wall_clock(), 300)),
        slot: Slot::new(Duration::from_secs(60)),
        metrics: Arc::new(Metrics::default()),
    })
    .unwrap()
}

#[test]
fn arbitrary_text_is_refused_never_panics() {
    let central = Central::new();
    let dir = tempfile::tempdir().unwrap();
    let identifier = pipeline(dir.path(), &central);
    let valid = central.pass("C-1", now() - 10, 3600, 1);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(512));
    runner
        .run(
            &prop_oneof![
                any::<String>(),
                "TP[0-9]{0,300}",
                "[tT][pP][0-9&é\"'(§è!çà -]{10,280}\r?\n?",
                (0usize..valid.len(), any::<u8>()).prop_map({
                    let valid = valid.clone();
                    move |(i, b)| {
                        let mut bytes = valid.clone().into_bytes();
                        bytes[i] = b'0' + (b % 10);
                        String::from_utf8(bytes).unwrap()
                    }
                }),
            ],
            |text| {
                if let Err(refusal) = identifier.identify(&text, "fuzz") {
                    prop_assert!(!refusal.code.code().is_empty());
                    prop_assert!(!refusal.message_es.is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
    // Still serving: a valid pass is accepted afterwards.
    let id = identifier
        .identify(&central.pass("C-2", now() - 10, 3600, 77), "after")
        .unwrap();
    assert_eq!(id.subject, "C-2");
}
