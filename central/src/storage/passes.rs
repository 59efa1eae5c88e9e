//! Passes, tokens, revocations and flags behind the contract (SQLite: [`crate::passes`],
//! [`crate::revocations`], [`crate::flags`]; PostgreSQL: [`super::postgres::passes`] and
//! the statements here, which mean the same on both).

use tillpass_protocol::token::{self, TokenKind};

use super::{Database, postgres};
use crate::error::{Error, Result};
use crate::flags::{self, Flag};
use crate::keys::KeyDir;
use crate::passes::{self, IssueOptions, IssuedToken, NewVoucher};
use crate::revocations;

impl Database {
    /// Issues a fresh pass for a customer, with their spendable balance as its snapshot.
    pub async fn customer_pass(
        &self,
        dir: &KeyDir,
        customer: &str,
        options: &IssueOptions,
        now: i64,
    ) -> Result<IssuedToken> {
        match self {
            Database::Sqlite(db) => {
                let (dir, customer, options) = (dir.clone(), customer.to_owned(), options.clone());
                db.call(move |c| passes::customer_pass(c, &dir, &customer, &options, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::passes::customer_pass(pg, dir, customer, options, now).await
            }
        }
    }

    /// Issues a token for a gift card (refused for a blocked or expired card).
    pub async fn gift_card_token(
        &self,
        dir: &KeyDir,
        card: &str,
        options: &IssueOptions,
        now: i64,
    ) -> Result<IssuedToken> {
        match self {
            Database::Sqlite(db) => {
                let (dir, card, options) = (dir.clone(), card.to_owned(), options.clone());
                db.call(move |c| passes::gift_card_token(c, &dir, &card, &options, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::passes::gift_card_token(pg, dir, card, options, now).await
            }
        }
    }

    /// Issues a voucher token (the voucher recorded or its promotion updated).
    pub async fn voucher(&self, dir: &KeyDir, new: &NewVoucher, now: i64) -> Result<IssuedToken> {
        match self {
            Database::Sqlite(db) => {
                let (dir, new) = (dir.clone(), new.clone());
                db.call(move |c| passes::voucher(c, &dir, &new, now)).await
            }
            Database::Postgres(pg) => postgres::passes::voucher(pg, dir, new, now).await,
        }
    }

    /// Revokes one token.
    pub async fn revoke_token(&self, token_id: token::TokenId, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                db.call(move |c| revocations::add_token(c, token_id, now))
                    .await
            }
            Database::Postgres(pg) => {
                pg.client()
                    .await?
                    .execute(
                        "INSERT INTO revocations (what, value, revoked_at)
                         VALUES ('token', $1, $2)",
                        &[&token_id.0.as_slice(), &now],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Revokes every token of `kind` and `subject` issued before `before`.
    pub async fn revoke_subject(
        &self,
        kind: TokenKind,
        subject: &[u8],
        before: i64,
        now: i64,
    ) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let subject = subject.to_vec();
                db.call(move |c| revocations::add_subject(c, kind, &subject, before, now))
                    .await
            }
            Database::Postgres(pg) => {
                if token::Subject::new(subject).is_none() {
                    return Err(Error::invalid("a token subject is 1 to 16 bytes"));
                }
                pg.client()
                    .await?
                    .execute(
                        "INSERT INTO revocations (what, value, token_kind, before, revoked_at)
                         VALUES ('subject', $1, $2, $3, $4)",
                        &[&subject, &kind.code(), &before, &now],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Every flag, newest first.
    pub async fn flags(&self) -> Result<Vec<Flag>> {
        self.flags_page(&flags::Query::all()).await
    }

    /// The flags `query` asks for, newest first.
    pub async fn flags_page(&self, query: &flags::Query) -> Result<Vec<Flag>> {
        match self {
            Database::Sqlite(db) => {
                let query = *query;
                db.call(move |c| flags::list(c, &query)).await
            }
            Database::Postgres(pg) => {
                let (open, before, limit) = query.params();
                Ok(pg
                    .client()
                    .await?
                    .query(flags::LIST, &[&open, &before, &limit])
                    .await?
                    .iter()
                    .map(|row| {
                        flags::from_row(
                            row.get(0),
                            row.get(1),
                            row.get(2),
                            row.get(3),
                            row.get(4),
                            row.get(5),
                            row.get(6),
                            row.get(7),
                            row.get(8),
                        )
                    })
                    .collect())
            }
        }
    }
}
