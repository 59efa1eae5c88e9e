//! Why a scanned token is refused: [`Refusal`] (with a stable code and a cashier message in
//! Spanish and English), its malformed-input detail [`Malformed`], and [`RefusalCode`], every
//! code a refused scan carries, with its labels.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::lang::{Bilingual, Lang};
use crate::trust::{KeyId, KeyPurpose};

/// Why a token's text or bytes could not be decoded. Static context only: the input is
/// never echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The text is longer than any token can be.
    #[error("text too long")]
    TooLong,
    /// The text does not start with the token prefix.
    #[error("missing token prefix")]
    MissingPrefix,
    /// A character after the prefix is not a digit key as the keyboard layout types it
    /// (under the reading that got furthest).
    #[error("character {position} after the prefix is not a digit")]
    InvalidCharacter {
        /// Its position among the characters after the prefix, from 0.
        position: usize,
    },
    /// The number of digits is not that of any byte length (the last group of digits has a
    /// length no group of bytes encodes to).
    #[error("{digits} digits is not a valid token length")]
    DigitCount {
        /// The number of digits.
        digits: usize,
    },
    /// A group of digits is larger than the bytes it stands for can hold.
    #[error("digit group {group} is out of range")]
    GroupOutOfRange {
        /// The group index, from 0.
        group: usize,
    },
    /// The bytes end before the body and signature do.
    #[error("token truncated")]
    Truncated,
    /// Bytes follow the signature.
    #[error("trailing bytes after the signature")]
    TrailingBytes,
    /// A body version this till does not know.
    #[error("unknown token version {0}")]
    UnknownVersion(u8),
    /// A token type this till does not know.
    #[error("unknown token type {0}")]
    UnknownType(u8),
    /// A subject length outside 1 to 16.
    #[error("subject length {0} out of range")]
    SubjectLength(u8),
    /// Claim flags with bits this version does not define.
    #[error("unknown claim flags {0:#04x}")]
    UnknownClaims(u8),
    /// A balance in an ISO 4217 numeric code that is not a retail currency.
    #[error("unknown currency number {0}")]
    UnknownCurrency(u16),
    /// The text reads as more than one token under different keyboard layouts and the
    /// signature cannot single one out: more readings than are checked, or two whose
    /// signatures verify.
    #[error("the text reads as more than one token")]
    AmbiguousReading,
}

impl Malformed {
    /// A stable snake_case code for logs and the dashboard.
    pub fn code(&self) -> &'static str {
        match self {
            Malformed::TooLong => "too_long",
            Malformed::MissingPrefix => "missing_prefix",
            Malformed::InvalidCharacter { .. } => "invalid_character",
            Malformed::DigitCount { .. } => "digit_count",
            Malformed::GroupOutOfRange { .. } => "group_out_of_range",
            Malformed::Truncated => "truncated",
            Malformed::TrailingBytes => "trailing_bytes",
            Malformed::UnknownVersion(_) => "unknown_version",
            Malformed::UnknownType(_) => "unknown_type",
            Malformed::SubjectLength(_) => "subject_length",
            Malformed::UnknownClaims(_) => "unknown_claims",
            Malformed::UnknownCurrency(_) => "unknown_currency",
            Malformed::AmbiguousReading => "ambiguous_reading",
        }
    }
}

/// Which revocation matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// The signing key was revoked.
    Key,
    /// This token id was revoked.
    TokenId,
    /// Every token of the subject issued before a time was revoked.
    Subject,
}

impl RevokedBy {
    /// A stable snake_case code: `key`, `token_id` or `subject`.
    pub fn code(self) -> &'static str {
        match self {
            RevokedBy::Key => "key",
            RevokedBy::TokenId => "token_id",
            RevokedBy::Subject => "subject",
        }
    }
}

