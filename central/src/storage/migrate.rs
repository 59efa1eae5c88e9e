//! Central's use of the one migration mechanism (`tillpass-migrate`), for every backend.
//!
//! A backend's schema is a list of numbered migrations (`&[&str]`, index `i` brings the
//! schema from version `i` to `i + 1`), never edited once landed: a change is a new
//! migration appended to the list. Each backend records how many ran, in one place
//! (SQLite: `PRAGMA user_version`, as central always has; PostgreSQL: the
//! `schema_version` table), and applies the missing ones in order, each in its own
//! transaction together with the new version. A database newer than the build is refused
//! whole, before anything is applied.
//!
//! Backends differ only in how they read and write the version and run a migration;
//! [`pending`] is the rule they share.

use std::ops::Range;

pub use tillpass_migrate::{Migration, version_after};

use crate::error::{Error, Result};

/// The indexes of the migrations of `all` still to apply to a database at `current`;
/// an error when the database is newer than this build knows.
pub fn pending(current: i64, all: &[Migration]) -> Result<Range<usize>> {
    tillpass_migrate::pending(current, all.len()).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_what_it_lacks_and_a_newer_one_is_refused() {
        let m = Migration { name: "m", sql: "" };
        let all = [m, m, m];
        assert_eq!(pending(0, &all).unwrap(), 0..3);
        assert_eq!(pending(2, &all).unwrap(), 2..3);
        assert!(pending(3, &all).unwrap().is_empty());
        assert!(pending(4, &all).is_err());
        assert!(pending(-1, &all).is_err());
        assert_eq!(version_after(0), 1);
    }

    /// The SHA-256 of each landed migration's text, in order: a migration built from
    /// shared macros (the scope rule, for one) must keep its text when the macros change.
    const SQLITE: &[&str] = &[
        "9619591af672e22a09498aae991f1b69f2c3a13a0dfdbfc8759cff6bcee74ba4",
        "a81b75224dcf1308145b895b69630cf52ea46c270685ccd3b576f9358005c8de",
        "fc3648ce98fddaca4b16357d43330a4a07ccb31e5457b7f07b81b2db99c8c4c3",
        "4667bfff179f7b12c262fe6d8b71ce74eccb9483766874049c0822f9a7f411a3",
        "825acca0774bc1ea9dff685fe10e6df6e2c7d53ce21ac4ec9d09cf0564afe8ff",
        "a7898a553fdda925acbb54159b4d9c0730db2797cfe915ed2ec2bbe345b82bca",
        "77b22c19581990d0b71945d83e66216a0f00dcaba71a9176c9e17a044f3f9f80",
        "7c1d76f678cffa7b2889a238289f278f9a69f12de20ccaad9bab62a75d3e961c",
        "e2635fa8a94bcdecce31d89bdbe8462ea1443783c69f1a587b7f4522f9263594",
        "b3c4233e149c47789341e6aa8e7db6f57dddee59aa8b0e4b49295266a461db98",
        "233f6369cd867b16437f1e1ced61ac37ba89555ecad7ddbf316ddf0e962a4191",
    ];
    const POSTGRES: &[&str] = &[
        "cc870a2d16770968b466f33cb8e53fe682d8ae88eb5d0c019e260c82f14001e4",
        "e540e736772b163143db966ba81b24ecfba7eb02d76e0eb570f5ae7bfb1a25e0",
        "93e15ac56afe777858d3dfad1c858a42b8bef148505fd32fd7c5d01ebad1b2f7",
        "5b172b9f3d2e3be293a1000d02b17800d0c10db9a85ca1ee93fa18130f49482d",
        "bc1fb587e7d723d892594eb337ee5a58545c36b5bf9356e80c6ef1e80694853f",
        "d769a88ad61e704bae3b1c50456716296d5735a3fc3930a665e2bc9c2d5b4529",
        "bbbf7aed6a7e3ce732db4e4e02917ecd63b605144dd17f0738b3117b16552b10",
        "8a3b3fbdfeef0b865a76ef76dc21d2b47286c963ed5988d9426cb3b8a41a4287",
        "717ba4cc3a634d6370eafbef79757d131293e94334e2362143b29e681d0f1a0f",
        "93cc1661c2610c1f0536aa5892f9e2501ad74420897a194f3898e7f25f5b4e91",
        "e26ad8ad872f7ead57d98d69b6310bd5aeb0e8192be05ce8f7c1142f4ecec1e0",
    ];

    fn digests(all: &[Migration]) -> Vec<String> {
        use sha2::Digest;
        all.iter()
            .map(|m| hex::encode(sha2::Sha256::digest(m.sql.as_bytes())))
            .collect()
    }

    #[test]
    fn a_landed_migration_keeps_its_text() {
        for (backend, all, landed) in [
            ("SQLite", crate::migrations::MIGRATIONS, SQLITE),
            (
                "PostgreSQL",
                crate::storage::postgres::migrations::MIGRATIONS,
                POSTGRES,
            ),
        ] {
            let now = digests(all);
            for (i, (now, landed)) in now.iter().zip(landed).enumerate() {
                assert_eq!(
                    now,
                    landed,
                    "{backend} migration {} ({}) was edited: add a new one instead",
                    i + 1,
                    all[i].name
                );
            }
            assert!(
                now.len() >= landed.len(),
                "{backend}: a landed migration was removed"
            );
            // A new migration lands with its digest here.
            assert_eq!(
                now.len(),
                landed.len(),
                "{backend}: {:?}",
                &now[landed.len()..]
            );
        }
    }
}
