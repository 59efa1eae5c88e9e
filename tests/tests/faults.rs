//! Faults a till meets in the field, against the real binaries over real sockets, SQLite
//! files and pseudo-terminals:
//!
//! - **Hostile input**: 10,000 generated scans — malformed, truncated, bit-flipped, expired,
//!   replayed, signed by foreign keys — through the POS API and a serial scanner on a pty:
//!   each refused with the code its kind calls for, the daemon never panics and keeps
//!   serving, and its scan log and metrics count every one.
//! - **Disk full**: the agent's data folder on a tiny tmpfs filled to the last byte: a sale
//!   is refused with 507 `disk_full`, nothing is corrupted, and once space returns the very
//!   same close (same `Idempotency-Key`) goes through, exactly once.
//! - **Offline day**: central down for 1,000 sales with savings redemptions up to the
//!   offline cap (and refused past it with `offline_cap_reached`), then back on the same
//!   port: the relay drains, central holds every event exactly once, and the balances
//!   agree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    EnrolResponse, EnrolmentRecord, OfflinePolicy, RegionId, ReplayPolicy, StoreId, TillId,
};
use tillpass_protocol::token::{self, Subject, TokenBody, TokenId, TokenKind};
use tillpass_protocol::trust::{KeyId, KeyPurpose, TrustStore, TrustedKey};
use tillpass_tests::http::Request;
use tillpass_tests::pty::Pty;
use tillpass_tests::till::Agent;
use tillpass_tests::wait;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A small xorshift: reproducible scans without a dependency. The seed is printed in every
/// failure message.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u64::try_from(len).unwrap())).unwrap()
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next().to_le_bytes()[3];
        }
        out
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hostile input

/// Central's keys as this test plays central, and keys it must not trust.
struct Keys {
    root: SigningKey,
    token: SigningKey,
    catalog: SigningKey,
    /// A token key trusted only from `late_from` on.
    late: SigningKey,
    late_from: u64,
    foreign: Vec<SigningKey>,
}

impl Keys {
    fn new(now: u64) -> Keys {
        Keys {
            root: SigningKey::from_bytes(&[11; 32]),
            token: SigningKey::from_bytes(&[12; 32]),
            catalog: SigningKey::from_bytes(&[13; 32]),
            late: SigningKey::from_bytes(&[14; 32]),
            late_from: now - 1_000,
            foreign: (0..8u8)
                .map(|i| SigningKey::from_bytes(&[100 + i; 32]))
                .collect(),
        }
    }

    fn trust_list(&self, now: u64) -> Vec<u8> {
        let key = |purpose, k: &SigningKey, from| {
            TrustedKey::new(purpose, &k.verifying_key().to_bytes(), from, u64::MAX).unwrap()
        };
        TrustStore::new(
            1,
            [
                key(KeyPurpose::Token, &self.token, 0),
                key(KeyPurpose::Catalog, &self.catalog, 0),
                key(KeyPurpose::Token, &self.late, self.late_from),
            ],
        )
        .unwrap()
        .seal(&self.root, now - 60, 30 * 86_400)
        .unwrap()
    }

    /// What a token naming `kid` is refused with when its signature is wrong.
    fn code_for_kid(&self, kid: KeyId) -> &'static str {
        let of = |k: &SigningKey| KeyId::of(&k.verifying_key());
        if kid == of(&self.token) || kid == of(&self.late) {
            "bad_signature"
        } else if kid == of(&self.catalog) {
            "key_wrong_purpose"
        } else {
            "unknown_key"
        }
    }
}

/// A till of our own making (enrolment record, trust list, config with a serial scanner),
/// not talking to any central: nothing but the scans reaches it.
///
/// Not enrolled with a real central because central trusts a key only from its creation
/// on: a token "issued" days ago — the expired ones — could not be signed by a key made
/// when the test starts. Here the test holds the keys and their validity windows.
struct HostileTill {
    dir: tempfile::TempDir,
    config: PathBuf,
    link: PathBuf,
}

const HOSTILE_TOKEN: &str = "hostile-e2e-api-token-0123456789abcdef";

impl HostileTill {
    fn new(keys: &Keys, now: u64, max_uses: u32) -> HostileTill {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let record = EnrolmentRecord {
            central: "http://127.0.0.1:9".to_owned(),
            till_public_key: "00".repeat(32),
            response: EnrolResponse {
                v: tillpass_protocol::sync::VERSION,
                store: StoreId::new("S1").unwrap(),
                till: TillId::new("S1-T1").unwrap(),
                region: RegionId::new("north").unwrap(),
                root_public_key: keys.root.verifying_key().to_bytes(),
                trust_list: keys.trust_list(now),
                offline_policy: OfflinePolicy {
                    max_savings_spend_per_customer: Money::new(2000, Currency::EUR),
                    max_gift_card_spend_per_card: Money::new(5000, Currency::EUR),
                    max_catalog_age_secs: 7 * 86_400,
                    max_trust_list_age_secs: 30 * 86_400,
                    retention_days: 90,
                    replay: ReplayPolicy {
                        max_uses_per_pass: max_uses,
                    },
                },
            },
        };
        std::fs::write(
            data.join("enrolment.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let token_file = dir.path().join("api.token");
        std::fs::write(&token_file, HOSTILE_TOKEN).unwrap();
        let link = dir.path().join("usb-Honeywell_1900-if00");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nlisten = \"127.0.0.1:0\"\ntoken_file = {:?}\n\
                 [store]\ndata_dir = {:?}\n[log]\nlevel = \"info\"\n\
                 [[scanner]]\nname = \"front\"\n\
                 device = {{ kind = \"serial\", path = {:?}, baud = 115200 }}\n\
                 reconnect = {{ initial_ms = 20, max_ms = 200 }}\n",
                token_file.display().to_string(),
                data.display().to_string(),
                link.display().to_string(),
            ),
        )
        .unwrap();
        HostileTill { dir, config, link }
    }

    fn start(&self) -> Agent {
        Agent::start("agent", &self.config, &[], self.dir.path(), HOSTILE_TOKEN).unwrap()
    }

    fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("data/tillpass.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }
}

/// Makes one hostile scan.
type Generator = fn(&mut Mint, &Keys) -> Scan;

/// One generated scan and the refusal it must get.
#[derive(Debug, Clone)]
struct Scan {
    text: String,
    kind: &'static str,
    code: &'static str,
    /// The finer code, where the generator fixes it.
    detail: Option<&'static str>,
    /// Printable and short: can be typed into a serial scanner.
    typeable: bool,
}

/// Makes tokens: fresh ids, signed by whichever key.
struct Mint {
    rng: Rng,
    now: u64,
}

impl Mint {
    fn body(&mut self, kind: TokenKind, issued_at: u64, lifetime: u32) -> TokenBody {
        let len = 1 + self.rng.index(16);
        let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_.";
        let subject: Vec<u8> = (0..len).map(|_| *self.rng.pick(alphabet)).collect();
        TokenBody {
            kind,
            subject: Subject::new(&subject).unwrap(),
            issued_at: u32::try_from(issued_at).unwrap(),
            lifetime_secs: lifetime,
            token_id: TokenId(self.rng.bytes()),
            tier: None,
            balance: None,
        }
    }

    /// A pass valid now, signed by `key`: its bytes.
    fn pass(&mut self, key: &SigningKey) -> Vec<u8> {
        let issued = self.now - 60 - self.rng.below(600);
        let body = self.body(TokenKind::CustomerPass, issued, 3_600);
        token::issue(&body, key).as_bytes().to_vec()
    }

    fn any_kind(&mut self) -> TokenKind {
        *self.rng.pick(&[
            TokenKind::CustomerPass,
            TokenKind::GiftCard,
            TokenKind::Voucher,
        ])
    }
}

fn text_of(bytes: &[u8]) -> String {
    token::text::encode(bytes)
}

fn scan(
    text: String,
    kind: &'static str,
    code: &'static str,
    detail: Option<&'static str>,
) -> Scan {
    let typeable =
        !text.is_empty() && text.len() <= 1_000 && text.bytes().all(|b| b.is_ascii_graphic());
    Scan {
        text,
        kind,
        code,
        detail,
        typeable,
    }
}

fn digits(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + u8::try_from(rng.below(10)).unwrap()))
        .collect()
}

/// Text that is not a token at all, or a token's digits that cannot decode.
fn malformed(mint: &mut Mint, keys: &Keys) -> Scan {
    let rng = &mut mint.rng;
    match rng.below(9) {
        0 => {
            // Printable junk that does not start with the prefix.
            let first = *rng.pick(b"XYZabcQ0123456789!?#<{=+");
            let len = rng.index(200);
            let mut text = String::from(char::from(first));
            for _ in 0..len {
                text.push(char::from(0x21 + u8::try_from(rng.below(94)).unwrap()));
            }
            scan(text, "malformed", "malformed", Some("missing_prefix"))
        }
        1 => {
            // Anything: control characters, NUL, accents, CJK, emoji.
            let pool = [
                '\u{0}', '\u{1}', '\u{7}', '\u{1b}', '\u{7f}', 'é', 'ß', '漢', '字', '🙂',
                '\u{200b}', '\u{feff}', 'x', '9', 'P', '"', '\\', ' ',
            ];
            let mut text = String::from(*rng.pick(&['\u{0}', 'é', '漢', '🙂', 'Z', '\u{1b}']));
            // At most 4 bytes a character: under the 1,024 bytes past which a scan is
            // refused as too long before anything else.
            for _ in 0..rng.index(200) {
                text.push(*rng.pick(&pool));
            }
            scan(text, "malformed", "malformed", Some("missing_prefix"))
        }
        2 => {
            // The prefix, digits, then a character no keyboard layout makes a digit.
            let before = rng.index(150);
            let bad = char::from(*rng.pick(b"xyzQW#/+=*%$@!?;:,.<>|~`^"));
            let after = rng.index(50);
            let text = format!("TP{}{bad}{}", digits(rng, before), digits(rng, after));
            scan(text, "malformed", "malformed", Some("invalid_character"))
        }
        3 => {
            // A number of digits no byte length has.
            let n = loop {
                let q = rng.index(16);
                let r = *rng.pick(&[1usize, 2, 4, 6, 7, 9, 11, 12, 14, 16]);
                if q * 17 + r <= 270 {
                    break q * 17 + r;
                }
            };
            let text = format!("TP{}", digits(rng, n));
            scan(text, "malformed", "malformed", Some("digit_count"))
        }
        4 => {
            // Longer than any scan may be, up to past the agent's own limit.
            let n = 1_025 + rng.index(5_000);
            let text = format!("TP{}", digits(rng, n));
            scan(text, "malformed", "malformed", Some("too_long"))
        }
        5 => {
            // A group of 17 digits worth more than 7 bytes.
            let value = (1u64 << 56) + rng.below(99_999_999_999_999_999 - (1u64 << 56));
            let tail = 17 * rng.index(4);
            let text = format!("TP{value:017}{}", digits(rng, tail));
            scan(text, "malformed", "malformed", Some("group_out_of_range"))
        }
        6 => {
            // Nothing, or only blanks.
            let text = rng.pick(&["", " ", "\t", "\r\n", "   \n\t "]).to_string();
            scan(text, "malformed", "malformed", Some("missing_prefix"))
        }
        _ => {
            // A well-encoded token whose layout is wrong in one field.
            let valid = mint.pass(&keys.token);
            let mut bytes = valid.clone();
            let rng = &mut mint.rng;
            let flags_at = 23 + usize::from(valid[22]);
            let (bytes, detail) = match rng.below(5) {
                0 => {
                    bytes[0] = loop {
                        let v = rng.bytes::<1>()[0];
                        if v != 1 {
                            break v;
                        }
                    };
                    (bytes, "unknown_version")
                }
                1 => {
                    bytes[1] = loop {
                        let v = rng.bytes::<1>()[0];
                        if !(1..=3).contains(&v) {
                            break v;
                        }
                    };
                    (bytes, "unknown_type")
                }
                2 => {
                    bytes[22] = *rng.pick(&[0u8, 17, 18, 64, 200, 255]);
                    (bytes, "subject_length")
                }
                3 => {
                    bytes[flags_at] = 4 << rng.below(6);
                    (bytes, "unknown_claims")
                }
                _ => {
                    // Within the longest token, or the text is refused as too long first.
                    let room = token::body::MAX_TOKEN_LEN - bytes.len();
                    for _ in 0..=rng.index(room) {
                        bytes.push(rng.bytes::<1>()[0]);
                    }
                    (bytes, "trailing_bytes")
                }
            };
            scan(text_of(&bytes), "malformed", "malformed", Some(detail))
        }
    }
}