/// Why a token was refused. Each variant has a stable [`code`](Refusal::code) and a
/// cashier [`message`](Refusal::message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The text or bytes are not a well-formed token.
    #[error("malformed token: {0}")]
    Malformed(#[from] Malformed),
    /// No key with this id in the trust store.
    #[error("unknown key {kid}")]
    UnknownKey {
        /// The key id the token names.
        kid: KeyId,
    },
    /// The key exists but is not a token key.
    #[error("key {kid} is a {purpose} key, not a token key")]
    KeyWrongPurpose {
        /// The key id.
        kid: KeyId,
        /// Its purpose.
        purpose: KeyPurpose,
    },
    /// The key was not valid when the token says it was issued.
    #[error("key {kid} was not valid at the token's issue time")]
    KeyNotValidAtIssue {
        /// The key id.
        kid: KeyId,
    },
    /// The signature does not verify: forged or damaged.
    #[error("bad signature")]
    BadSignature,
    /// Issued further in the future than the clock skew allows.
    #[error("issued at {issued_at}, in the future of {now}")]
    NotYetValid {
        /// The token's issued-at, unix seconds.
        issued_at: u64,
        /// The verifier's now, unix seconds.
        now: u64,
    },
    /// Past its expiry plus the clock skew.
    #[error("expired at {expires_at}, now is {now}")]
    Expired {
        /// The token's expiry, unix seconds.
        expires_at: u64,
        /// The verifier's now, unix seconds.
        now: u64,
    },
    /// The token's lifetime exceeds what the policy allows for its kind.
    #[error("lifetime {lifetime_secs}s exceeds the {max_secs}s allowed")]
    LifetimeTooLong {
        /// The token's lifetime.
        lifetime_secs: u32,
        /// The policy's maximum.
        max_secs: u32,
    },
    /// Revoked.
    #[error("revoked by {}", .0.code())]
    Revoked(RevokedBy),
}

/// The stable code of a refused scan: the protocol's own refusals ([`Refusal::kind`]),
/// the replay rule's, and those of the till that reads the scan. It travels to the POS
/// (`/v1/identify`, the event stream), the scan log and the dashboard, serialized as its
/// [`code`](RefusalCode::code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// [`Refusal::Malformed`], or a subject that is not a reference central issues.
    Malformed,
    /// [`Refusal::UnknownKey`].
    UnknownKey,
    /// [`Refusal::KeyWrongPurpose`].
    KeyWrongPurpose,
    /// [`Refusal::KeyNotValidAtIssue`].
    KeyNotValidAtIssue,
    /// [`Refusal::BadSignature`].
    BadSignature,
    /// [`Refusal::NotYetValid`].
    NotYetValid,
    /// [`Refusal::Expired`].
    Expired,
    /// [`Refusal::LifetimeTooLong`].
    LifetimeTooLong,
    /// [`Refusal::Revoked`].
    Revoked,
    /// Already used as often as the replay rule allows ([`super::replay`]).
    Replayed,
    /// The till is not enrolled: it has no trust list to verify with.
    NotEnrolled,
    /// The scanner read something it could not frame or decode.
    UnknownScannerData,
    /// The scan could not be recorded in the till's store.
    StoreUnavailable,
}

impl RefusalCode {
    /// Every code.
    pub const ALL: [RefusalCode; 13] = [
        RefusalCode::Malformed,
        RefusalCode::UnknownKey,
        RefusalCode::KeyWrongPurpose,
        RefusalCode::KeyNotValidAtIssue,
        RefusalCode::BadSignature,
        RefusalCode::NotYetValid,
        RefusalCode::Expired,
        RefusalCode::LifetimeTooLong,
        RefusalCode::Revoked,
        RefusalCode::Replayed,
        RefusalCode::NotEnrolled,
        RefusalCode::UnknownScannerData,
        RefusalCode::StoreUnavailable,
    ];

