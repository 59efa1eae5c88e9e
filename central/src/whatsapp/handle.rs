//! The flows: one inbox item handled at a time, its effects and the replies it queues
//! committed with it in one transaction ([`store`]).
//!
//! - A number we do not know gets the consent request (naming the terms' version); a tap
//!   on "Acepto / I agree" creates the customer with an opaque reference (a hash of the
//!   accepting message's id: the same if the item is handled again) and records the
//!   evidence.
//! - A signed-up customer asks for the pass (rate-limited), the balance, the offers;
//!   "BAJA"/"STOP" opts out (confirmed; nothing more is sent), "ALTA"/"START" back in;
//!   "BORRAR"/"ERASE" asks, and the confirmation runs central's erasure and forgets the
//!   number.
//! - Receipts queued by ingestion go to the chat inside the 24-hour window, through the
//!   configured template outside it, or are recorded as not sent with the reason.

use sha2::{Digest, Sha256};
use tillpass_protocol::catalog::{Audience, Catalog};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{Consent, CustomerRef};

use super::delivery::{Inbound, Item, Status};
use super::intent::{self, Intent};
use super::sql::{self, Stmt, stmt};
use super::store::{self, ACTIVE, ASKED, Contact, OPTED_OUT};
use super::texts::{self, Message};
use super::{Channel, mask, now_ms};
use crate::customers::NewCustomer;
use crate::error::{Error, Result};
use crate::passes::{self, IssueOptions};
use crate::receipts::Receipt;
use crate::storage::{self, Database};

/// The 24-hour customer-service window.
pub const WINDOW_SECS: i64 = 24 * 3_600;

/// What handling an item leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Done (committed).
    Done,
    /// A status for a message whose `wamid` is not recorded yet: tried again later.
    NotYet,
}

/// Handles inbox item `id`.
pub async fn item(ch: &Channel, id: i64, item: Item) -> Result<Handled> {
    match item {
        Item::Status(status) => status_of(ch, id, &status).await,
        Item::Message(message) => {
            message_of(ch, id, &message).await?;
            Ok(Handled::Done)
        }
    }
}

async fn status_of(ch: &Channel, id: i64, status: &Status) -> Result<Handled> {
    let db = ch.db();
    let now = ch.now();
    let reason = status.error_code.map(|code| {
        format!(
            "Meta error {code}: {}",
            status.error_title.as_deref().unwrap_or_default()
        )
    });
    // A status naming the key of a message still waiting for its outcome settles it: the
    // answer to its attempt may never have been recorded (a timeout, a crash).
    if let Some(key) = &status.callback
        && let Some(row) = store::outbox_unsettled(db, key).await?
    {
        let settled = if status.status == "failed" {
            let why = reason.clone().unwrap_or_else(|| "failed".into());
            let failure = super::graph::failure_of_code(status.error_code, &why);
            let attempts = row.attempts + i64::from(row.expect.state == "in_flight");
            super::worker::settle(
                ch,
                &row.expect,
                row.fallback.as_deref(),
                attempts,
                failure,
                "failed",
            )
            .await?
        } else {
            let kept = serde_json::from_str::<Message>(&row.payload)
                .map(|m| serde_json::to_string(&m.kept()).unwrap_or_default())
                .unwrap_or(row.payload);
            store::outbox_sent(db, &row.expect, &status.status, &status.id, &kept, now).await?
        };
        if !settled {
            // It changed meanwhile: looked at again later.
            return Ok(Handled::NotYet);
        }
        sql::transaction(db, vec![store::inbox_done(id, now)]).await?;
        if let Some(reason) = reason {
            store::set_last_error(db, &reason, now).await?;
        }
        ch.wake_sender();
        return Ok(Handled::Done);
    }
    if !store::outbox_knows(db, &status.id).await? {
        // Our record of the send may not be committed yet: tried again later.
        return Ok(Handled::NotYet);
    }
    sql::transaction(
        db,
        vec![
            store::status_update(&status.id, &status.status, reason.as_deref(), now),
            store::inbox_done(id, now),
        ],
    )
    .await?;
    if let Some(reason) = reason {
        store::set_last_error(db, &reason, now).await?;
    }
    Ok(Handled::Done)
}

/// What handling a message decided: statements, then replies, in one transaction.
struct Plan {
    stmts: Vec<Stmt>,
    replies: Vec<Message>,
    lang: Lang,
    customer: Option<String>,
}