/// A valid token cut short: as bytes (re-encoded) or as text (digits cut).
fn truncated(mint: &mut Mint, keys: &Keys) -> Scan {
    let valid = mint.pass(&keys.token);
    if mint.rng.below(2) == 0 {
        let keep = mint.rng.index(valid.len());
        scan(
            text_of(&valid[..keep]),
            "truncated",
            "malformed",
            Some("truncated"),
        )
    } else {
        let text = text_of(&valid);
        let keep = 2 + mint.rng.index(text.len() - 2);
        scan(text[..keep].to_owned(), "truncated", "malformed", None)
    }
}

/// A valid token with one bit flipped; the code depends on where it landed.
fn bit_flipped(mint: &mut Mint, keys: &Keys) -> Scan {
    let valid = mint.pass(&keys.token);
    let mut bytes = valid.clone();
    let at = mint.rng.index(bytes.len());
    let bit = 1u8 << mint.rng.below(8);
    bytes[at] ^= bit;
    let subject_len = usize::from(valid[22]);
    let code = match at {
        // Version, subject length, claim flags: the layout no longer holds.
        0 | 22 => "malformed",
        a if a == 23 + subject_len => "malformed",
        // Type: another known type keeps the layout, and the signature fails.
        1 if bytes[1] == 3 => "bad_signature",
        1 => "malformed",
        2..=5 => keys.code_for_kid(KeyId([bytes[2], bytes[3], bytes[4], bytes[5]])),
        // Issued-at, lifetime, token id, subject, signature.
        _ => "bad_signature",
    };
    scan(text_of(&bytes), "bit_flipped", code, None)
}

/// Signed by the right key, but past its expiry (and the clock skew).
fn expired(mint: &mut Mint, keys: &Keys) -> Scan {
    let kind = mint.any_kind();
    let lifetime = 60 + u32::try_from(mint.rng.below(86_400)).unwrap();
    let ago = u64::from(lifetime) + 301 + mint.rng.below(30 * 86_400);
    let body = mint.body(kind, mint.now - ago, lifetime);
    let text = token::issue(&body, &keys.token).to_text();
    scan(text, "expired", "expired", None)
}

/// Signed by a key the till does not trust for tokens.
fn foreign(mint: &mut Mint, keys: &Keys) -> Scan {
    match mint.rng.below(20) {
        0..=11 => {
            let key = mint.rng.pick(&keys.foreign).clone();
            scan(
                text_of(&mint.pass(&key)),
                "foreign_key",
                "unknown_key",
                None,
            )
        }
        12..=16 => {
            // A foreign key that claims to be central's token key.
            let key = mint.rng.pick(&keys.foreign).clone();
            let mut bytes = mint.pass(&key);
            let kid = KeyId::of(&keys.token.verifying_key()).0;
            bytes[2..6].copy_from_slice(&kid);
            let body_len = bytes.len() - 64;
            let mut message = token::SIGNING_CONTEXT.to_vec();
            message.extend_from_slice(&bytes[..body_len]);
            let signature = key.sign(&message).to_bytes();
            bytes[body_len..].copy_from_slice(&signature);
            scan(text_of(&bytes), "foreign_key", "bad_signature", None)
        }
        17 | 18 => {
            // Central's catalog key: trusted, but not for tokens.
            let bytes = mint.pass(&keys.catalog);
            scan(text_of(&bytes), "foreign_key", "key_wrong_purpose", None)
        }
        _ => {
            // The root key signs trust lists only and is not in the list.
            let bytes = mint.pass(&keys.root);
            scan(text_of(&bytes), "foreign_key", "unknown_key", None)
        }
    }
}

/// Valid signatures with wrong times: not yet valid, too long a life, issued before the
/// key was.
fn bad_time(mint: &mut Mint, keys: &Keys) -> Scan {
    let now = mint.now;
    match mint.rng.below(3) {
        0 => {
            let kind = mint.any_kind();
            // Far enough ahead to stay in the future however long the test runs.
            let issued = now + 3_600 + mint.rng.below(86_400);
            let body = mint.body(kind, issued, 3_600);
            let text = token::issue(&body, &keys.token).to_text();
            scan(text, "bad_time", "not_yet_valid", None)
        }
        1 => {
            let lifetime = 7 * 86_400 + 1 + u32::try_from(mint.rng.below(86_400)).unwrap();
            let body = mint.body(TokenKind::CustomerPass, now - 10, lifetime);
            let text = token::issue(&body, &keys.token).to_text();
            scan(text, "bad_time", "lifetime_too_long", None)
        }
        _ => {
            let issued = keys.late_from - 1 - mint.rng.below(500);
            let body = mint.body(TokenKind::CustomerPass, issued, 3_600);
            let text = token::issue(&body, &keys.late).to_text();
            scan(text, "bad_time", "key_not_valid_at_issue", None)
        }
    }
}

/// What the agent answered for one scan that did not match what was expected.
fn check_answer(scan: &Scan, status: u16, body: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = answer["code"].as_str().unwrap_or("");
    let detail = answer["detail"].as_str();
    let detail_ok = scan.detail.is_none_or(|d| detail == Some(d));
    let messages = answer["message_es"].as_str().is_some_and(|m| !m.is_empty())
        && answer["message_en"].as_str().is_some_and(|m| !m.is_empty());
    if status == 422 && code == scan.code && detail_ok && messages {
        None
    } else {
        Some(format!(
            "{} scan {:?}: expected 422 {} {:?}, got {status} {body}",
            scan.kind,
            truncate(&scan.text, 120),
            scan.code,
            scan.detail
        ))
    }
}

