//! The live lookup on PostgreSQL: the facts [`crate::lookup`] answers from, read in one
//! query, nothing written.

use tillpass_protocol::sync::{LookupAnswer, LookupKind, LookupRequest};

use super::{Pg, accounts};
use crate::error::Result;
use crate::lookup::{self, CustomerFacts};
use crate::storage::money;

/// Central's answer to a lookup at `now` (as [`crate::lookup::answer`]).
pub async fn answer(pg: &Pg, request: &LookupRequest, now: i64) -> Result<LookupAnswer> {
    let subject = request.subject.as_str();
    match request.kind {
        LookupKind::Customer => {
            let row = pg
                .client()
                .await?
                .query_opt(
                    "SELECT c.tier, a.currency, a.balance, a.debt,
                            (SELECT coalesce(sum(p.amount), 0)::BIGINT FROM pending_savings p
                             WHERE p.customer = c.ref AND p.release_at <= $2)
                     FROM customers c JOIN savings_accounts a ON a.customer = c.ref
                     WHERE c.ref = $1
                       AND NOT EXISTS (SELECT 1 FROM erased_customers e WHERE e.ref = $1)",
                    &[&subject, &now],
                )
                .await?;
            let facts = row
                .map(|r| {
                    Ok::<_, crate::error::Error>(CustomerFacts {
                        tier: r.get(0),
                        balance: money(&r.get::<_, String>(1), r.get(2))?,
                        debt: r.get(3),
                        due: r.get(4),
                    })
                })
                .transpose()?;
            Ok(lookup::customer_answer(request, facts, now))
        }
        LookupKind::GiftCard => Ok(lookup::gift_card_answer(
            request,
            accounts::gift_card(pg, subject).await?,
            now,
        )),
    }
}