async fn message_of(ch: &Channel, id: i64, m: &Inbound) -> Result<()> {
    let db = ch.db();
    let now = ch.now();
    let contact = store::contact(db, &m.from).await?;
    let asked = intent::of(&m.content);
    let lang = intent::language(&m.content)
        .or_else(|| contact.as_ref().and_then(|c| Lang::from_code(&c.lang)))
        .unwrap_or_default();
    let mut plan = Plan {
        stmts: vec![stmt!(
            "INSERT INTO wa_contacts (wa_id, customer, lang, state, last_inbound_at,
                                      created_at, updated_at)
             VALUES ($1, NULL, $2, 'asked', $3, $3, $3)
             ON CONFLICT (wa_id) DO UPDATE SET lang = excluded.lang,
                 last_inbound_at = excluded.last_inbound_at, updated_at = excluded.updated_at",
            m.from.as_str(),
            lang.code(),
            now
        )],
        replies: vec![],
        lang,
        customer: contact.as_ref().and_then(|c| c.customer.clone()),
    };
    let terms = ch.config().terms_version.clone();
    match contact {
        Some(Contact {
            customer: Some(customer),
            ref state,
            last_pass_at,
            ..
        }) if state == ACTIVE => {
            active(ch, m, &customer, asked, last_pass_at, &mut plan).await?;
        }
        Some(Contact {
            ref state,
            ref customer,
            ..
        }) if state == OPTED_OUT => match asked {
            Intent::OptIn => {
                let next = if customer.is_some() { ACTIVE } else { ASKED };
                plan.stmts.push(set_state(&m.from, next, now));
                plan.stmts.push(store::consent(
                    customer.as_deref(),
                    Some(&m.from),
                    "opted_in",
                    Some(&terms),
                    Some(&m.id),
                    now,
                ));
                plan.replies.push(if customer.is_some() {
                    texts::opted_in(lang)
                } else {
                    texts::consent(lang, &terms)
                });
            }
            Intent::Erase => plan.replies.push(texts::erase_ask(lang)),
            Intent::EraseConfirmed => match customer {
                Some(customer) => erase(ch, m, customer, &mut plan).await?,
                None => forget(m, None, &mut plan, now),
            },
            // Opted out: nothing is sent but what they ask to come back.
            _ => {}
        },
        _ => match asked {
            Intent::Accept => sign_up(ch, m, &terms, &mut plan).await?,
            Intent::OptOut => {
                plan.stmts.push(set_state(&m.from, OPTED_OUT, now));
                plan.replies.push(texts::opted_out(lang));
            }
            Intent::Erase | Intent::EraseConfirmed => forget(m, None, &mut plan, now),
            _ => plan.replies.push(texts::consent(lang, &terms)),
        },
    }
    commit(ch, id, m, plan).await
}

async fn commit(ch: &Channel, id: i64, m: &Inbound, plan: Plan) -> Result<()> {
    let now = ch.now();
    let at = now_ms();
    let mut stmts = plan.stmts;
    for (n, reply) in plan.replies.iter().enumerate() {
        stmts.push(store::outbox_put(
            &format!("{}:{n}", m.id),
            &m.from,
            plan.customer.as_deref(),
            reply,
            None,
            at,
            now,
        ));
    }
    stmts.push(store::inbox_done(id, now));
    sql::transaction(ch.db(), stmts).await?;
    if !plan.replies.is_empty() {
        ch.wake_sender();
    }
    tracing::debug!(from = %mask(&m.from), replies = plan.replies.len(), lang = plan.lang.code(), "whatsapp message handled");
    Ok(())
}

fn set_state(wa_id: &str, state: &str, now: i64) -> Stmt {
    stmt!(
        "UPDATE wa_contacts SET state = $1, updated_at = $2 WHERE wa_id = $3",
        state,
        now,
        wa_id
    )
}

/// The customer reference a sign-up makes: opaque, and the same for the same message.
pub fn reference_for(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    format!("w{}", &hex::encode(digest)[..15])
}

/// A profile name as a first name: printable, at most 80 characters.
fn first_name(name: Option<&str>, lang: Lang) -> String {
    let name: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(crate::customers::MAX_NAME_LEN)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        match lang {
            Lang::Es => "Cliente".into(),
            Lang::En => "Customer".into(),
        }
    } else {
        name.split_whitespace().next().unwrap_or(name).to_owned()
    }
}

