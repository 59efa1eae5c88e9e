//! One sale: its lines, every effect (promotion, kind, amount), its tenders, its totals and
//! its returns with what each refunded to which tender.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use tillpass_engine::{ClosedSale, Quantity, ReturnOutcome, Tender};
use tillpass_protocol::lang::Lang;

use super::customer;
use crate::dashboard::auth::Ctx;
use crate::dashboard::days;
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries::sales::{self, ReturnRow, SaleDetail};
use crate::dashboard::{Dash, DashError, TRANSACTIONS};
use crate::identify::mask;

/// `GET /dashboard/transactions/{sale_id}`.
pub(crate) async fn page(
    State(dash): State<Dash>,
    ctx: Ctx,
    Path(sale_id): Path<String>,
) -> Result<Response, DashError> {
    let id: String = sale_id.chars().take(256).collect();
    let detail = dash.read(move |c| sales::detail(c, &id)).await?;
    let lang = ctx.lang;
    let Some(detail) = detail else {
        let body = html! {
            h1 { (T::SaleNotFound.get(lang)) }
            p { a href=(TRANSACTIONS) { (T::BackToSales.get(lang)) } }
        };
        return Ok((
            StatusCode::NOT_FOUND,
            layout::page(&ctx, Nav::Transactions, T::SaleNotFound.get(lang), body),
        )
            .into_response());
    };
    Ok(render(&ctx, &detail).into_response())
}

fn quantity(q: Quantity) -> String {
    match q {
        Quantity::Units(n) => n.to_string(),
        Quantity::Grams(g) => format!("{g} g"),
    }
}

fn tender(t: &Tender, lang: Lang) -> String {
    match t {
        Tender::Savings { .. } => T::TenderSavings.get(lang).to_owned(),
        Tender::GiftCard { card, .. } => T::TenderGiftCard.with(lang, &mask(card.as_str())),
        other => T::TenderOther.with(lang, other.pos_method().unwrap_or_default()),
    }
}

fn render(ctx: &Ctx, d: &SaleDetail) -> Markup {
    let lang = ctx.lang;
    let s = &d.row;
    let m = |amount: i64| money::amount(amount, &s.currency, lang);
    let closed: Option<ClosedSale> = serde_json::from_str(&d.sale).ok();
    let title = T::SaleTitle.with(lang, &s.sale_id);
    let body = html! {
        p { a href=(TRANSACTIONS) { (T::BackToSales.get(lang)) } }
        h1 { (title) }
        dl class="facts" id="sale-facts" {
            dt { (T::ClosedAt.get(lang)) } dd { (days::date_time(s.closed_at, &ctx.tz, lang)) }
            dt { (T::Till.get(lang)) } dd {
                (s.till_id) " · "
                @if s.origin == "local" { (T::OriginLocal.get(lang)) } @else { (T::OriginStore.get(lang)) }
            }
            dt { (T::Customer.get(lang)) } dd {
                (customer(s.first_name.as_deref(), s.customer_ref.as_deref(), lang))
                @if let Some(tier) = &d.tier { " · " (T::Tier.get(lang)) " " (tier) }
            }
            dt { (T::Gross.get(lang)) } dd { (m(s.gross)) }
            dt { (T::Discount.get(lang)) } dd { (m(s.discount)) }
            dt { (T::Net.get(lang)) } dd { strong { (m(s.net)) } }
            dt { (T::SavingsEarned.get(lang)) } dd { (m(s.savings_earned)) }
            dt { (T::SavingsRedeemed.get(lang)) } dd { (m(s.savings_redeemed)) }
            dt { (T::GiftCardTender.get(lang)) } dd { (m(s.gift_card_tendered)) }
        }
        @match &closed {
            None => p class="alert" { (T::DetailUnreadable.get(lang)) },
            Some(sale) => (detail(ctx, sale)),
        }
        section class="panel" id="returns" {
            h2 { (T::Returns.get(lang)) }
            @if d.returns.is_empty() {
                p class="empty" { (T::NoReturns.get(lang)) }
            } @else {
                @for r in &d.returns { (return_block(ctx, r, &s.currency)) }
            }
        }
    };
    layout::page(ctx, Nav::Transactions, &title, body)
}

