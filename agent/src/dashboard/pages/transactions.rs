//! Transactions: a day's sales newest first, fifty a page; search by sale id or customer
//! reference (live, through htmx); the day as CSV.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::{customer, day, day_picker, day_title};
use crate::dashboard::auth::Ctx;
use crate::dashboard::csv::{self, Field};
use crate::dashboard::days::{self, Day};
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries::day::sales_count;
use crate::dashboard::queries::sales::{self, Cursor, SaleRow};
use crate::dashboard::{CSV, Dash, DashError, TRANSACTIONS, url_escape};
use crate::identify::mask;

/// Sales on a page.
pub(crate) const PAGE: i64 = 50;

/// `?day=&q=&before=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    day: Option<String>,
    q: Option<String>,
    /// `closed_at:sale_id` of the last sale of the previous page.
    before: Option<String>,
}

fn cursor(text: &str) -> Option<Cursor> {
    let (t, id) = text.split_once(':')?;
    Some((t.parse().ok()?, id.to_owned()))
}

/// `GET /dashboard/transactions`.
pub(crate) async fn page(
    State(dash): State<Dash>,
    ctx: Ctx,
    Query(q): Query<ListQuery>,
) -> Result<Markup, DashError> {
    let day = day(&ctx, q.day.as_deref());
    let search: String =
        q.q.as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .take(128)
            .collect();
    let (start, end) = (day.start, day.end);
    let listing = if search.is_empty() {
        let before = q.before.as_deref().and_then(cursor);
        dash.read(move |c| {
            let rows = sales::day_page(c, start, end, before.as_ref(), PAGE)?;
            let count = sales_count(c, start, end)?;
            Ok(Listing::Day {
                rows,
                count,
                paged: before.is_some(),
            })
        })
        .await?
    } else {
        let q = search.clone();
        dash.read(move |c| Ok(Listing::Search(sales::search(c, &q, PAGE)?)))
            .await?
    };
    Ok(render(&ctx, &day, &search, &listing))
}

enum Listing {
    Day {
        rows: Vec<SaleRow>,
        count: i64,
        paged: bool,
    },
    Search(Vec<SaleRow>),
}

fn render(ctx: &Ctx, day: &Day, search: &str, listing: &Listing) -> Markup {
    let lang = ctx.lang;
    let title = T::NavTransactions.get(lang);
    let body = html! {
        h1 { (title) }
        form class="search" method="get" action=(TRANSACTIONS) role="search"
            hx-get=(TRANSACTIONS) hx-trigger="input changed delay:300ms from:#q, search from:#q"
            hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true"
            hx-include="this" {
            input type="hidden" name="day" value=(day.iso());
            label for="q" { (T::SearchSales.get(lang)) }
            input id="q" type="search" name="q" value=(search) maxlength="128" autocomplete="off";
            button type="submit" { (T::Search.get(lang)) }
            @if !search.is_empty() {
                a class="button" href=(format!("{TRANSACTIONS}?day={}", day.iso())) { (T::Clear.get(lang)) }
            }
        }
        @if search.is_empty() {
            (day_picker(ctx, TRANSACTIONS, day, &[]))
        }
        div id="results" {
            @match listing {
                Listing::Day { rows, count, paged } => {
                    h2 { (day_title(ctx, day)) " · " (T::SalesOnDay.with(lang, &money::count(*count, lang))) }
                    (table(ctx, rows, false))
                    p class="pager" {
                        @if *paged {
                            a class="button" href=(format!("{TRANSACTIONS}?day={}", day.iso())) { (T::Newest.get(lang)) }
                        }
                        @if i64::try_from(rows.len()).unwrap_or(0) == PAGE {
                            @if let Some(last) = rows.last() {
                                a class="button" id="older" href=(format!("{TRANSACTIONS}?day={}&before={}", day.iso(),
                                    url_escape(&format!("{}:{}", last.closed_at, last.sale_id)))) { (T::Older.get(lang)) }
                            }
                        }
                        a class="button" href=(format!("{CSV}?day={}", day.iso())) download { (T::DownloadCsv.get(lang)) }
                    }
                }
                Listing::Search(rows) => {
                    h2 { (T::ResultsFor.with(lang, search)) }
                    (table(ctx, rows, true))
                }
            }
        }
    };
    layout::page(ctx, Nav::Transactions, title, body)
}