async fn sign_up(ch: &Channel, m: &Inbound, terms: &str, plan: &mut Plan) -> Result<()> {
    let now = ch.now();
    let reference = reference_for(&m.id);
    let name = first_name(m.name.as_deref(), plan.lang);
    let new = NewCustomer {
        customer: CustomerRef::new(reference.clone()).map_err(Error::internal)?,
        first_name: name.clone(),
        tier: None,
        lang: plan.lang,
        consent: Consent {
            receipts: true,
            marketing: false,
        },
        currency: None,
        savings: 0,
        segments: vec![],
    };
    match ch.db().create_customer(&new, now).await {
        Ok(()) => {}
        // Handled again after a crash: the customer is there already.
        Err(Error::Conflict(_)) if ch.db().savings(&reference).await?.is_some() => {}
        Err(e) => return Err(e),
    }
    plan.stmts.push(stmt!(
        "UPDATE wa_contacts SET customer = $1, state = 'active', updated_at = $2
         WHERE wa_id = $3",
        reference.as_str(),
        now,
        m.from.as_str()
    ));
    for what in ["programme_accepted", "receipts_accepted"] {
        plan.stmts.push(store::consent(
            Some(&reference),
            Some(&m.from),
            what,
            Some(terms),
            Some(&m.id),
            now,
        ));
    }
    plan.customer = Some(reference);
    plan.replies.push(texts::welcome(plan.lang, &name));
    Ok(())
}

async fn active(
    ch: &Channel,
    m: &Inbound,
    customer: &str,
    asked: Intent,
    last_pass_at: Option<i64>,
    plan: &mut Plan,
) -> Result<()> {
    let now = ch.now();
    let lang = plan.lang;
    match asked {
        Intent::Pass => {
            let interval = i64::try_from(ch.config().pass_interval.as_secs()).unwrap_or(i64::MAX);
            if let Some(last) = last_pass_at
                && now < last.saturating_add(interval)
            {
                plan.replies.push(texts::pass_too_soon(
                    lang,
                    last.saturating_add(interval) - now,
                ));
                return Ok(());
            }
            match pass(ch, customer, lang, now).await? {
                Some(image) => {
                    plan.stmts.push(stmt!(
                        "UPDATE wa_contacts SET last_pass_at = $1 WHERE wa_id = $2",
                        now,
                        m.from.as_str()
                    ));
                    plan.replies.push(image);
                }
                None => plan.replies.push(texts::unavailable(lang)),
            }
        }
        Intent::Balance => plan.replies.push(balance(ch.db(), customer, lang).await?),
        Intent::Offers => plan
            .replies
            .push(offers(ch.db(), customer, lang, now).await?),
        Intent::OptOut => {
            plan.stmts.push(set_state(&m.from, OPTED_OUT, now));
            plan.stmts.push(store::consent(
                Some(customer),
                Some(&m.from),
                "opted_out",
                None,
                Some(&m.id),
                now,
            ));
            plan.replies.push(texts::opted_out(lang));
        }
        Intent::OptIn => plan.replies.push(texts::opted_in(lang)),
        Intent::Erase => plan.replies.push(texts::erase_ask(lang)),
        Intent::EraseConfirmed => erase(ch, m, customer, plan).await?,
        Intent::Accept | Intent::Menu => plan.replies.push(texts::menu(lang)),
    }
    Ok(())
}

/// A fresh pass as an image with its caption; `None` when this central has no key folder
/// to sign with.
async fn pass(ch: &Channel, customer: &str, lang: Lang, now: i64) -> Result<Option<Message>> {
    let Some(keys) = ch.inner.keys.clone() else {
        return Ok(None);
    };
    let (issued, name, savings) = match ch.db() {
        Database::Sqlite(db) => {
            let who = customer.to_owned();
            db.call(move |c| {
                // One transaction (one sync to disk): the release of due savings and the
                // issued token's record.
                let tx = c.transaction()?;
                let issued =
                    passes::customer_pass(&tx, &keys, &who, &IssueOptions::default(), now)?;
                let record =
                    crate::customers::record(&tx, &who)?.ok_or(Error::NotFound("customer"))?;
                let (savings, _, _) =
                    crate::customers::balance(&tx, &who)?.ok_or(Error::NotFound("customer"))?;
                tx.commit()?;
                Ok((issued, record.first_name, savings))
            })
            .await?
        }
        db @ Database::Postgres(_) => {
            let issued = db
                .customer_pass(&keys, customer, &IssueOptions::default(), now)
                .await?;
            let view = db
                .customer(customer, now)
                .await?
                .ok_or(Error::NotFound("customer"))?;
            (issued, view.record.first_name, view.savings)
        }
    };
    Ok(Some(Message::Image {
        png_base64: issued.png_base64,
        caption: texts::pass_caption(lang, &name, savings),
    }))
}

