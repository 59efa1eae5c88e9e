//! Today (or a chosen day): sales and the share with a loyalty customer, discounts, savings
//! earned and redeemed, gift-card tender, returns, sales per hour and the top promotions.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use maud::{Markup, html};
use tillpass_protocol::lang::Lang;

use super::{DayQuery, card, day, day_picker, day_title};
use crate::dashboard::auth::Ctx;
use crate::dashboard::chart::{self, Bar};
use crate::dashboard::days::Day;
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries::day::{self as figures, DayReport, Totals};
use crate::dashboard::{CSV, Dash, DashError, TODAY};

/// `GET /dashboard/today?day=`.
pub(crate) async fn page(
    State(dash): State<Dash>,
    ctx: Ctx,
    Query(q): Query<DayQuery>,
) -> Result<Markup, DashError> {
    let day = day(&ctx, q.day.as_deref());
    let (start, end) = (day.start, day.end);
    let report = dash.read(move |c| figures::report(c, start, end)).await?;
    let labels = labels(&dash, ctx.lang);
    let currency = dash
        .app
        .catalogs
        .engine()
        .map(|e| e.currency().code().to_owned())
        .unwrap_or_else(|| "EUR".to_owned());
    Ok(render(&ctx, &day, &report, &labels, &currency))
}

/// The active catalog's promotion names in `lang`, by id.
pub(crate) fn labels(dash: &Dash, lang: Lang) -> BTreeMap<String, String> {
    dash.app
        .catalogs
        .engine()
        .map(|e| {
            e.catalog()
                .promotions
                .iter()
                .map(|p| (p.id.clone(), p.label.get(lang).to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn render(
    ctx: &Ctx,
    day: &Day,
    report: &DayReport,
    labels: &BTreeMap<String, String>,
    currency: &str,
) -> Markup {
    let lang = ctx.lang;
    let empty = [Totals {
        currency: currency.to_owned(),
        ..Totals::default()
    }];
    let totals: &[Totals] = if report.totals.is_empty() {
        &empty
    } else {
        &report.totals
    };
    let title = day_title(ctx, day);
    let body = html! {
        h1 { (title) }
        (day_picker(ctx, TODAY, day, &[]))
        p class="muted" { (T::ThisTill.get(lang)) }
        @for t in totals {
            @let m = |amount: i64| money::amount(amount, &t.currency, lang);
            section class="cards" aria-label=(t.currency) {
                (card(T::Sales.get(lang), &money::count(t.sales, lang), None, "kpi-sales"))
                (card(T::LoyaltySales.get(lang), &money::count(t.loyalty_sales, lang),
                    Some(&T::ShareOfSales.with(lang, &money::share(t.loyalty_sales, t.sales, lang))),
                    "kpi-loyalty"))
                (card(T::NetSales.get(lang), &m(t.net),
                    Some(&T::LoyaltyNetShare.with(lang, &money::share(t.loyalty_net, t.net, lang))),
                    "kpi-net"))
                (card(T::Discounts.get(lang), &m(t.discount), None, "kpi-discounts"))
                (card(T::SavingsEarned.get(lang), &m(t.savings_earned), None, "kpi-earned"))
                (card(T::SavingsRedeemed.get(lang), &m(t.savings_redeemed), None, "kpi-redeemed"))
                (card(T::GiftCardTender.get(lang), &m(t.gift_card_tendered), None, "kpi-gift-cards"))
                @let r = report.returns.iter().find(|r| r.currency == t.currency);
                (card(T::Returns.get(lang),
                    &money::count(r.map_or(0, |r| r.returns), lang),
                    Some(&T::Refunded.with(lang, &m(r.map_or(0, |r| r.refund)))),
                    "kpi-returns"))
            }
        }
        @if report.totals.is_empty() {
            p class="empty" id="no-sales" { (T::NoSales.get(lang)) }
        }
        section class="panel" {
            h2 { (T::SalesPerHour.get(lang)) }
            (hourly(ctx, day, report))
            p class="legend" {
                span class="swatch all" {} (T::LegendAll.get(lang))
                span class="swatch part" {} (T::LegendLoyalty.get(lang))
            }
        }
        section class="panel" {
            h2 { (T::TopPromotions.get(lang)) }
            @if report.top.is_empty() {
                p class="empty" { (T::NoPromotionUses.get(lang)) }
            } @else {
                table id="top-promotions" {
                    thead { tr {
                        th { (T::Promotion.get(lang)) }
                        th class="num" { (T::Uses.get(lang)) }
                        th class="num" { (T::Amount.get(lang)) }
                    } }
                    tbody {
                        @for p in &report.top {
                            tr {
                                td {
                                    @if let Some(label) = labels.get(&p.promotion_id) { (label) " " }
                                    span class="code" { (p.promotion_id) }
                                }
                                td class="num" { (money::count(p.uses, lang)) }
                                td class="num" { (money::amount(p.amount, &p.currency, lang)) }
                            }
                        }
                    }
                }
            }
        }
        p { a class="button" id="download-csv" href=(format!("{CSV}?day={}", day.iso())) download { (T::DownloadCsv.get(lang)) } }
    };
    layout::page(ctx, Nav::Today, &title, body)
}

fn hourly(ctx: &Ctx, day: &Day, report: &DayReport) -> Markup {
    let lang = ctx.lang;
    let mut quarters = report.quarters.iter().peekable();
    let bars: Vec<Bar> = day
        .hours(&ctx.tz)
        .into_iter()
        .map(|(hour, start, end)| {
            let (mut sales, mut loyalty) = (0_i64, 0_i64);
            while let Some(&&(at, s, l)) = quarters.peek() {
                if at >= end {
                    break;
                }
                if at >= start {
                    sales += s;
                    loyalty += l;
                }
                quarters.next();
            }
            Bar {
                label: format!("{hour:02}"),
                total: sales,
                part: loyalty,
                title: format!(
                    "{hour:02}:00 · {}: {} · {}: {}",
                    T::Sales.get(lang),
                    money::count(sales, lang),
                    T::LoyaltySales.get(lang),
                    money::count(loyalty, lang)
                ),
            }
        })
        .collect();
    chart::bars(&bars, T::SalesPerHour.get(lang), &|v| money::count(v, lang))
}