fn detail(ctx: &Ctx, sale: &ClosedSale) -> Markup {
    let lang = ctx.lang;
    let e = &sale.evaluation;
    html! {
        section class="panel" {
            h2 { (T::Lines.get(lang)) }
            table id="lines" {
                thead { tr {
                    th { (T::Item.get(lang)) }
                    th class="num" { (T::Quantity.get(lang)) }
                    th class="num" { (T::UnitPrice.get(lang)) }
                    th class="num" { (T::Subtotal.get(lang)) }
                    th class="num" { (T::Discount.get(lang)) }
                    th class="num" { (T::Total.get(lang)) }
                    th class="num" { (T::SavingsEarned.get(lang)) }
                } }
                tbody {
                    @for l in &e.lines {
                        tr {
                            td { span class="code" { (l.sku) } " " span class="muted" { "#" (l.line_id) } }
                            td class="num" { (quantity(l.quantity)) }
                            td class="num" { (money::amount(l.unit_price.amount, l.unit_price.currency.code(), lang)) }
                            td class="num" { (money::amount(l.subtotal.amount, l.subtotal.currency.code(), lang)) }
                            td class="num" { (money::amount(l.discount.amount, l.discount.currency.code(), lang)) }
                            td class="num" { (money::amount(l.total.amount, l.total.currency.code(), lang)) }
                            td class="num" { (money::amount(l.savings_earned.amount, l.savings_earned.currency.code(), lang)) }
                        }
                    }
                }
            }
        }
        section class="panel" {
            h2 { (T::EffectsTitle.get(lang)) }
            @if e.effects.is_empty() {
                p class="empty" { (T::NoEffects.get(lang)) }
            } @else {
                table id="effects" {
                    thead { tr {
                        th { (T::Promotion.get(lang)) }
                        th { (T::Kind.get(lang)) }
                        th { (T::Voucher.get(lang)) }
                        th class="num" { (T::Amount.get(lang)) }
                    } }
                    tbody {
                        @for effect in &e.effects {
                            tr {
                                td { (effect.label.get(lang)) " " span class="code" { (effect.promotion_id) } }
                                td { (effect.kind.label(lang)) }
                                td { @if let Some(v) = &effect.voucher { span class="code" { (mask(v)) } } }
                                td class="num" {
                                    @if effect.is_discount() { "−" }
                                    @else { "+" }
                                    (money::amount(effect.amount.amount, effect.amount.currency.code(), lang))
                                }
                            }
                        }
                    }
                }
            }
        }
        section class="panel" {
            h2 { (T::Tenders.get(lang)) }
            table id="tenders" {
                tbody {
                    @for t in &sale.tenders {
                        tr {
                            td { (tender(t, lang)) }
                            td class="num" { (money::amount(t.amount().amount, t.amount().currency.code(), lang)) }
                        }
                    }
                    tr class="total" {
                        th { (T::Total.get(lang)) }
                        td class="num" { strong { (money::amount(e.totals.total.amount, e.totals.total.currency.code(), lang)) } }
                    }
                }
            }
        }
    }
}

fn return_block(ctx: &Ctx, r: &ReturnRow, currency: &str) -> Markup {
    let lang = ctx.lang;
    let m = |amount: i64| money::amount(amount, currency, lang);
    let outcome: Option<ReturnOutcome> = serde_json::from_str(&r.outcome).ok();
    html! {
        article class="return" {
            h3 {
                (T::ReturnId.get(lang)) " " span class="code" { (r.return_id) }
                " · " (days::date_time(r.returned_at, &ctx.tz, lang))
                @if let Some(till) = &r.till_id { " · " (T::Till.get(lang)) " " (till) }
            }
            dl class="facts" {
                dt { (T::Refund.get(lang)) } dd { strong { (m(r.refund)) } }
                dt { (T::SavingsReversed.get(lang)) } dd { (m(r.savings_reversed)) }
            }
            @if let Some(o) = outcome {
                table {
                    thead { tr {
                        th { (T::Item.get(lang)) }
                        th class="num" { (T::Quantity.get(lang)) }
                        th class="num" { (T::Refund.get(lang)) }
                    } }
                    tbody {
                        @for l in &o.lines {
                            tr {
                                td { span class="muted" { "#" (l.line_id) } }
                                td class="num" { (quantity(l.quantity)) }
                                td class="num" { (money::amount(l.refund.amount, l.refund.currency.code(), lang)) }
                            }
                        }
                    }
                }
                p {
                    (T::RefundTo.get(lang)) ": "
                    @for (i, t) in o.tenders.iter().filter(|t| t.amount().amount != 0).enumerate() {
                        @if i > 0 { ", " }
                        (tender(t, lang)) " " (money::amount(t.amount().amount, t.amount().currency.code(), lang))
                    }
                }
            }
        }
    }
}
