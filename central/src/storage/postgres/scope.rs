//! Scoped feeds on PostgreSQL, as [`crate::scope`] keeps them on SQLite, with the same SQL
//! texts: what a journal event or a live lookup shows a store knows, assignments by
//! central IT, and the scope period.

use deadpool_postgres::GenericClient;
use tillpass_protocol::sync::LookupKind;

use super::{Pg, cached, retry};
use crate::error::Result;
use crate::scope::{self, CustomerStores, Subject, holds, horizon};

/// The scope period in force.
pub async fn days(c: &impl GenericClient) -> Result<u32> {
    let text: Option<String> = cached::query_opt(c, scope::DAYS, &[])
        .await?
        .map(|r| r.get(0));
    Ok(scope::days_from(text))
}

/// Sets the scope period.
pub async fn set_days(pg: &Pg, days: u32) -> Result<()> {
    let days = scope::check_days(days)?.to_string();
    pg.client()
        .await?
        .execute(scope::SET_DAYS, &[&days])
        .await?;
    Ok(())
}

/// Records what a batch's events showed `store` knows, ingested at `now`, in the batch's
/// transaction (as [`crate::scope::see_all`]): the customers in three pipelined round
/// trips (their rows, the writes, the fresh feeds in order), then the gift cards.
pub async fn see_all(
    c: &impl GenericClient,
    store: &str,
    seen: &scope::Seen,
    now: i64,
) -> Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let days = c.prepare_cached(scope::DAYS).await?;
    let text: Option<String> = c.query_opt(&days, &[]).await?.map(|r| r.get(0));
    let h = horizon(now, scope::days_from(text));
    let customers: Vec<(&str, i64)> = seen
        .each()
        .filter_map(|(subject, at)| match subject {
            Subject::Customer(customer) => Some((customer, at)),
            Subject::GiftCard(_) => None,
        })
        .collect();
    see_customers(c, &customers, store, h, now).await?;
    for (subject, at) in seen.each() {
        if let Subject::GiftCard(_) = subject {
            see(c, subject, store, at, h, now).await?;
        }
    }
    Ok(())
}

/// [`see_customer`] for each of `customers` (each once), pipelined: every customer's
/// row is read before its own write, and the fresh feeds are appended in order — what
/// one customer's statements touch, another's do not.
async fn see_customers(
    c: &impl GenericClient,
    customers: &[(&str, i64)],
    store: &str,
    horizon: i64,
    now: i64,
) -> Result<()> {
    use futures_util::future::try_join_all;
    if customers.is_empty() {
        return Ok(());
    }
    let mut locked: Vec<&str> = customers.iter().map(|(customer, _)| *customer).collect();
    locked.sort_unstable();
    c.execute(scope::ENTER_LOCKS_PG, &[&locked]).await?;
    let (row, see, fresh, clear) = tokio::try_join!(
        c.prepare_cached(scope::CUSTOMER_ROW),
        c.prepare_cached(scope::SEE_CUSTOMER),
        c.prepare_cached(scope::FRESH_CUSTOMER),
        c.prepare_cached(scope::CLEAR_LAPSE),
    )?;
    let (row, see, fresh, clear) = (&row, &see, &fresh, &clear);
    let held = try_join_all(
        customers
            .iter()
            .map(|(customer, _)| async move { c.query_opt(row, &[customer, &store]).await }),
    )
    .await?;
    let written = try_join_all(
        customers
            .iter()
            .map(|(customer, at)| async move { c.execute(see, &[customer, &store, at]).await }),
    )
    .await?;
    let fresh_ones = customers
        .iter()
        .zip(held)
        .zip(written)
        .filter(|(((_, at), held), written)| {
            let held = held
                .as_ref()
                .is_some_and(|r| holds(r.get(0), r.get(1), horizon));
            *written > 0 && !held && *at >= horizon
        })
        .map(|(((customer, _), _), _)| *customer);
    // As `see_customer`: an entering customer's current state, and its lapse forgotten.
    try_join_all(fresh_ones.map(|customer| async move {
        c.execute(fresh, &[&customer, &now]).await?;
        c.execute(clear, &[&customer, &store]).await
    }))
    .await?;
    Ok(())
}