    /// The stable snake_case code, as serialized, e.g. `expired`.
    pub fn code(self) -> &'static str {
        match self {
            RefusalCode::Malformed => "malformed",
            RefusalCode::UnknownKey => "unknown_key",
            RefusalCode::KeyWrongPurpose => "key_wrong_purpose",
            RefusalCode::KeyNotValidAtIssue => "key_not_valid_at_issue",
            RefusalCode::BadSignature => "bad_signature",
            RefusalCode::NotYetValid => "not_yet_valid",
            RefusalCode::Expired => "expired",
            RefusalCode::LifetimeTooLong => "lifetime_too_long",
            RefusalCode::Revoked => "revoked",
            RefusalCode::Replayed => "replayed",
            RefusalCode::NotEnrolled => "not_enrolled",
            RefusalCode::UnknownScannerData => "unknown_scanner_data",
            RefusalCode::StoreUnavailable => "store_unavailable",
        }
    }

    /// The code named `code` (as [`RefusalCode::code`] writes it).
    pub fn from_code(code: &str) -> Option<RefusalCode> {
        RefusalCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// A manager's short name for the reason (the dashboard's scan log), in every
    /// language. The cashier's message, saying what to do, is [`Refusal::messages`].
    pub fn labels(self) -> Bilingual {
        let (es, en) = match self {
            RefusalCode::Malformed => ("Mal formado", "Malformed"),
            RefusalCode::UnknownKey => ("Clave desconocida", "Unknown key"),
            RefusalCode::KeyWrongPurpose => ("Clave de otro uso", "Key of another purpose"),
            RefusalCode::KeyNotValidAtIssue => {
                ("Clave no válida al emitirse", "Key not valid at issue")
            }
            RefusalCode::BadSignature => ("Firma no válida", "Bad signature"),
            RefusalCode::NotYetValid => ("Aún no válido", "Not valid yet"),
            RefusalCode::Expired => ("Caducado", "Expired"),
            RefusalCode::LifetimeTooLong => ("Validez demasiado larga", "Lifetime too long"),
            RefusalCode::Revoked => ("Anulado", "Revoked"),
            RefusalCode::Replayed => ("Ya usado (repetido)", "Replayed (already used)"),
            RefusalCode::NotEnrolled => ("Caja no dada de alta", "Till not enrolled"),
            RefusalCode::UnknownScannerData => {
                ("Datos de lector no reconocidos", "Unknown scanner data")
            }
            RefusalCode::StoreUnavailable => ("No se pudo guardar", "Could not be stored"),
        };
        Bilingual { es, en }
    }

    /// A manager's short name for the reason in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        self.labels().get(lang)
    }
}

const MALFORMED: Bilingual = Bilingual {
    es: "QR ilegible: vuelva a escanearlo; si falla otra vez, pida al cliente un QR nuevo en WhatsApp",
    en: "Unreadable QR: scan it again; if it fails again, ask the customer for a new QR in WhatsApp",
};
const UNKNOWN_KEY: Bilingual = Bilingual {
    es: "QR no reconocido por esta caja: pida al cliente un QR nuevo en WhatsApp; si se repite, avise a soporte",
    en: "QR not recognised by this till: ask the customer for a new QR in WhatsApp; if it happens again, call support",
};
const KEY_NOT_USABLE: Bilingual = Bilingual {
    es: "QR firmado con una clave no válida: no lo acepte; pida al cliente un QR nuevo en WhatsApp",
    en: "QR signed with a key that is not valid: do not accept it; ask the customer for a new QR in WhatsApp",
};
const BAD_SIGNATURE: Bilingual = Bilingual {
    es: "QR falso o dañado: no lo acepte; pida al cliente un QR nuevo en WhatsApp",
    en: "QR forged or damaged: do not accept it; ask the customer for a new QR in WhatsApp",
};
const NOT_YET_VALID: Bilingual = Bilingual {
    es: "QR aún no válido: compruebe la hora de la caja o pida al cliente un QR nuevo en WhatsApp",
    en: "QR not valid yet: check the till's clock or ask the customer for a new QR in WhatsApp",
};
const EXPIRED: Bilingual = Bilingual {
    es: "QR caducado: pida al cliente un QR nuevo en WhatsApp",
    en: "QR expired: ask the customer for a new QR in WhatsApp",
};
const LIFETIME_TOO_LONG: Bilingual = Bilingual {
    es: "QR con una validez demasiado larga: no lo acepte; pida al cliente un QR nuevo en WhatsApp",
    en: "QR valid for too long: do not accept it; ask the customer for a new QR in WhatsApp",
};
const REVOKED: Bilingual = Bilingual {
    es: "QR anulado: no lo acepte; el cliente debe contactar con atención al cliente",
    en: "QR revoked: do not accept it; the customer should contact customer service",
};