fn table(ctx: &Ctx, rows: &[SaleRow], with_date: bool) -> Markup {
    let lang = ctx.lang;
    if rows.is_empty() {
        return html! { p class="empty" { (T::NoSaleFound.get(lang)) } };
    }
    html! {
        table id="sales" {
            thead { tr {
                th { (T::Time.get(lang)) }
                th { (T::Sale.get(lang)) }
                th { (T::Till.get(lang)) }
                th { (T::Customer.get(lang)) }
                th class="num" { (T::Lines.get(lang)) }
                th class="num" { (T::Gross.get(lang)) }
                th class="num" { (T::Discount.get(lang)) }
                th class="num" { (T::Net.get(lang)) }
                th class="num" { (T::Savings.get(lang)) }
                th class="num" { (T::GiftCard.get(lang)) }
                th {}
            } }
            tbody {
                @for s in rows {
                    @let m = |amount: i64| money::amount(amount, &s.currency, lang);
                    tr {
                        td { @if with_date { (days::date_time(s.closed_at, &ctx.tz, lang)) } @else { (days::time(s.closed_at, &ctx.tz)) } }
                        td { a class="code" href=(format!("{TRANSACTIONS}/{}", url_escape(&s.sale_id))) { (s.sale_id) } }
                        td { (s.till_id) }
                        td { (customer(s.first_name.as_deref(), s.customer_ref.as_deref(), lang)) }
                        td class="num" { (s.line_count) }
                        td class="num" { (m(s.gross)) }
                        td class="num" { (m(s.discount)) }
                        td class="num" { strong { (m(s.net)) } }
                        td class="num" {
                            @if s.savings_earned != 0 { span class="plus" { "+" (m(s.savings_earned)) } }
                            @if s.savings_redeemed != 0 { " " span class="minus" { "−" (m(s.savings_redeemed)) } }
                        }
                        td class="num" { @if s.gift_card_tendered != 0 { (m(s.gift_card_tendered)) } }
                        td { @if s.returns > 0 { span class="badge warn" { (T::Returned.get(lang)) } } }
                    }
                }
            }
        }
    }
}

/// `?day=` for the CSV.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsvQuery {
    day: Option<String>,
}

/// The CSV's columns.
pub(crate) const CSV_HEADER: [&str; 16] = [
    "sale_id",
    "closed_at",
    "till_id",
    "customer",
    "currency",
    "lines",
    "gross",
    "discount",
    "net",
    "savings_earned",
    "savings_redeemed",
    "gift_card_tendered",
    "other_tenders",
    "returns",
    "refunded",
    "loyalty",
];

/// `GET /dashboard/transactions.csv?day=`: this till's sales of the day, oldest first;
/// customers as masked references only.
pub(crate) async fn csv(
    State(dash): State<Dash>,
    ctx: Ctx,
    Query(q): Query<CsvQuery>,
) -> Result<Response, DashError> {
    let day = day(&ctx, q.day.as_deref());
    let (start, end) = (day.start, day.end);
    let tz = ctx.tz.clone();
    let text = dash
        .read(move |c| {
            let mut out = String::new();
            csv::row(&mut out, &CSV_HEADER.map(Field::Text));
            sales::for_each_in_day(c, start, end, |r| {
                let s = &r.row;
                let p = |amount: i64| money::plain(amount, &s.currency);
                let other = s.net - s.savings_redeemed - s.gift_card_tendered;
                let masked = s.customer_ref.as_deref().map(mask).unwrap_or_default();
                csv::row(
                    &mut out,
                    &[
                        Field::Text(&s.sale_id),
                        Field::Text(&days::rfc3339(s.closed_at, &tz)),
                        Field::Text(&s.till_id),
                        Field::Text(&masked),
                        Field::Text(&s.currency),
                        Field::Number(&s.line_count.to_string()),
                        Field::Number(&p(s.gross)),
                        Field::Number(&p(s.discount)),
                        Field::Number(&p(s.net)),
                        Field::Number(&p(s.savings_earned)),
                        Field::Number(&p(s.savings_redeemed)),
                        Field::Number(&p(s.gift_card_tendered)),
                        Field::Number(&p(other)),
                        Field::Number(&s.returns.to_string()),
                        Field::Number(&p(r.refunded)),
                        Field::Number(if s.customer_ref.is_some() { "1" } else { "0" }),
                    ],
                );
            })?;
            Ok(out)
        })
        .await?;
    let filename = format!("tillpass-{}.csv", day.iso());
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        text,
    )
        .into_response())
}