fn truncate(text: &str, max: usize) -> String {
    let cut = (0..=max.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    if cut < text.len() {
        format!("{}…", &text[..cut])
    } else {
        text.to_owned()
    }
}

fn identify(agent: &Agent, text: &str) -> (u16, String) {
    let body = json!({ "scan": text }).to_string();
    let answer = agent
        .send(Request::new("POST", "/v1/identify").json(&body))
        .unwrap();
    (answer.status, answer.body)
}

fn assert_alive(agent: &Agent, context: &str) {
    let live = agent.get("/livez").unwrap();
    assert_eq!(live.status, 200, "{context}: /livez {live:?}");
    let log = agent.output();
    assert!(
        !log.contains("panicked") && !log.contains("identification task failed"),
        "{context}: the agent panicked:\n{log}"
    );
}

#[test]
fn ten_thousand_hostile_scans_are_refused_with_the_right_code_and_counted() {
    const SCANS: usize = 10_000;
    let started = Instant::now();
    let seed = now() ^ 0x9E37_79B9_7F4A_7C15;
    let t = now();
    let keys = Keys::new(t);
    let till = HostileTill::new(&keys, t, 3);
    let agent = till.start();
    let mut pty = Pty::plug(&till.link).unwrap();
    agent
        .wait_for(
            "the serial scanner to connect",
            "/v1/status",
            Duration::from_secs(20),
            |s| parse(s)["scanners"]["front"]["connected"] == true,
        )
        .unwrap();

    let mut mint = Mint {
        rng: Rng(seed | 1),
        now: t,
    };

    // Passes used up on earlier visits, so that scanning them again is a replay: each
    // identified once through the API, then the store made what a till holds after three
    // visits of it, the last an hour ago (a visit is one use; reads within one are not).
    // A gift card's QR is never a replay (its balance decides) and a voucher's scan does
    // not use it (the sale that closes with it does), so neither is primed here.
    let mut used: Vec<String> = Vec::new();
    let mut accepted = 0usize;
    let passes: Vec<String> = (0..40).map(|_| text_of(&mint.pass(&keys.token))).collect();
    for pass in &passes {
        let (status, answer) = identify(&agent, pass);
        assert_eq!(status, 200, "priming pass: {answer}");
        assert_eq!(serde_json::from_str::<Value>(&answer).unwrap()["uses"], 1);
        accepted += 1;
    }
    {
        let db = rusqlite::Connection::open(till.dir.path().join("data/tillpass.db")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute(
            "UPDATE token_uses SET uses = 3, last_used_at = last_used_at - 3600",
            [],
        )
        .unwrap();
    }
    used.extend(passes);

    // The hostile scans, in a shuffled order.
    let mut scans: Vec<Scan> = Vec::with_capacity(SCANS);
    let plan: [(usize, Generator); 6] = [
        (2_500, malformed),
        (2_000, truncated),
        (1_800, bit_flipped),
        (1_000, expired),
        (1_200, foreign),
        (400, bad_time),
    ];
    for (n, make) in plan {
        for _ in 0..n {
            scans.push(make(&mut mint, &keys));
        }
    }
    while scans.len() < SCANS {
        let text = mint.rng.pick(&used).clone();
        scans.push(scan(text, "replayed", "replayed", None));
    }
    mint.rng.shuffle(&mut scans);
    let generated = started.elapsed();

    // About a tenth of the scans, among those a scanner can send, go through the serial
    // scanner; the rest through the POS API.
    let mut typed: Vec<Scan> = Vec::new();
    let mut posted: Vec<Scan> = Vec::new();
    for (i, s) in scans.into_iter().enumerate() {
        if s.typeable && i % 9 == 0 {
            typed.push(s);
        } else {
            posted.push(s);
        }
    }
    assert!(typed.len() > 500, "only {} typed scans", typed.len());

    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in &typed {
        *expected
            .entry(("front".to_owned(), s.code.to_owned()))
            .or_default() += 1;
    }
    for s in &posted {
        *expected
            .entry(("api".to_owned(), s.code.to_owned()))
            .or_default() += 1;
    }

    let typer = {
        let texts: Vec<String> = typed.iter().map(|s| s.text.clone()).collect();
        std::thread::spawn(move || {
            for text in &texts {
                pty.type_scan(text).unwrap();
            }
            pty
        })
    };

    // Two POS clients at once.
    let (tx, rx) = mpsc::channel::<String>();
    let chunks: Vec<Vec<Scan>> = {
        let half = posted.len() / 2;
        let mut posted = posted;
        let second = posted.split_off(half);
        vec![posted, second]
    };
    std::thread::scope(|s| {
        for chunk in chunks {
            let tx = tx.clone();
            let agent = &agent;
            s.spawn(move || {
                for (i, scan) in chunk.iter().enumerate() {
                    let (status, body) = identify(agent, &scan.text);
                    if let Some(problem) = check_answer(scan, status, &body) {
                        tx.send(problem).unwrap();
                    }
                    if i % 1_000 == 999 {
                        assert_alive(agent, &format!("after {} scans", i + 1));
                    }
                }
            });
        }
    });
    drop(tx);
    let problems: Vec<String> = rx.iter().collect();
    assert!(
        problems.is_empty(),
        "seed {seed}: {} of {} scans through the API got the wrong answer; the first ones:\n{}",
        problems.len(),
        SCANS - typed.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let posted_in = started.elapsed();
    let _pty = typer.join().unwrap();

    // The scan log holds every refusal, by source and code, once the serial ones are
    // through the pipeline too.
    let db = till.db();
    let refused = |db: &rusqlite::Connection| -> BTreeMap<(String, String), i64> {
        let mut stmt = db
            .prepare(
                "SELECT source, code, count(*) FROM scan_log WHERE result = 'refused' \
                 GROUP BY source, code",
            )
            .unwrap();
        stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let typed_total = i64::try_from(typed.len()).unwrap();
    let logged = wait::until(
        "the typed scans to reach the scan log",
        Duration::from_secs(60),
        || {
            let now = refused(&db);
            let front: i64 = now
                .iter()
                .filter(|((source, _), _)| source == "front")
                .map(|(_, n)| n)
                .sum();
            (front >= typed_total).then_some(now)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "seed {seed}: {e}\nlogged {:?}\nexpected {expected:?}\nstatus {}",
            refused(&db),
            agent.get("/v1/status").unwrap().body
        )
    });
    assert_eq!(
        logged, expected,
        "seed {seed}: the scan log's refusals by source and code"
    );
    let accepted_logged: i64 = db
        .query_row(
            "SELECT count(*) FROM scan_log WHERE result = 'accepted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(accepted_logged, i64::try_from(accepted).unwrap());

    // The metrics count them too.
    let metrics = agent.get("/metrics").unwrap().body;
    let mut by_code: BTreeMap<String, i64> = BTreeMap::new();
    for ((_, code), n) in &expected {
        *by_code.entry(code.clone()).or_default() += n;
    }
    for (code, n) in &by_code {
        let line = format!("tillpass_scans_total{{result=\"refused\",code=\"{code}\"}} {n}");
        assert!(
            metrics.contains(&line),
            "seed {seed}: no {line:?} in\n{metrics}"
        );
    }

    // Still serving, and still identifying: a good pass goes through.
    assert_alive(&agent, "after every hostile scan");
    let good = text_of(&mint.pass(&keys.token));
    let (status, answer) = identify(&agent, &good);
    assert_eq!(status, 200, "a valid pass after the storm: {answer}");
    let status = agent.get("/v1/status").unwrap();
    assert_eq!(status.status, 200);
    eprintln!(
        "hostile scans: {SCANS} ({} typed) in {:?} (generated in {generated:?}, answered by \
         {posted_in:?})",
        typed.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Sales against a real central

/// The catalog central publishes: bread 10 % off, 5 % savings, central's offline caps
/// above the catalog's so that the enrolment's offline policy is the one that binds.
const CATALOG: &str = r#"
format = 1
currency = "EUR"
tiers = ["gold"]

[savings]
earn_rate = 500
return_window_days = 30
offline_redeem_cap = 100000

[gift_cards]
hold_ttl_seconds = 900
offline_cap_per_card = 100000

[[promotions]]
id = "BREAD-10"
label = { es = "Pan -10 %", en = "Bread 10 % off" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "percent_off", percent = 1000, items = { categories = ["bakery"] } }]
"#;

fn eur(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

/// A cart of `loaves` loaves of bread and a bottle of milk.
fn cart(loaves: u32) -> Value {
    json!({
        "currency": "EUR",
        "lines": [
            { "line_id": "1", "sku": "BREAD", "category": "bakery",
              "quantity": { "units": loaves }, "unit_price": eur(250) },
            { "line_id": "2", "sku": "MILK", "category": "dairy",
              "quantity": { "units": 1 }, "unit_price": eur(120) }
        ]
    })
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()))
}

/// A change answered as JSON: (status, body).
fn change(agent: &Agent, method: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let answer = agent.change(method, path, key, &body.to_string()).unwrap();
    (answer.status, parse(&answer.body))
}

fn get_json(agent: &Agent, path: &str) -> Value {
    let answer = agent.get(path).unwrap();
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    parse(&answer.body)
}

/// Central with the catalog published, and a till of `store` installed and enrolled.
/// Fields drop in order: central stops before its folder goes.
struct Shop {
    central: tillpass_tests::central::Central,
    till: tillpass_tests::till::Till,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Shop {
    fn open(store: &str) -> Shop {
        let central_dir = tempfile::tempdir().unwrap();
        let central = tillpass_tests::central::Central::start(central_dir.path()).unwrap();
        let catalog = central_dir.path().join("catalog.toml");
        std::fs::write(&catalog, CATALOG).unwrap();
        central
            .cli(&["catalog", "publish", catalog.to_str().unwrap()])
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let till = tillpass_tests::till::Till::install(&central, store, root.path()).unwrap();
        Shop {
            central,
            till,
            _dirs: (central_dir, root),
        }
    }

    /// Waits until the agent pulled the catalog (and so can sell).
    fn wait_for_catalog(agent: &Agent) {
        agent
            .wait_for(
                "the catalog from central",
                "/v1/sync",
                Duration::from_secs(30),
                |s| parse(s)["catalog_sequence"].as_u64().is_some(),
            )
            .unwrap();
    }

    fn central_db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.central.db_path()).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }
}

fn open_db(path: &Path, flags: rusqlite::OpenFlags) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open_with_flags(path, flags).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Waits until the agent's outbox is empty (central acknowledged everything).
fn wait_drained(agent: &Agent, timeout: Duration) -> Value {
    let body = agent
        .wait_for("the outbox to drain", "/v1/status", timeout, |s| {
            parse(s)["outbox_depth"] == 0
        })
        .unwrap();
    parse(&body)
}

// ---------------------------------------------------------------------------------------
// Disk full

#[test]
fn a_full_disk_refuses_the_sale_with_507_corrupts_nothing_and_recovers() {
    let started = Instant::now();
    let shop = Shop::open("S7");
    let mount = tempfile::tempdir().unwrap();
    // 8 MiB: the database, its shared memory and a write-ahead log that may grow to its
    // 4 MiB checkpoint size.
    let disk = tillpass_tests::tmpfs::Tmpfs::mount(mount.path(), 8 * 1024).unwrap();
    let agent = shop.till.start_agent("agent", Some(disk.path())).unwrap();
    Shop::wait_for_catalog(&agent);
    let db_path = disk.path().join("tillpass.db");

    // A few sales with room to spare, and twenty carts waiting for their close.
    let sell = |id: &str| -> Value {
        let (status, s) = change(
            &agent,
            "PUT",
            &format!("/v1/sessions/{id}"),
            &format!("put-{id}"),
            &json!({ "cart": cart(2), "use_current_customer": false }),
        );
        assert_eq!(status, 200, "PUT {id}: {s:#}");
        s
    };
    let close_body = |s: &Value| -> Value {
        json!({ "version": s["version"], "payments": [
            { "method": "cash", "amount": s["amount_due"] }] })
    };
    for i in 0..3 {
        let id = format!("OK-{i}");
        let s = sell(&id);
        let (status, closed) = change(
            &agent,
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &format!("close-{id}"),
            &close_body(&s),
        );
        assert_eq!(status, 200, "{closed:#}");
    }
    let waiting: Vec<(String, Value)> = (0..20)
        .map(|i| {
            let id = format!("D-{i}");
            let s = sell(&id);
            (id, s)
        })
        .collect();

    // Fill the disk: the log is checkpointed and cut to nothing first, so that the next
    // write must grow a file.
    {
        let conn = open_db(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE);
        wait::until("a full checkpoint", Duration::from_secs(10), || {
            let busy: i64 = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .unwrap();
            (busy == 0).then_some(())
        })
        .unwrap();
    }
    let ballast = disk.fill("ballast", 1 << 20).unwrap();
    assert!(ballast > 0);

    // Closes until one needs space that is not there.
    let mut closed_before_full = 0;
    let mut refused = None;
    for (id, s) in &waiting {
        let path = format!("/v1/sessions/{id}/close");
        let key = format!("close-{id}");
        let body = close_body(s);
        let (status, answer) = change(&agent, "POST", &path, &key, &body);
        match status {
            200 => closed_before_full += 1,
            507 => {
                refused = Some((id.clone(), path, key, body, answer));
                break;
            }
            other => panic!(
                "close {id} on a full disk: {other} {answer:#}\n{}",
                agent.output()
            ),
        }
    }
    let (id, path, key, body, answer) = refused.unwrap_or_else(|| {
        panic!(
            "no close was refused on a full disk ({closed_before_full} went through)\n{}",
            agent.output()
        )
    });
    assert_eq!(answer["code"], "disk_full", "{answer:#}");
    assert_eq!(answer["status"], 507, "{answer:#}");
    assert!(
        answer["message_es"]
            .as_str()
            .is_some_and(|m| m.contains("disco")),
        "{answer:#}"
    );
    assert!(
        answer["message_en"]
            .as_str()
            .is_some_and(|m| m.contains("disk")),
        "{answer:#}"
    );

    // Still serving; the refused sale is still open, unchanged; a retry while the disk is
    // still full is refused again (the refusal was not stored as the key's answer).
    assert_eq!(agent.get("/livez").unwrap().status, 200);
    let session = get_json(&agent, &format!("/v1/sessions/{id}"));
    assert_eq!(session["state"], "open", "{session:#}");
    assert_eq!(session["version"], body["version"], "{session:#}");
    let (status, again) = change(&agent, "POST", &path, &key, &body);
    assert_eq!(status, 507, "{again:#}");

    // Space returns: the same close, with the same key, goes through.
    std::fs::remove_file(disk.path().join("ballast")).unwrap();
    let (status, closed) = change(&agent, "POST", &path, &key, &body);
    assert_eq!(status, 200, "{closed:#}\n{}", agent.output());
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["receipt"]["sale_id"], id.as_str());
    let (status, replayed) = change(&agent, "POST", &path, &key, &body);
    assert_eq!(status, 200);
    assert_eq!(replayed, closed, "a retry gets the original answer");
    // And new sales work again.
    let s = sell("AFTER-1");
    let (status, after) = change(
        &agent,
        "POST",
        "/v1/sessions/AFTER-1/close",
        "close-AFTER-1",
        &close_body(&s),
    );
    assert_eq!(status, 200, "{after:#}");

    // Nothing corrupted, every acknowledged sale there once.
    let sales = 3 + closed_before_full + 2;
    {
        let conn = open_db(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let fk: i64 = count(&conn, "SELECT count(*) FROM pragma_foreign_key_check");
        assert_eq!(fk, 0, "foreign keys");
        assert_eq!(count(&conn, "SELECT count(*) FROM sales"), sales);
        assert_eq!(
            count(&conn, "SELECT count(DISTINCT sale_id) FROM sales"),
            sales
        );
    }

    // The journal reaches central exactly once, in spite of the writes that failed.
    wait_drained(&agent, Duration::from_secs(90));
    let central = shop.central_db();
    assert_eq!(
        count(
            &central,
            "SELECT count(*) FROM events WHERE kind = 'sale_closed'"
        ),
        sales
    );
    assert_eq!(
        count(
            &central,
            "SELECT count(DISTINCT json_extract(payload, '$.payload.sale_id')) FROM events \
             WHERE kind = 'sale_closed'"
        ),
        sales
    );
    eprintln!(
        "disk full: {closed_before_full} closes fitted before the refusal; {:?}",
        started.elapsed()
    );
    drop(agent);
    drop(disk);
}

// ---------------------------------------------------------------------------------------
// Offline day

/// What one POS client sold while central was down.
#[derive(Debug, Default)]
struct Day {
    sales: Vec<String>,
    /// Per customer: savings earned and redeemed, as the receipts say.
    earned: BTreeMap<String, i64>,
    redeemed: BTreeMap<String, i64>,
    /// Per gift card: what the receipts charged.
    charged: BTreeMap<String, i64>,
    redemptions: i64,
    savings_cap_refusals: i64,
    card_cap_refusals: i64,
}

/// Sells `sales` sales (ids `{prefix}-{n}`): every fifth for a customer of `customers`
/// (scanning a pass issued for them, at most four sales per pass) with a savings tender of
/// €3.00, or what the offline cap still allows; every seventh partly on `card`.
fn sell_offline(
    agent: &Agent,
    prefix: &str,
    sales: usize,
    passes: &BTreeMap<String, Vec<String>>,
    card: &str,
    cap: i64,
) -> Day {
    let mut day = Day::default();
    let customers: Vec<&String> = passes.keys().collect();
    let mut visits: BTreeMap<String, usize> = BTreeMap::new();
    let mut n = 0u32;
    let mut key = || {
        n += 1;
        format!("{prefix}-k{n}")
    };
    for i in 0..sales {
        let id = format!("{prefix}-{i}");
        let customer = (i % 5 == 0).then(|| customers[(i / 5) % customers.len()].clone());
        let mut put = json!({ "cart": cart(2), "use_current_customer": false });
        if let Some(c) = &customer {
            let visit = visits.entry(c.clone()).or_default();
            put["customer_scan"] = json!(passes[c][*visit / 4]);
            *visit += 1;
        }
        let (status, mut s) = change(agent, "PUT", &format!("/v1/sessions/{id}"), &key(), &put);
        assert_eq!(status, 200, "PUT {id}: {s:#}");
        let tenders = format!("/v1/sessions/{id}/tenders");
        if let Some(c) = &customer {
            assert_eq!(s["customer"]["customer_ref"], c.as_str(), "{s:#}");
            let already: i64 = day.redeemed.get(c).copied().unwrap_or(0);
            let mut ask = 300;
            loop {
                let (status, answer) = change(
                    agent,
                    "POST",
                    &tenders,
                    &key(),
                    &json!({ "version": s["version"], "tender": { "type": "savings", "amount": eur(ask) } }),
                );
                if status == 200 {
                    assert!(
                        already + ask <= cap,
                        "{c} redeemed {already} + {ask} offline, past the cap of {cap}"
                    );
                    day.redemptions += 1;
                    s = answer;
                    break;
                }
                assert_eq!(status, 422, "{answer:#}");
                assert_eq!(answer["code"], "offline_cap_reached", "{answer:#}");
                let remaining = answer["refusal"]["remaining"]["amount"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("no remaining in {answer:#}"));
                assert_eq!(remaining, cap - already, "{c}: {answer:#}");
                assert!(answer["message_es"].as_str().is_some_and(|m| !m.is_empty()));
                day.savings_cap_refusals += 1;
                if remaining == 0 {
                    break;
                }
                ask = remaining;
            }
        }
        if i % 7 == 0 {
            let (status, answer) = change(
                agent,
                "POST",
                &tenders,
                &key(),
                &json!({ "version": s["version"], "tender": {
                    "type": "gift_card", "card_id": card, "amount": eur(250) } }),
            );
            match status {
                200 => s = answer,
                422 => {
                    assert_eq!(answer["code"], "offline_cap_reached", "{answer:#}");
                    day.card_cap_refusals += 1;
                }
                other => panic!("gift card on {id}: {other} {answer:#}"),
            }
        }
        let (status, closed) = change(
            agent,
            "POST",
            &format!("/v1/sessions/{id}/close"),
            &key(),
            &json!({ "version": s["version"], "payments": [
                { "method": "cash", "amount": s["amount_due"] }] }),
        );
        assert_eq!(status, 200, "close {id}: {closed:#}");
        let receipt = &closed["receipt"];
        if let Some(c) = &customer {
            *day.earned.entry(c.clone()).or_default() +=
                receipt["savings_earned"]["amount"].as_i64().unwrap();
            *day.redeemed.entry(c.clone()).or_default() +=
                receipt["savings_redeemed"]["amount"].as_i64().unwrap();
        }
        for g in receipt["gift_cards"].as_array().unwrap() {
            *day.charged
                .entry(g["card_id"].as_str().unwrap().to_owned())
                .or_default() += g["charged"]["amount"].as_i64().unwrap();
        }
        day.sales.push(id);
    }
    day
}

#[test]
fn an_offline_day_of_1000_sales_reaches_central_exactly_once_with_caps_kept() {
    const SALES_PER_CLIENT: usize = 500;
    const OPENING: i64 = 5_000;
    const CARD: i64 = 20_000;
    let started = Instant::now();
    let mut shop = Shop::open("S8");
    let central = &shop.central;
    // Two POS clients, each with customers and a gift card of its own: a customer is at
    // one till at a time.
    let customers = ["C-1", "C-2", "C-3", "C-4", "C-5", "C-6"];
    for c in customers {
        central
            .cli(&[
                "customer",
                "create",
                c,
                "--first-name",
                "Ana",
                "--savings",
                &OPENING.to_string(),
            ])
            .unwrap();
    }
    for g in ["G-1", "G-2"] {
        central
            .cli(&["gift-card", "create", g, "--balance", &CARD.to_string()])
            .unwrap();
    }
    let policy: Value = serde_json::from_str(&central.cli(&["policy", "show"]).unwrap()).unwrap();
    let cap = policy["max_savings_spend_per_customer"]["amount"]
        .as_i64()
        .unwrap();
    let card_cap = policy["max_gift_card_spend_per_card"]["amount"]
        .as_i64()
        .unwrap();
    // Passes issued by central ahead of the day, as the customers' phones hold them.
    let mut passes: [BTreeMap<String, Vec<String>>; 2] = Default::default();
    for (i, c) in customers.iter().enumerate() {
        let texts = (0..((SALES_PER_CLIENT / 5) / 3 / 4 + 1))
            .map(|_| {
                central
                    .cli(&["customer", "pass", c])
                    .unwrap()
                    .lines()
                    .find(|l| l.starts_with("TP"))
                    .unwrap()
                    .to_owned()
            })
            .collect();
        passes[i / 3].insert((*c).to_owned(), texts);
    }

    let agent = shop.till.start_agent("agent", None).unwrap();
    Shop::wait_for_catalog(&agent);
    let db_path = shop.till.state_dir().join("tillpass.db");
    wait::until(
        "customers and gift cards at the till",
        Duration::from_secs(30),
        || {
            let db = open_db(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
            let savings = count(
                &db,
                "SELECT count(*) FROM savings_accounts WHERE synced_balance = 5000",
            );
            let cards = count(
                &db,
                "SELECT count(*) FROM gift_cards WHERE synced_balance = 20000",
            );
            (savings == 6 && cards == 2).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));

    // Central goes down; the till notices at its next round.
    shop.central.stop();
    agent
        .wait_for(
            "the till to see central gone",
            "/v1/sync",
            Duration::from_secs(30),
            |s| parse(s)["online"] == false,
        )
        .unwrap();
    let offline_at = Instant::now();

    // While central is down the till must never believe it is online: that would lift
    // the offline caps.
    let selling_done = std::sync::atomic::AtomicBool::new(false);
    let days: Vec<Day> = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen_online = Vec::new();
            while !selling_done.load(std::sync::atomic::Ordering::SeqCst) {
                let sync = get_json(&agent, "/v1/sync");
                if sync["online"] != false {
                    seen_online.push(sync);
                }
                std::thread::park_timeout(Duration::from_millis(20));
            }
            seen_online
        });
        let handles: Vec<_> = passes
            .iter()
            .zip(["A", "B"])
            .zip(["G-1", "G-2"])
            .map(|((passes, prefix), card)| {
                let agent = &agent;
                s.spawn(move || sell_offline(agent, prefix, SALES_PER_CLIENT, passes, card, cap))
            })
            .collect();
        let days: Vec<std::thread::Result<Day>> = handles.into_iter().map(|h| h.join()).collect();
        selling_done.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen_online = watcher.join().unwrap();
        assert!(
            seen_online.is_empty(),
            "with central down the till said it was online {} times, e.g. {:#}\nagent log:\n{}",
            seen_online.len(),
            seen_online[0],
            agent
                .output()
                .lines()
                .filter(|l| l.contains("sync") || l.contains("upload") || l.contains("WARN"))
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        days.into_iter().map(|d| d.unwrap()).collect()
    });
    let selling = offline_at.elapsed();
    let status = get_json(&agent, "/v1/status");
    assert!(
        status["outbox_depth"].as_i64().unwrap() > 2 * i64::try_from(SALES_PER_CLIENT).unwrap(),
        "{status:#}"
    );
    let all_sales: Vec<&String> = days.iter().flat_map(|d| &d.sales).collect();
    assert_eq!(all_sales.len(), 2 * SALES_PER_CLIENT);
    let savings_refusals: i64 = days.iter().map(|d| d.savings_cap_refusals).sum();
    let card_refusals: i64 = days.iter().map(|d| d.card_cap_refusals).sum();
    assert!(savings_refusals > 0, "no savings tender reached the cap");
    assert!(card_refusals > 0, "no gift-card tender reached the cap");
    let mut earned: BTreeMap<String, i64> = BTreeMap::new();
    let mut redeemed: BTreeMap<String, i64> = BTreeMap::new();
    let mut charged: BTreeMap<String, i64> = BTreeMap::new();
    for d in &days {
        for (k, v) in &d.earned {
            *earned.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &d.redeemed {
            *redeemed.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &d.charged {
            *charged.entry(k.clone()).or_default() += v;
        }
    }
    for c in customers {
        assert_eq!(
            redeemed[c], cap,
            "{c} redeemed exactly up to the offline cap"
        );
    }
    for g in ["G-1", "G-2"] {
        assert_eq!(
            charged[g], card_cap,
            "{g} charged exactly up to the offline cap"
        );
    }

    // Central comes back on the same port; the relay drains the day.
    shop.central.restart().unwrap();
    let back_at = Instant::now();
    wait_drained(&agent, Duration::from_secs(150));
    let draining = back_at.elapsed();
    let central = &shop.central;

    // Every event exactly once: central's journal for this till is the till's sequence
    // 1..n without a gap or a double.
    let agent_db = open_db(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY);
    let last_seq = count(
        &agent_db,
        "SELECT value FROM till_state WHERE key = 'journal_seq'",
    );
    let cdb = shop.central_db();
    let till_events = |what: &str| -> i64 {
        count(
            &cdb,
            &format!("SELECT {what} FROM events WHERE till = 'S8-T1'"),
        )
    };
    assert_eq!(till_events("count(*)"), last_seq, "events at central");
    assert_eq!(till_events("count(DISTINCT seq)"), last_seq);
    assert_eq!(till_events("count(DISTINCT id)"), last_seq);
    assert_eq!(till_events("max(seq)"), last_seq);
    let mut stmt = cdb
        .prepare(
            "SELECT json_extract(payload, '$.payload.sale_id') FROM events \
             WHERE till = 'S8-T1' AND kind = 'sale_closed'",
        )
        .unwrap();
    let mut at_central: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    at_central.sort();
    let mut sold: Vec<String> = all_sales.iter().map(|s| (*s).clone()).collect();
    sold.sort();
    assert_eq!(at_central, sold, "each sale closed once at central");
    let redemptions: i64 = days.iter().map(|d| d.redemptions).sum();
    assert_eq!(
        count(
            &cdb,
            "SELECT count(*) FROM events WHERE till = 'S8-T1' AND kind = 'savings_redeemed'"
        ),
        redemptions
    );
    assert_eq!(count(&cdb, "SELECT count(*) FROM debts"), 0, "no overspend");

    // Balances: central's are the opening ones less the redemptions, with the day's earns
    // pending (inside the return window); the till's agree once it pulled them back.
    for c in customers {
        let answer = central
            .admin("GET", &format!("/admin/v1/customers/{c}"), None)
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let view = parse(&answer.body);
        let at_central = (
            view["savings"]["amount"].as_i64().unwrap(),
            view["pending"]["amount"].as_i64().unwrap(),
        );
        assert_eq!(
            at_central,
            (OPENING - redeemed[c], earned[c]),
            "{c} at central"
        );
    }
    for g in ["G-1", "G-2"] {
        let answer = central
            .admin("GET", &format!("/admin/v1/gift-cards/{g}"), None)
            .unwrap();
        let at_central = parse(&answer.body)["balance"]["amount"].as_i64().unwrap();
        assert_eq!(at_central, CARD - charged[g], "{g} at central");
    }
    wait::until(
        "the till to pull central's balances",
        Duration::from_secs(30),
        || {
            customers
                .iter()
                .all(|c| {
                    let v = get_json(&agent, &format!("/v1/customers/{c}"));
                    let synced = v["savings"]["synced"].as_i64();
                    synced == Some(OPENING - redeemed[*c])
                        && v["savings"]["pending"].as_i64() == Some(earned[*c])
                        && v["savings"]["unsynced_spent"] == 0
                })
                .then_some(())
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            get_json(&agent, &format!("/v1/customers/{}", customers[0]))
        )
    });
    eprintln!(
        "offline day: {} sales in {selling:?}, {savings_refusals} savings and {card_refusals} \
         gift-card cap refusals; drained {draining:?} after central came back; {:?} in all",
        sold.len(),
        started.elapsed()
    );
}
