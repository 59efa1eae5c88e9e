//! Identifiers as Meta makes them: `wamid.…` message ids, numeric media ids, trace ids.

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The fake's ids need only be unique; if the system's source fails, a counter and the
    // time keep them so.
    if getrandom::fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed).to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = n[i % n.len()];
        }
    }
    bytes
}

/// A message id: `wamid.` and 48 hexadecimal digits.
pub fn wamid() -> String {
    format!("wamid.{}", hex::encode_upper(random::<24>()))
}

/// A media id: 16 decimal digits, as Meta's are numeric.
pub fn media_id() -> String {
    let bytes = random::<8>();
    let n = u64::from_le_bytes(bytes) % 9_000_000_000_000_000 + 1_000_000_000_000_000;
    n.to_string()
}

/// A conversation id.
pub fn conversation_id() -> String {
    hex::encode(random::<16>())
}

/// A trace id for an error answer.
pub fn fbtrace_id() -> String {
    hex::encode(random::<11>())
}