impl Refusal {
    /// The refusal's stable code.
    pub fn kind(&self) -> RefusalCode {
        match self {
            Refusal::Malformed(_) => RefusalCode::Malformed,
            Refusal::UnknownKey { .. } => RefusalCode::UnknownKey,
            Refusal::KeyWrongPurpose { .. } => RefusalCode::KeyWrongPurpose,
            Refusal::KeyNotValidAtIssue { .. } => RefusalCode::KeyNotValidAtIssue,
            Refusal::BadSignature => RefusalCode::BadSignature,
            Refusal::NotYetValid { .. } => RefusalCode::NotYetValid,
            Refusal::Expired { .. } => RefusalCode::Expired,
            Refusal::LifetimeTooLong { .. } => RefusalCode::LifetimeTooLong,
            Refusal::Revoked(_) => RefusalCode::Revoked,
        }
    }

    /// A stable snake_case code for the POS, logs and the dashboard, e.g. `expired`.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// A finer code where there is one: the [`Malformed`] code, or what was revoked.
    pub fn detail_code(&self) -> Option<&'static str> {
        match self {
            Refusal::Malformed(m) => Some(m.code()),
            Refusal::Revoked(by) => Some(by.code()),
            _ => None,
        }
    }

    /// A short message for the cashier in `lang`, saying what to do.
    pub fn message(&self, lang: Lang) -> &'static str {
        self.messages().get(lang)
    }

    /// The cashier message in every language.
    pub fn messages(&self) -> Bilingual {
        match self {
            Refusal::Malformed(_) => MALFORMED,
            Refusal::UnknownKey { .. } => UNKNOWN_KEY,
            Refusal::KeyWrongPurpose { .. } | Refusal::KeyNotValidAtIssue { .. } => KEY_NOT_USABLE,
            Refusal::BadSignature => BAD_SIGNATURE,
            Refusal::NotYetValid { .. } => NOT_YET_VALID,
            Refusal::Expired { .. } => EXPIRED,
            Refusal::LifetimeTooLong { .. } => LIFETIME_TOO_LONG,
            Refusal::Revoked(_) => REVOKED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Refusal> {
        let kid = KeyId([0; 4]);
        vec![
            Refusal::Malformed(Malformed::Truncated),
            Refusal::UnknownKey { kid },
            Refusal::KeyWrongPurpose {
                kid,
                purpose: KeyPurpose::Catalog,
            },
            Refusal::KeyNotValidAtIssue { kid },
            Refusal::BadSignature,
            Refusal::NotYetValid {
                issued_at: 2,
                now: 1,
            },
            Refusal::Expired {
                expires_at: 1,
                now: 2,
            },
            Refusal::LifetimeTooLong {
                lifetime_secs: 2,
                max_secs: 1,
            },
            Refusal::Revoked(RevokedBy::Subject),
        ]
    }

    #[test]
    fn codes_are_distinct_snake_case() {
        let codes: Vec<&str> = all().iter().map(Refusal::code).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn every_message_exists_in_both_languages_and_says_what_to_do() {
        for refusal in all() {
            let es = refusal.message(Lang::Es);
            let en = refusal.message(Lang::En);
            assert_ne!(es, en);
            // Every message ends with an instruction, after a colon.
            assert!(es.contains(": ") && en.contains(": "), "{}", refusal.code());
        }
        let expired = Refusal::Expired {
            expires_at: 1,
            now: 2,
        };
        assert_eq!(
            expired.message(Lang::Es),
            "QR caducado: pida al cliente un QR nuevo en WhatsApp"
        );
    }

    #[test]
    fn refusal_codes_are_their_serialized_names_with_both_labels() {
        for code in RefusalCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.code());
            assert_eq!(RefusalCode::from_code(code.code()), Some(code));
            let labels = code.labels();
            assert!(!labels.es.is_empty() && !labels.en.is_empty());
            assert_ne!(labels.es, labels.en, "{}", code.code());
        }
        for refusal in all() {
            assert_eq!(RefusalCode::from_code(refusal.code()), Some(refusal.kind()));
        }
        assert_eq!(RefusalCode::from_code("something_new"), None);
    }

    #[test]
    fn detail_codes_name_the_malformation_or_the_revocation() {
        assert_eq!(
            Refusal::from(Malformed::TrailingBytes).detail_code(),
            Some("trailing_bytes")
        );
        assert_eq!(
            Refusal::Revoked(RevokedBy::TokenId).detail_code(),
            Some("token_id")
        );
        assert_eq!(Refusal::BadSignature.detail_code(), None);
    }
}
