//! Devices: each configured scanner, connected or not, its path, its last scan and its last
//! error with the hint; and today's scans per source (the POS's API included).

use axum::extract::State;
use maud::{Markup, html};

use super::{ago, live};
use crate::dashboard::auth::Ctx;
use crate::dashboard::days::{self, Day};
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::pages::scans::source_name;
use crate::dashboard::queries::scans::{self, SourceCounts};
use crate::dashboard::{Dash, DashError};
use crate::till::DeviceStatus;

/// `GET /dashboard/devices`.
pub(crate) async fn page(State(dash): State<Dash>, ctx: Ctx) -> Result<Markup, DashError> {
    let devices: Vec<(String, DeviceStatus)> = dash
        .app
        .devices
        .lock()
        .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let today = Day::containing(ctx.now, &ctx.tz);
    let (start, end) = today.map_or((ctx.now, ctx.now), |d| (d.start, d.end));
    let counts = dash.read(move |c| scans::per_source(c, start, end)).await?;
    Ok(render(&ctx, &devices, &counts))
}

fn render(ctx: &Ctx, devices: &[(String, DeviceStatus)], counts: &[SourceCounts]) -> Markup {
    let lang = ctx.lang;
    let title = T::DevicesTitle.get(lang);
    let count_of = |name: &str| counts.iter().find(|c| c.source == name);
    let content = html! {
        @if devices.is_empty() {
            p class="empty" id="no-devices" { (T::NoDevices.get(lang)) }
        } @else {
            table id="devices" {
                thead { tr {
                    th { (T::Scanner.get(lang)) }
                    th { (T::Status.get(lang)) }
                    th { (T::Path.get(lang)) }
                    th { (T::LastScan.get(lang)) }
                    th class="num" { (T::ScansToday.get(lang)) }
                    th { (T::LastError.get(lang)) }
                } }
                tbody {
                    @for (name, d) in devices {
                        tr {
                            td { strong { (name) } }
                            td {
                                @if d.connected { span class="badge ok" { (T::Connected.get(lang)) } }
                                @else { span class="badge bad" { (T::Disconnected.get(lang)) } }
                            }
                            td { @if let Some(p) = &d.path { span class="code" { (p) } } }
                            td {
                                @if let Some(at) = d.last_scan_at.and_then(|a| i64::try_from(a).ok()) {
                                    (days::date_time(at, &ctx.tz, lang)) " (" (ago(at, ctx.now, lang)) ")"
                                }
                            }
                            td class="num" {
                                @if let Some(c) = count_of(name) {
                                    (money::count(c.accepted + c.refused, lang))
                                } @else { "0" }
                            }
                            td { @if let Some(e) = &d.last_error { span class="error" { (e) } } }
                        }
                    }
                }
            }
        }
        section class="panel" {
            h2 { (T::ScansToday.get(lang)) }
            @if counts.is_empty() {
                p class="empty" { (T::NoScans.get(lang)) }
            } @else {
                table id="sources" {
                    thead { tr {
                        th { (T::Scanner.get(lang)) }
                        th class="num" { (T::Accepted.get(lang)) }
                        th class="num" { (T::Refused.get(lang)) }
                        th { (T::LastScan.get(lang)) }
                    } }
                    tbody {
                        @for c in counts {
                            tr {
                                td { (source_name(&c.source, lang)) }
                                td class="num" { (money::count(c.accepted, lang)) }
                                td class="num" { (money::count(c.refused, lang)) }
                                td { (days::time(c.last_at, &ctx.tz)) }
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
    layout::page(ctx, Nav::Devices, title, body)
}
