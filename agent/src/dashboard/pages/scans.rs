//! Scans: accepted and refused, per scanner, with the refusal reasons, for a day; filters by
//! scanner and result; refreshes itself while it shows today.

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;
use tillpass_protocol::lang::Lang;

use super::{day, day_picker, day_title, is_today, live};
use crate::dashboard::auth::Ctx;
use crate::dashboard::days;
use crate::dashboard::i18n::{self, T};
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries::scans::{self, ScanRow, SourceCounts};
use crate::dashboard::{Dash, DashError, SCANS};

/// The scans listed at most.
const LATEST: i64 = 200;

/// `?day=&source=&result=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ScansQuery {
    day: Option<String>,
    source: Option<String>,
    /// `accepted` or `refused`.
    result: Option<String>,
}

/// A source's name as managers read it.
pub(crate) fn source_name(source: &str, lang: Lang) -> String {
    if source == "api" {
        T::SourceApi.get(lang).to_owned()
    } else {
        source.to_owned()
    }
}

/// `GET /dashboard/scans`.
pub(crate) async fn page(
    State(dash): State<Dash>,
    ctx: Ctx,
    Query(q): Query<ScansQuery>,
) -> Result<Markup, DashError> {
    let day = day(&ctx, q.day.as_deref());
    let source = q.source.filter(|s| !s.is_empty());
    let accepted = match q.result.as_deref() {
        Some("accepted") => Some(true),
        Some("refused") => Some(false),
        _ => None,
    };
    let (start, end) = (day.start, day.end);
    let filter = source.clone();
    let (per_source, reasons, latest) = dash
        .read(move |c| {
            Ok((
                scans::per_source(c, start, end)?,
                scans::reasons(c, start, end, filter.as_deref())?,
                scans::latest(c, start, end, filter.as_deref(), accepted, LATEST)?,
            ))
        })
        .await?;
    let lang = ctx.lang;
    let result = q.result.unwrap_or_default();
    let source = source.unwrap_or_default();
    let title = format!("{} · {}", T::ScansTitle.get(lang), day_title(&ctx, &day));
    let content = html! {
        section class="panel" {
            h2 { (T::PerScanner.get(lang)) }
            (per_source_table(&ctx, &per_source))
        }
        section class="panel" {
            h2 { (T::RefusalReasons.get(lang)) }
            @if reasons.is_empty() {
                p class="empty" { (T::NoScans.get(lang)) }
            } @else {
                table id="reasons" {
                    thead { tr { th { (T::Reason.get(lang)) } th class="num" { (T::Count.get(lang)) } } }
                    tbody {
                        @for (code, n) in &reasons {
                            tr {
                                td { (i18n::reason(code, lang).unwrap_or(code)) " " span class="code" { (code) } }
                                td class="num" { (money::count(*n, lang)) }
                            }
                        }
                    }
                }
            }
        }
        section class="panel" {
            h2 { (T::LatestScans.get(lang)) }
            (latest_table(&ctx, &latest))
        }
    };
    let body = html! {
        h1 { (title) }
        (day_picker(&ctx, SCANS, &day, &[("source", &source), ("result", &result)]))
        form class="filters" method="get" action=(SCANS) {
            input type="hidden" name="day" value=(day.iso());
            label for="source" { (T::Scanner.get(lang)) }
            select id="source" name="source" {
                option value="" { (T::AllScanners.get(lang)) }
                @for s in &per_source {
                    option value=(s.source) selected[s.source == source] { (source_name(&s.source, lang)) }
                }
            }
            label for="result" { (T::Result.get(lang)) }
            select id="result" name="result" {
                option value="" { (T::AllResults.get(lang)) }
                option value="accepted" selected[result == "accepted"] { (T::Accepted.get(lang)) }
                option value="refused" selected[result == "refused"] { (T::Refused.get(lang)) }
            }
            button type="submit" { (T::Filter.get(lang)) }
        }
        @if is_today(&ctx, &day) { (live(&ctx, content)) } @else { (content) }
    };
    Ok(layout::page(&ctx, Nav::Scans, &title, body))
}

fn per_source_table(ctx: &Ctx, rows: &[SourceCounts]) -> Markup {
    let lang = ctx.lang;
    if rows.is_empty() {
        return html! { p class="empty" { (T::NoScans.get(lang)) } };
    }
    html! {
        table id="per-scanner" {
            thead { tr {
                th { (T::Scanner.get(lang)) }
                th class="num" { (T::Accepted.get(lang)) }
                th class="num" { (T::Refused.get(lang)) }
                th { (T::LastScan.get(lang)) }
            } }
            tbody {
                @for s in rows {
                    tr {
                        td { (source_name(&s.source, lang)) }
                        td class="num" { (money::count(s.accepted, lang)) }
                        td class="num" { (money::count(s.refused, lang)) }
                        td { (days::time(s.last_at, &ctx.tz)) }
                    }
                }
            }
        }
    }
}

fn latest_table(ctx: &Ctx, rows: &[ScanRow]) -> Markup {
    let lang = ctx.lang;
    if rows.is_empty() {
        return html! { p class="empty" { (T::NoScans.get(lang)) } };
    }
    html! {
        table id="scans" {
            thead { tr {
                th { (T::Time.get(lang)) }
                th { (T::Scanner.get(lang)) }
                th { (T::Result.get(lang)) }
                th { (T::Reason.get(lang)) }
                th { (T::Detail.get(lang)) }
                th { (T::Kind.get(lang)) }
                th { (T::Reference.get(lang)) }
                th class="num" { (T::Latency.get(lang)) }
            } }
            tbody {
                @for s in rows {
                    tr class=(if s.accepted { "accepted" } else { "refused" }) {
                        td { (days::time(s.at, &ctx.tz)) }
                        td { (source_name(&s.source, lang)) }
                        td {
                            @if s.accepted { span class="badge ok" { (T::AcceptedOne.get(lang)) } }
                            @else { span class="badge bad" { (T::RefusedOne.get(lang)) } }
                        }
                        td {
                            @if let Some(code) = &s.code {
                                (i18n::reason(code, lang).unwrap_or(code)) " " span class="code" { (code) }
                            }
                        }
                        td { @if let Some(d) = &s.detail { span class="code" { (d) } } }
                        td { @if let Some(k) = &s.token_kind { (i18n::token_kind(k, lang).unwrap_or(k)) } }
                        td { @if let Some(r) = &s.subject_masked { span class="ref" { (r) } } }
                        td class="num" { (format!("{}.{} ms", s.latency_us / 1000, s.latency_us % 1000 / 100)) }
                    }
                }
            }
        }
    }
}
