//! The stores' offline-risk ledger items on PostgreSQL, as [`crate::ledger::item`] reads
//! them on SQLite: the spends of a page in one query (`= ANY($1)`), each flag by the
//! statement [`crate::ledger`] shares with SQLite, and the same items built from the
//! rows by [`ledger::spend_item`] and [`ledger::flag_item`].

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tillpass_protocol::sync::LedgerDelta;

use super::cached;
use crate::error::Result;
use crate::ledger::{self, FlagRow, Key, SpendRow};

/// The items of the changed `keys` of a store's `ledger` stream at `now`, in their
/// order; keys with nothing to send are left out.
pub async fn items(c: &impl GenericClient, keys: &[&str], now: i64) -> Result<Vec<LedgerDelta>> {
    let spends: Vec<&str> = keys
        .iter()
        .filter_map(|k| match Key::parse(k) {
            Some(Key::Spend(event_id)) => Some(event_id),
            _ => None,
        })
        .collect();
    let mut rows: HashMap<String, SpendRow> = HashMap::new();
    if !spends.is_empty() {
        for r in cached::query(
            c,
            "SELECT m.event_id, m.account, m.holder, m.at, m.till, m.amount, m.short,
                        m.source, coalesce(s.currency, g.currency),
                        coalesce(s.debt, g.debt, 0)
                 FROM account_moves m
                 LEFT JOIN savings_accounts s
                     ON m.account = 'savings' AND s.customer = m.holder
                 LEFT JOIN gift_cards g ON m.account = 'gift_card' AND g.ref = m.holder
                 WHERE m.event_id = ANY($1) AND m.direction = 'debit' AND m.at >= $2",
            &[&spends, &ledger::oldest_kept(now)],
        )
        .await?
        {
            rows.insert(
                r.get(0),
                SpendRow {
                    account: r.get(1),
                    holder: r.get(2),
                    at: r.get(3),
                    till: r.get(4),
                    amount: r.get(5),
                    short: r.get(6),
                    source: r.get(7),
                    currency: r.get(8),
                    debt: r.get(9),
                },
            );
        }
    }
    let mut items = Vec::with_capacity(keys.len());
    for key in keys {
        let item = match Key::parse(key) {
            None => None,
            Some(Key::Spend(event_id)) => ledger::spend_item(event_id, rows.remove(event_id))?,
            Some(Key::Flag { kind, subject }) => match ledger::flag_query(kind, subject) {
                None => None,
                Some((sql, args)) => {
                    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                        .iter()
                        .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    let row = cached::query_opt(c, sql, &params).await?.map(|r| FlagRow {
                        detail: r.get(0),
                        raised_at: r.get(1),
                        holder: r.get(2),
                        debt: r.get(3),
                        resolved: r.get(4),
                    });
                    Some(ledger::flag_item(kind, subject, row)?)
                }
            },
        };
        items.extend(item);
    }
    Ok(items)
}