async fn balance(db: &Database, customer: &str, lang: Lang) -> Result<Message> {
    let (savings, _) = db
        .savings(customer)
        .await?
        .ok_or(Error::NotFound("customer"))?;
    let pending = db.pending(customer).await?;
    let pending = pending
        .next_release_at
        .filter(|_| pending.amount > 0)
        .map(|at| (Money::new(pending.amount, savings.currency), at));
    let cards = sql::query(
        db,
        stmt!(
            "SELECT ref, currency, balance FROM gift_cards
             WHERE owner = $1 AND status = 'active' ORDER BY ref",
            customer
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| {
        let mut it = r.into_iter();
        let card = it.next()?.into_text()?;
        let currency = it.next()?.into_text()?;
        let amount = it.next()?.int()?;
        Some((card, storage::money(&currency, amount).ok()?))
    })
    .collect::<Vec<_>>();
    Ok(texts::balance(lang, savings, pending, &cards))
}

async fn offers(db: &Database, customer: &str, lang: Lang, now: i64) -> Result<Message> {
    let personal: Vec<String> = sql::query(
        db,
        stmt!(
            "SELECT promotion_id FROM personal_promotions
             WHERE customer = $1 AND enabled <> 0 AND (valid_until IS NULL OR valid_until > $2)
             ORDER BY promotion_id",
            customer,
            now
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| r.into_iter().next()?.into_text())
    .collect();
    let catalog = sql::query(
        db,
        stmt!(
            "SELECT c.body_cbor FROM envelopes e JOIN catalogs c ON c.id = e.source
             WHERE e.purpose = 'catalog' ORDER BY e.sequence DESC LIMIT 1"
        ),
    )
    .await?
    .into_iter()
    .next()
    .and_then(|r| match r.into_iter().next()? {
        sql::Val::Bytes(b) => ciborium::from_reader::<Catalog, _>(b.as_slice()).ok(),
        _ => None,
    });
    let at = u64::try_from(now).unwrap_or(0);
    let (mut mine, mut highlights) = (vec![], vec![]);
    if let Some(catalog) = &catalog {
        for p in catalog
            .promotions
            .iter()
            .filter(|p| p.valid_from <= at && at < p.valid_until)
        {
            if personal.contains(&p.id) {
                mine.push(p.label.get(lang).to_owned());
            } else if p.audience != Audience::Personal && highlights.len() < 3 {
                highlights.push(p.label.get(lang).to_owned());
            }
        }
    }
    Ok(texts::offers(lang, &mine, &highlights))
}

/// Erasure from the chat: central's erasure, then the number forgotten everywhere.
async fn erase(ch: &Channel, m: &Inbound, customer: &str, plan: &mut Plan) -> Result<()> {
    let now = ch.now();
    match ch.db().erase_customer(customer, now).await {
        Ok(_) | Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    forget(m, Some(customer), plan, now);
    Ok(())
}

/// Forgets a number: its contact, its evidence's number, its queued and unsent messages,
/// its inbox bodies; records the erasure; confirms (that message's number is cleared once
/// it is sent).
fn forget(m: &Inbound, customer: Option<&str>, plan: &mut Plan, now: i64) {
    let wa_id = m.from.as_str();
    let customer_or = customer.unwrap_or("");
    plan.stmts.extend([
        stmt!("DELETE FROM wa_contacts WHERE wa_id = $1", wa_id),
        stmt!(
            "UPDATE wa_consents SET wa_id = NULL WHERE wa_id = $1 OR customer = $2",
            wa_id,
            customer_or
        ),
        stmt!(
            "DELETE FROM wa_outbox WHERE state IN ('pending', 'unconfirmed')
                                     AND (wa_id = $1 OR customer = $2)",
            wa_id,
            customer_or
        ),
        stmt!(
            "UPDATE wa_outbox SET wa_id = NULL, payload = '{}' WHERE wa_id = $1 OR customer = $2",
            wa_id,
            customer_or
        ),
        stmt!("DELETE FROM wa_receipts WHERE customer = $1", customer_or),
        stmt!(
            "UPDATE wa_inbox SET body = NULL, number = NULL, handled_at = $1, error = 'erased'
             WHERE handled_at IS NULL AND body LIKE $2 AND message_id <> $3",
            now,
            format!("%\"from\":\"{wa_id}\"%"),
            m.id.as_str()
        ),
        store::consent(customer, None, "erased", None, Some(&m.id), now),
    ]);
    plan.customer = None;
    plan.replies = vec![texts::erased(plan.lang)];
}

/// Turns receipts queued by ingestion into messages; returns how many it took.
pub async fn receipts(ch: &Channel) -> Result<usize> {
    let db = ch.db();
    let queued = sql::query(
        db,
        stmt!("SELECT till, sale_id, customer FROM wa_receipts ORDER BY queued_at, till, sale_id LIMIT 32"),
    )
    .await?;
    let count = queued.len();
    for row in queued {
        let mut it = row.into_iter();
        let (Some(till), Some(sale), Some(customer)) = (
            it.next().and_then(sql::Val::into_text),
            it.next().and_then(sql::Val::into_text),
            it.next().and_then(sql::Val::into_text),
        ) else {
            continue;
        };
        receipt(ch, &till, &sale, &customer).await?;
    }
    Ok(count)
}

async fn receipt(ch: &Channel, till: &str, sale: &str, customer: &str) -> Result<()> {
    let db = ch.db();
    let now = ch.now();
    let done = stmt!(
        "DELETE FROM wa_receipts WHERE till = $1 AND sale_id = $2",
        till,
        sale
    );
    let contact = store::contact_of_customer(db, customer).await?;
    let body = sql::query(
        db,
        stmt!(
            "SELECT body FROM receipts WHERE till = $1 AND sale_id = $2",
            till,
            sale
        ),
    )
    .await?
    .into_iter()
    .next()
    .and_then(|r| r.into_iter().next()?.into_text());
    let (Some(contact), Some(body), Some((savings, _))) =
        (contact, body, db.savings(customer).await?)
    else {
        sql::transaction(db, vec![done]).await?;
        return Ok(());
    };
    if contact.state != ACTIVE {
        sql::transaction(db, vec![done]).await?;
        return Ok(());
    }
    let receipt: Receipt = serde_json::from_str(&body).map_err(Error::internal)?;
    let pending = Money::new(db.pending(customer).await?.amount, savings.currency);
    let lang = Lang::from_code(&contact.lang).unwrap_or_default();
    let key = format!("receipt:{till}:{sale}");
    let template = ch.config().receipt_template.as_deref().map(|name| {
        texts::receipt_template(
            name,
            lang,
            receipt.totals.net,
            receipt.savings_earned,
            receipt.savings_redeemed,
            savings,
        )
    });
    let text = texts::receipt(
        lang,
        &receipt.sale_id,
        receipt.totals.net,
        receipt.savings_earned,
        receipt.savings_redeemed,
        savings,
        pending,
    );
    let in_window = now < contact.last_inbound_at.saturating_add(WINDOW_SECS);
    let queue = match (in_window, &template) {
        (true, _) => store::outbox_put(
            &key,
            &contact.wa_id,
            Some(customer),
            &text,
            template.as_ref(),
            now_ms(),
            now,
        ),
        (false, Some(template)) => store::outbox_put(
            &key,
            &contact.wa_id,
            Some(customer),
            template,
            None,
            now_ms(),
            now,
        ),
        (false, None) => stmt!(
            "INSERT INTO wa_outbox (idempotency_key, wa_id, customer, kind, payload, state, rank,
                                    attempts, next_attempt_at, reason, created_at, updated_at)
             VALUES ($1, NULL, $2, 'text', $3, 'not_sent', 5, 0, 0, $4, $5, $5)
             ON CONFLICT (idempotency_key) DO NOTHING",
            key.as_str(),
            customer,
            serde_json::to_string(&text).unwrap_or_default(),
            "outside the 24-hour window and no receipt template configured",
            now
        ),
    };
    sql::transaction(db, vec![queue, done]).await?;
    ch.wake_sender();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_opaque_short_and_stable() {
        let a = reference_for("wamid.HBgLMzQ2MTEyMjIzMzMVAgASGBQzQTdG");
        assert_eq!(a, reference_for("wamid.HBgLMzQ2MTEyMjIzMzMVAgASGBQzQTdG"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, reference_for("wamid.other"));
        assert_eq!(first_name(Some("Ana María López"), Lang::Es), "Ana");
        assert_eq!(first_name(Some("\u{7}"), Lang::En), "Customer");
    }
}
