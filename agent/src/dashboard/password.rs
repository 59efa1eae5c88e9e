//! Manager passwords: Argon2id (RFC 9106), stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$…`), and the verifier that checks them.
//!
//! ## Parameters
//! [`PARAMS`]: 19 MiB of memory, two passes, one lane — OWASP's first recommended set for
//! Argon2id — with a random 16-byte salt and a 32-byte output. One check takes tens of
//! milliseconds on a till, slow enough that five guesses per quarter of an hour (the
//! lockout) cannot search a password of [`MIN_LEN`] characters, and small enough for two
//! checks at once on a till with little memory. The cost travels in the string, so a later
//! change still verifies old hashes; a stored hash asking for more than [`MAX_M_COST`] KiB,
//! [`MAX_T_COST`] passes or [`MAX_P_COST`] lanes is refused rather than run.
//!
//! ## Bounded memory
//! Checks run on a [`Verifier`]: [`WORKERS`] dedicated threads fed by a queue of at most
//! [`QUEUE`] checks; a check beyond that is refused at once ([`VerifyError::Busy`]), so the
//! memory the checks take is at most `WORKERS × 19 MiB` whatever the number of sign-ins sent.
//!
//! A worker's working memory is one allocation reserved above glibc's largest dynamic mmap
//! threshold (32 MiB on 64-bit) and filled only as far as the hash needs: the allocator maps
//! it fresh and unmaps it when it is freed, and the pages reserved but never written cost
//! nothing. The worker keeps it from one check to the next while checks are waiting, and
//! frees it as soon as the queue is empty. A 19 MiB allocation per check, as the `argon2`
//! crate makes by itself, would instead raise glibc's threshold after the first free, and
//! the following ones would come from arenas that keep the freed pages: the agent's memory
//! would grow with every burst of failed sign-ins and never come back (figures in
//! `BENCHMARKS.md`).

use std::sync::mpsc::{SyncSender, TrySendError};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;
/// The longest password accepted, in bytes.
pub const MAX_LEN: usize = 1024;

/// The cost of new hashes: 19 MiB (in KiB), two passes, one lane, 32-byte output.
pub const PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);
/// The most memory a stored hash may ask of a check, KiB.
pub const MAX_M_COST: u32 = 64 * 1024;
/// The most passes a stored hash may ask for.
pub const MAX_T_COST: u32 = 8;
/// The most lanes a stored hash may ask for.
pub const MAX_P_COST: u32 = 4;
/// Threads that check passwords.
pub const WORKERS: usize = 2;
/// Checks waiting for a thread at most; more are refused.
pub const QUEUE: usize = 8;

/// An allocation at least this large (in 1 KiB blocks) is always a fresh mapping for glibc
/// (its dynamic mmap threshold stops at 32 MiB), returned to the system when freed.
const MAPPED_BLOCKS: usize = 32 * 1024 + 64;

/// Why a password cannot be used or hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordError {
    /// Too short.
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    /// Too long.
    #[error("the password must have at most {MAX_LEN} bytes")]
    TooLong,
    /// No randomness for the salt, or the hash could not be made.
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// Why a check was not made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Every worker is busy and the queue is full.
    #[error("too many password checks at once")]
    Busy,
    /// The workers are gone.
    #[error("the password checker stopped")]
    Stopped,
}

fn params(m: u32, t: u32, p: u32) -> Result<Params, PasswordError> {
    Params::new(m, t, p, Some(Params::DEFAULT_OUTPUT_LEN))
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Fills `out` with Argon2id of `password` and `salt` in `memory`, which is made (or
/// grown) as one allocation of at least [`MAPPED_BLOCKS`] — see the module's
/// documentation. Argon2 writes every block before reading it, so what `memory` held
/// before does not matter.
fn argon2id_into(
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        *memory = Vec::with_capacity(blocks.max(MAPPED_BLOCKS));
        memory.resize(blocks, Block::default());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into_with_memory(
        password,
        salt,
        out,
        &mut memory[..blocks],
    )
}

/// Checks a new password's length.
pub fn check(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Hashes a new password (after [`check`]) as an Argon2id PHC string.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check(password)?;
    hash_unchecked(password, PARAMS)
}

fn hash_unchecked(password: &str, (m, t, p): (u32, u32, u32)) -> Result<String, PasswordError> {
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let params = params(m, t, p)?;
    let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id_into(
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
        &mut Vec::new(),
    )
    .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let err = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let phc = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(0x13),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| err(&e))?),
        hash: Some(Output::new(&out).map_err(|e| err(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC string, computed on the calling thread in
/// working memory of its own. Only Argon2id hashes within the cost limits are accepted;
/// anything else is a mismatch.
pub fn verify(password: &str, stored: &str) -> bool {
    verify_in(password, stored, &mut Vec::new())
}

/// [`verify`] in `memory`, kept by the caller between checks.
fn verify_in(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    if password.len() > MAX_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    if parsed.algorithm != ARGON2ID_IDENT || parsed.version.is_some_and(|v| v != 0x13) {
        return false;
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        tracing::warn!("a stored password hash asks for more than the verifier allows");
        return false;
    }
    let mut out = vec![0_u8; expected.len()];
    if argon2id_into(params, password.as_bytes(), salt.as_ref(), &mut out, memory).is_err() {
        return false;
    }
    let presented = Output::new(&out);
    presented.is_ok_and(|p| &p == expected)
}

/// A hash no password matches in practice, checked for a name that has no account so the
/// answer's timing does not tell which names exist.
fn decoy() -> Option<&'static str> {
    static DECOY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| hash_unchecked("decoy password, never matches", PARAMS).ok())
        .as_deref()
}

/// One check for a worker.
#[derive(Debug)]
struct Job {
    password: String,
    /// `None`: a name without an account; the decoy is checked instead.
    stored: Option<String>,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// The password checker: [`WORKERS`] threads of its own, started at the first check, and a
/// queue of [`QUEUE`] checks. Clones share the threads and the queue.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    jobs: std::sync::Arc<std::sync::OnceLock<Option<SyncSender<Job>>>>,
}

fn start_workers() -> Option<SyncSender<Job>> {
    let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    for i in 0..WORKERS {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || work(&queue));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread for password checks");
            return None;
        }
    }
    Some(jobs)
}

