//! Sync: the store's offline-risk ledger first — every till's spends against balances
//! central had not confirmed, by day, with central's outcome, and central's flags for the
//! store — then online or not, the last good exchange, earn-only, the outbox, the catalog
//! and the trust list with their ages, the clock, what this till spent that central has
//! not confirmed yet, and central's rejections.

use axum::extract::State;
use maud::{Markup, html};

use super::{ago, duration, live};
use crate::dashboard::auth::Ctx;
use crate::dashboard::days;
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries::sync::{self, Ledger, LedgerSpend, Risk, SyncFacts};
use crate::dashboard::{Dash, DashError};

/// What the page shows from memory (not the store).
struct Live {
    snapshot: crate::till::SyncSnapshot,
    catalog: Option<(u64, u64)>,
    trust: Option<(u64, u64)>,
    skew_secs: u64,
    skew_alarm: bool,
}

/// `GET /dashboard/sync`.
pub(crate) async fn page(State(dash): State<Dash>, ctx: Ctx) -> Result<Markup, DashError> {
    let facts = dash.read(sync::facts).await?;
    let clock = dash.app.clock;
    let state = Live {
        snapshot: dash.app.sync.snapshot(),
        catalog: dash
            .app
            .catalogs
            .active()
            .map(|a| (a.sequence, a.issued_at)),
        trust: dash.app.identifier.trust_sequence(),
        skew_secs: clock.skew_secs(),
        skew_alarm: clock.skew_alarm(),
    };
    Ok(render(&ctx, &facts, &state))
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An age against the policy's maximum: the maximum, or a warning past it.
fn age_limit(age: i64, max: Option<u64>, lang: tillpass_protocol::lang::Lang) -> Markup {
    html! {
        @if let Some(max) = max {
            " · "
            @if age > i(max) {
                span class="badge bad" { (T::TooOld.with(lang, &duration(i(max)))) }
            } @else {
                span class="muted" { (T::AtMost.with(lang, &duration(i(max)))) }
            }
        }
    }
}

fn render(ctx: &Ctx, f: &SyncFacts, s: &Live) -> Markup {
    let lang = ctx.lang;
    let now = ctx.now;
    let policy = s.snapshot.offline_policy.as_ref();
    let title = T::SyncTitle.get(lang);
    let content = html! {
        (ledger(ctx, &f.ledger))
        dl class="facts" id="sync-facts" {
            dt { (T::Connection.get(lang)) }
            dd {
                @if s.snapshot.online { span class="badge ok" id="online" { (T::Online.get(lang)) } }
                @else { span class="badge bad" id="online" { (T::Offline.get(lang)) } }
            }
            dt { (T::LastSync.get(lang)) }
            dd {
                @match s.snapshot.last_success_at {
                    Some(at) => { (days::date_time(i(at), &ctx.tz, lang)) " (" (ago(i(at), now, lang)) ")" }
                    None => (T::Never.get(lang)),
                }
            }
            @if let Some(reason) = &s.snapshot.earn_only {
                dt { (T::EarnOnly.get(lang)) }
                dd { span class="badge warn" { (reason) } }
            }
            dt { (T::Outbox.get(lang)) }
            dd id="outbox" {
                strong { (money::count(f.outbox_depth, lang)) }
                @if let Some(oldest) = f.outbox_oldest {
                    " · " (T::OldestEvent.get(lang)) ": " (days::date_time(oldest, &ctx.tz, lang))
                    " (" (ago(oldest, now, lang)) ")"
                }
            }
            dt { (T::RejectedCount.get(lang)) }
            dd id="rejected-count" {
                @if f.rejected_count > 0 {
                    span class="badge bad" { (money::count(f.rejected_count, lang)) }
                } @else { "0" }
            }
            dt { (T::Catalog.get(lang)) }
            dd {
                @match s.catalog {
                    Some((seq, issued)) => {
                        (T::Version.get(lang)) " " (seq) " · " (T::Issued.get(lang)) " "
                        (days::date_time(i(issued), &ctx.tz, lang))
                        " · " (T::Age.get(lang)) " " (duration(now.saturating_sub(i(issued))))
                        (age_limit(now.saturating_sub(i(issued)), policy.map(|p| p.max_catalog_age_secs), lang))
                    }
                    None => span class="badge warn" { (T::NoCatalog.get(lang)) },
                }
            }
            dt { (T::ScheduledCatalog.get(lang)) }
            dd {
                @match &f.scheduled {
                    Some(c) => {
                        (T::Version.get(lang)) " " (c.sequence) " · " (T::Issued.get(lang)) " "
                        (days::date_time(c.issued_at, &ctx.tz, lang))
                        @if let Some(at) = c.activates_at {
                            " · " (T::ActivatesAt.get(lang)) " " (days::date_time(at, &ctx.tz, lang))
                        }
                    }
                    None => (T::None.get(lang)),
                }
            }
            dt { (T::TrustList.get(lang)) }
            dd {
                @match s.trust {
                    Some((seq, issued)) => {
                        (T::Version.get(lang)) " " (seq) " · " (T::Age.get(lang)) " "
                        (duration(now.saturating_sub(i(issued))))
                        (age_limit(now.saturating_sub(i(issued)), policy.map(|p| p.max_trust_list_age_secs), lang))
                    }
                    None => span class="badge bad" { (T::NotEnrolled.get(lang)) },
                }
            }
            dt { (T::Clock.get(lang)) }
            dd {
                @if s.skew_alarm || s.skew_secs > 0 {
                    span class=(if s.skew_alarm { "badge bad" } else { "badge warn" }) {
                        (T::ClockBehind.with(lang, &duration(i(s.skew_secs))))
                    }
                } @else {
                    (T::ClockOk.get(lang))
                }
            }
        }
        section class="panel" {
            h2 { (T::OfflineRisk.get(lang)) }
            table id="offline-risk" {
                tbody {
                    (risk_rows(ctx, T::SavingsUnsynced, T::CustomersCount, &f.savings,
                        policy.map(|p| T::CapPerCustomer.with(lang, &money::amount(
                            p.max_savings_spend_per_customer.amount,
                            p.max_savings_spend_per_customer.currency.code(), lang)))))
                    (risk_rows(ctx, T::GiftCardsUnsynced, T::CardsCount, &f.gift_cards,
                        policy.map(|p| T::CapPerCard.with(lang, &money::amount(
                            p.max_gift_card_spend_per_card.amount,
                            p.max_gift_card_spend_per_card.currency.code(), lang)))))
                }
            }
        }
        section class="panel" {
            h2 { (T::Conflicts.get(lang)) }
            @if f.rejected.is_empty() {
                p class="empty" { (T::None.get(lang)) }
            } @else {
                p id="rejected-help" { (T::RejectedHelp.get(lang)) }
                table id="conflicts" {
                    thead { tr {
                        th { (T::Event.get(lang)) }
                        th { (T::Kind.get(lang)) }
                        th { (T::Created.get(lang)) }
                        th { (T::RefusedAt.get(lang)) }
                        th class="num" { (T::Attempts.get(lang)) }
                        th { (T::CentralReason.get(lang)) }
                    } }
                    tbody {
                        @for r in &f.rejected {
                            tr {
                                td { span class="code" { "#" (r.seq) " " (r.event_id) } }
                                td { (r.kind) }
                                td { (days::date_time(r.created_at, &ctx.tz, lang)) }
                                td { @if let Some(at) = r.rejected_at { (days::date_time(at, &ctx.tz, lang)) } }
                                td class="num" { (r.attempts) }
                                td {
                                    span class="code" {
                                        @if let Some(code) = &r.code { (code) ": " }
                                        (r.reason.chars().take(300).collect::<String>())
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { (title) }
        (live(ctx, content))
    };
    layout::page(ctx, Nav::Sync, title, body)
}

fn risk_rows(ctx: &Ctx, label: T, holders: T, risks: &[Risk], cap: Option<String>) -> Markup {
    let lang = ctx.lang;
    html! {
        @if risks.is_empty() {
            tr {
                th { (label.get(lang)) }
                td class="num" { "0" }
                td {}
                td class="muted" { @if let Some(cap) = &cap { (cap) } }
            }
        }
        @for r in risks {
            tr {
                th { (label.get(lang)) }
                td class="num" { strong { (money::amount(r.amount, &r.currency, lang)) } }
                td { (holders.with(lang, &money::count(r.holders, lang))) }
                td class="muted" { @if let Some(cap) = &cap { (cap) } }
            }
        }
    }
}

/// A day of the store's ledger: its date, and per currency the spends, what was spent,
/// what went beyond the balance, and how many of each outcome.
#[derive(Default)]
struct DayTotals {
    spends: i64,
    amount: i64,
    short: i64,
    confirmed: i64,
    debt: i64,
    resolved: i64,
}

fn by_day(ctx: &Ctx, spends: &[LedgerSpend]) -> Vec<((String, String), DayTotals)> {
    let mut days: Vec<((String, String), DayTotals)> = Vec::new();
    for s in spends {
        let label = days::Day::containing(s.at, &ctx.tz)
            .map_or_else(|| "—".to_owned(), |d| d.label(ctx.lang));
        let key = (label, s.currency.clone());
        let at = match days.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                days.push((key, DayTotals::default()));
                days.len() - 1
            }
        };
        let t = &mut days[at].1;
        t.spends += 1;
        t.amount = t.amount.saturating_add(s.amount);
        t.short = t.short.saturating_add(s.short);
        match s.outcome.as_str() {
            "confirmed" => t.confirmed += 1,
            "debt" => t.debt += 1,
            "resolved" => t.resolved += 1,
            _ => {}
        }
    }
    days
}

fn source_label(code: &str) -> T {
    match code {
        "snapshot" => T::SourceSnapshot,
        "cached" => T::SourceCached,
        "live" => T::SourceLive,
        _ => T::SourceUnknown,
    }
}

fn outcome_badge(code: &str, lang: tillpass_protocol::lang::Lang) -> Markup {
    let (class, text) = match code {
        "confirmed" => ("badge ok", T::OutcomeConfirmed),
        "debt" => ("badge bad", T::OutcomeDebt),
        "resolved" => ("badge warn", T::OutcomeResolved),
        _ => ("badge", T::OutcomeUnknown),
    };
    html! { span class=(class) data-outcome=(code) { (text.get(lang)) } }
}

fn flag_label(kind: &str) -> T {
    match kind {
        "overspend_debt" => T::FlagOverspend,
        "token_at_two_stores" => T::FlagTokenTwoStores,
        "reversal_clamped" => T::FlagReversalClamped,
        "return_exceeds_sale" => T::FlagReturnExceedsSale,
        _ => T::FlagOther,
    }
}

/// The store's ledger: by day, each spend, and central's flags.
fn ledger(ctx: &Ctx, l: &Ledger) -> Markup {
    let lang = ctx.lang;
    html! {
        section class="panel" id="store-ledger" {
            h2 { (T::StoreLedger.get(lang)) }
            p class="muted" { (T::StoreLedgerHelp.get(lang)) }
            @if l.spends.is_empty() {
                p class="empty" id="ledger-empty" { (T::LedgerEmpty.get(lang)) }
            } @else {
                h3 { (T::LedgerByDay.get(lang)) }
                table id="ledger-days" {
                    thead { tr {
                        th { (T::Day.get(lang)) }
                        th class="num" { (T::Spends.get(lang)) }
                        th class="num" { (T::Spent.get(lang)) }
                        th class="num" { (T::BeyondBalance.get(lang)) }
                        th class="num" { (T::OutcomeConfirmed.get(lang)) }
                        th class="num" { (T::OutcomeDebt.get(lang)) }
                        th class="num" { (T::OutcomeResolved.get(lang)) }
                    } }
                    tbody {
                        @for ((day, currency), t) in by_day(ctx, &l.spends) {
                            tr {
                                th { (day) }
                                td class="num" { (money::count(t.spends, lang)) }
                                td class="num" { (money::amount(t.amount, &currency, lang)) }
                                td class="num" { (money::amount(t.short, &currency, lang)) }
                                td class="num" { (t.confirmed) }
                                td class="num" { (t.debt) }
                                td class="num" { (t.resolved) }
                            }
                        }
                    }
                }
                h3 { (T::LedgerEntries.get(lang)) }
                table id="ledger-entries" {
                    thead { tr {
                        th { (T::Time.get(lang)) }
                        th { (T::Till.get(lang)) }
                        th { (T::Holder.get(lang)) }
                        th class="num" { (T::Amount.get(lang)) }
                        th class="num" { (T::BeyondBalance.get(lang)) }
                        th { (T::LedgerSource.get(lang)) }
                        th { (T::Outcome.get(lang)) }
                    } }
                    tbody {
                        @for s in &l.spends {
                            tr {
                                td { (days::date_time(s.at, &ctx.tz, lang)) }
                                td { span class="code" { (s.till) } }
                                td {
                                    @if s.account == "gift_card" { (T::AccountGiftCard.get(lang)) } @else { (T::AccountSavings.get(lang)) }
                                    " " span class="code" { (s.holder) }
                                }
                                td class="num" { (money::amount(s.amount, &s.currency, lang)) }
                                td class="num" { (money::amount(s.short, &s.currency, lang)) }
                                td { (source_label(&s.source).get(lang)) }
                                td { (outcome_badge(&s.outcome, lang)) }
                            }
                        }
                    }
                }
            }
            h3 { (T::LedgerFlags.get(lang)) }
            @if l.flags.is_empty() {
                p class="empty" { (T::None.get(lang)) }
            } @else {
                table id="ledger-flags" {
                    thead { tr {
                        th { (T::Raised.get(lang)) }
                        th { (T::Kind.get(lang)) }
                        th { (T::Holder.get(lang)) }
                        th { (T::Detail.get(lang)) }
                        th { (T::Status.get(lang)) }
                    } }
                    tbody {
                        @for f in &l.flags {
                            tr {
                                td { (days::date_time(f.raised_at, &ctx.tz, lang)) }
                                td data-kind=(f.kind) { (flag_label(&f.kind).get(lang)) }
                                td { span class="code" { (f.holder) } }
                                td { (f.detail) }
                                td {
                                    @if f.resolved { span class="badge ok" { (T::OutcomeResolved.get(lang)) } }
                                    @else { span class="badge bad" { (T::Flagged.get(lang)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