/// Records that `store` saw `subject` at `at` (as [`crate::scope::see`]).
pub async fn see(
    c: &impl GenericClient,
    subject: Subject<'_>,
    store: &str,
    at: i64,
    horizon: i64,
    now: i64,
) -> Result<()> {
    match subject {
        Subject::Customer(customer) => see_customer(c, customer, store, at, horizon, now).await,
        Subject::GiftCard(card) => {
            let Some(row) = c.query_opt(scope::CARD_ROW, &[&card, &store]).await? else {
                return Ok(());
            };
            let (owner, seen): (Option<String>, Option<i64>) = (row.get(0), row.get(1));
            if owner.is_none() {
                c.execute(scope::ENTER_LOCK_PG, &[&card]).await?;
            }
            c.execute(scope::SEE_CARD, &[&card, &store, &at]).await?;
            match owner {
                Some(owner) => see_customer(c, &owner, store, at, horizon, now).await,
                None => {
                    if !holds(0, seen, horizon) && at >= horizon {
                        c.execute(scope::FRESH_CARD, &[&card, &now]).await?;
                    }
                    Ok(())
                }
            }
        }
    }
}

/// One customer: [`see_customers`], so the rule has one place.
async fn see_customer(
    c: &impl GenericClient,
    customer: &str,
    store: &str,
    at: i64,
    horizon: i64,
    now: i64,
) -> Result<()> {
    see_customers(c, &[(customer, at)], store, horizon, now).await
}

/// Tells `store`'s tills of the customers whose scope there lapsed at `horizon` (as
/// [`crate::scope::tell_lapses`]), in one statement that writes nothing when there is none.
pub async fn tell_lapses(
    c: &impl GenericClient,
    store: &str,
    horizon: i64,
    now: i64,
) -> Result<()> {
    cached::execute(c, scope::LAPSE_STORE_PG, &[&store, &horizon, &now]).await?;
    Ok(())
}

async fn rows(c: &impl GenericClient, customer: &str) -> Result<Vec<(String, i64, Option<i64>)>> {
    Ok(c.query(scope::ROWS, &[&customer])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

async fn exists(c: &impl GenericClient, customer: &str) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM customers WHERE ref = $1", &[&customer])
            .await?
            .is_some(),
    )
}

/// A customer's stores; `None` for an unknown customer.
pub async fn stores_of(pg: &Pg, customer: &str, now: i64) -> Result<Option<CustomerStores>> {
    let c = pg.client().await?;
    if !exists(&c, customer).await? {
        return Ok(None);
    }
    let rows = rows(&c, customer).await?;
    Ok(Some(scope::customer_stores(
        customer,
        days(&c).await?,
        rows,
        now,
    )))
}

/// Makes `stores` the stores `customer` is assigned to (as [`crate::scope::assign`]).
pub async fn assign(
    pg: &Pg,
    customer: &str,
    stores: &[String],
    now: i64,
) -> Result<Option<CustomerStores>> {
    let stores = scope::check_stores(stores)?;
    retry(|| {
        let stores = stores.clone();
        async move {
            let mut client = pg.client().await?;
            let tx = client.transaction().await?;
            if tx
                .query_opt(
                    "SELECT 1 FROM customers WHERE ref = $1 FOR UPDATE",
                    &[&customer],
                )
                .await?
                .is_none()
            {
                return Ok(None);
            }
            tx.execute(scope::ENTER_LOCK_PG, &[&customer]).await?;
            let days = days(&tx).await?;
            let h = horizon(now, days);
            let before = rows(&tx, customer).await?;
            let mut entered = false;
            for store in &stores {
                entered |= !before
                    .iter()
                    .any(|(s, a, seen)| s == store && holds(*a, *seen, h));
                tx.execute(scope::ASSIGN, &[&customer, store]).await?;
            }
            for (store, assigned, _) in &before {
                if *assigned != 0 && stores.binary_search(store).is_err() {
                    tx.execute(scope::UNASSIGN, &[&customer, store]).await?;
                }
            }
            tx.execute(scope::LAPSE_CUSTOMER_PG, &[&customer, &h, &now])
                .await?;
            tx.execute(scope::DROP_EMPTY, &[&customer]).await?;
            if entered {
                tx.execute(scope::FRESH_CUSTOMER, &[&customer, &now])
                    .await?;
            }
            let after = rows(&tx, customer).await?;
            tx.commit().await?;
            Ok(Some(scope::customer_stores(customer, days, after, now)))
        }
    })
    .await
}

/// Records a live lookup by a till of `store` (as [`crate::scope::see_lookup`]).
pub async fn see_lookup(
    pg: &Pg,
    kind: LookupKind,
    subject: &str,
    store: &str,
    now: i64,
) -> Result<()> {
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let h = horizon(now, days(&tx).await?);
        see(
            &tx,
            scope::lookup_subject(kind, subject),
            store,
            now,
            h,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}