/// A worker: takes checks until the verifier is dropped. Its working memory is kept while
/// checks are waiting, and given back as soon as none is.
fn work(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // A check already waiting is taken at once; when there is none — or the other
        // worker is waiting on the queue, so none is coming for this one — the memory goes
        // back before this worker waits.
        let waiting = match queue.try_lock() {
            Ok(queue) => queue.try_recv().ok(),
            Err(_) => None,
        };
        let job = match waiting {
            Some(job) => job,
            None => {
                memory = Vec::new();
                let Ok(queue) = queue.lock() else { return };
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
        };
        let ok = match &job.stored {
            Some(stored) => verify_in(&job.password, stored, &mut memory),
            None => {
                if let Some(d) = decoy() {
                    let _ = verify_in(&job.password, d, &mut memory);
                }
                false
            }
        };
        let _ = job.reply.send(ok);
    }
}

impl Verifier {
    /// A verifier; its threads start at the first check.
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Checks `password` against `stored` (or, for `None`, spends the time of a check and
    /// answers no). Refused at once when [`QUEUE`] checks already wait.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, VerifyError> {
        let Some(jobs) = self.jobs.get_or_init(start_workers) else {
            return Err(VerifyError::Stopped);
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            password,
            stored,
            reply,
        };
        match jobs.try_send(job) {
            Ok(()) => answer.await.map_err(|_| VerifyError::Stopped),
            Err(TrySendError::Full(_)) => Err(VerifyError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(VerifyError::Stopped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "a fresh salt each time");
        assert!(verify("correct horse battery", &a));
        assert!(verify("correct horse battery", &b));
        assert!(!verify("correct horse batterY", &a));
        assert!(!verify("", &a));
        assert!(!verify("correct horse battery", "not a hash"));
        assert!(!verify("correct horse battery", ""));
    }

    #[test]
    fn hashes_agree_with_the_crates_own_verifier() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours = hash("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password_with_salt(b"correct horse battery", &[9; 16])
            .unwrap()
            .to_string();
        assert!(verify("correct horse battery", &theirs));
    }

    #[test]
    fn other_algorithms_and_excessive_costs_are_refused() {
        use argon2::PasswordHasher;
        // A valid Argon2i hash of the same password does not sign anyone in.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password_with_salt(b"correct horse battery", &[7; 16])
            .unwrap()
            .to_string();
        assert!(argon2i.starts_with("$argon2i$"));
        assert!(!verify("correct horse battery", &argon2i));
        // A stored hash asking for 1 GiB is not run.
        let huge = "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify("correct horse battery", huge));
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash(&"x".repeat(MAX_LEN + 1)), Err(PasswordError::TooLong));
        assert!(!verify(&"x".repeat(MAX_LEN + 1), "$argon2id$"));
        assert!(check("ñandú ñandú").is_ok(), "counted in characters");
    }

    #[tokio::test]
    async fn the_verifier_answers_and_refuses_beyond_its_queue() {
        let verifier = Verifier::new();
        let stored = hash("correct horse battery").unwrap();
        assert_eq!(
            verifier
                .verify("correct horse battery".into(), Some(stored.clone()))
                .await,
            Ok(true)
        );
        assert_eq!(verifier.verify("wrong".into(), None).await, Ok(false));
        // Far more checks than workers and queue at once: some are refused as busy, none
        // waits unbounded.
        let all = futures_util::future::join_all(
            (0..(WORKERS + QUEUE) * 3)
                .map(|_| verifier.verify("wrong".into(), Some(stored.clone()))),
        )
        .await;
        assert!(all.contains(&Err(VerifyError::Busy)), "{all:?}");
        assert!(all.contains(&Ok(false)));
    }
}
