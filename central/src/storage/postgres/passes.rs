//! Passes and tokens on PostgreSQL, as [`crate::passes`] issues them on SQLite: signed
//! with the active token key from the key directory, recorded in `issued_tokens`, each in
//! one transaction (a customer's pass releases their due pending savings first, so its
//! balance snapshot counts them).

use deadpool_postgres::GenericClient;
use tillpass_protocol::token::TokenKind;

use super::{Pg, accounts, ingest, keys};
use crate::error::{Error, Result};
use crate::keys::{KeyDir, Purpose};
use crate::passes::{
    self, Asked, DEFAULT_PASS_LIFETIME_SECS, DEFAULT_VOUCHER_LIFETIME_SECS, IssueOptions,
    IssuedToken, NewVoucher,
};
use crate::storage::money;

async fn sign_and_record(
    c: &impl GenericClient,
    dir: &KeyDir,
    asked: &Asked<'_>,
    now: i64,
) -> Result<IssuedToken> {
    let key = keys::active(c, dir, Purpose::Token).await?;
    let issued = passes::sign(asked, &key, now)?;
    c.execute(
        "INSERT INTO issued_tokens (token_id, kind, subject, kid, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &issued.token_id,
            &issued.kind,
            &issued.subject,
            &issued.kid,
            &issued.issued_at,
            &issued.expires_at,
        ],
    )
    .await?;
    Ok(issued)
}

/// Issues a fresh pass for a customer (as [`passes::customer_pass`]).
pub async fn customer_pass(
    pg: &Pg,
    dir: &KeyDir,
    customer: &str,
    options: &IssueOptions,
    now: i64,
) -> Result<IssuedToken> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let tier: Option<String> = tx
        .query_opt("SELECT tier FROM customers WHERE ref = $1", &[&customer])
        .await?
        .ok_or(Error::NotFound("customer"))?
        .get(0);
    ingest::release_due(&tx, customer, now).await?;
    let row = tx
        .query_opt(
            "SELECT currency, balance FROM savings_accounts WHERE customer = $1",
            &[&customer],
        )
        .await?
        .ok_or(Error::NotFound("customer"))?;
    let savings = money(&row.get::<_, String>(0), row.get(1))?;
    let tier = match tier {
        Some(tier) => match tx.query_opt(passes::SEALED_CATALOG, &[]).await? {
            Some(row) => passes::tier_position(&row.get::<_, Vec<u8>>(0), &tier)?,
            None => None,
        },
        None => None,
    };
    let asked = Asked {
        kind: TokenKind::CustomerPass,
        subject: customer,
        tier,
        balance: passes::snapshot(savings),
        lifetime_secs: options.lifetime_secs.unwrap_or(DEFAULT_PASS_LIFETIME_SECS),
        options,
    };
    let issued = sign_and_record(&tx, dir, &asked, now).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Issues a token for a gift card (as [`passes::gift_card_token`]).
pub async fn gift_card_token(
    pg: &Pg,
    dir: &KeyDir,
    card: &str,
    options: &IssueOptions,
    now: i64,
) -> Result<IssuedToken> {
    let record = accounts::gift_card(pg, card)
        .await?
        .ok_or(Error::NotFound("gift card"))?;
    let asked = Asked {
        kind: TokenKind::GiftCard,
        subject: card,
        tier: None,
        balance: passes::snapshot(record.balance),
        lifetime_secs: passes::gift_card_lifetime(&record, options, now)?,
        options,
    };
    sign_and_record(&pg.client().await?, dir, &asked, now).await
}

/// Issues a voucher token (as [`passes::voucher`]).
pub async fn voucher(pg: &Pg, dir: &KeyDir, new: &NewVoucher, now: i64) -> Result<IssuedToken> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO vouchers (code, promotion_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (code) DO UPDATE SET promotion_id = excluded.promotion_id",
        &[
            &new.code.as_str(),
            &new.promotion_id.as_ref().map(|p| p.as_str()),
            &now,
        ],
    )
    .await?;
    let asked = Asked {
        kind: TokenKind::Voucher,
        subject: new.code.as_str(),
        tier: None,
        balance: None,
        lifetime_secs: new
            .options
            .lifetime_secs
            .unwrap_or(DEFAULT_VOUCHER_LIFETIME_SECS),
        options: &new.options,
    };
    let issued = sign_and_record(&tx, dir, &asked, now).await?;
    tx.commit().await?;
    Ok(issued)
}
