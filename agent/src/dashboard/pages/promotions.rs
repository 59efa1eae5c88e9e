//! Promotions: the catalog in force and the one scheduled to replace it, searchable by id
//! or name (live, through htmx), with each promotion's audience, validity, stacking and
//! rules.

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;
use tillpass_protocol::catalog::{Audience, EffectKind, Promotion, Rule};
use tillpass_protocol::lang::Lang;

use crate::dashboard::auth::Ctx;
use crate::dashboard::days;
use crate::dashboard::i18n::T;
use crate::dashboard::layout::{self, Nav};
use crate::dashboard::money;
use crate::dashboard::queries;
use crate::dashboard::{Dash, DashError, PROMOTIONS};

/// `?q=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PromotionsQuery {
    q: Option<String>,
}

/// Whether a promotion matches the search: its id or its name in either language contains
/// every word, ignoring case.
fn matches(p: &Promotion, q: &str) -> bool {
    let hay = format!("{} {} {}", p.id, p.label.es, p.label.en).to_lowercase();
    q.to_lowercase()
        .split_whitespace()
        .all(|word| hay.contains(word))
}

/// `GET /dashboard/promotions`.
pub(crate) async fn page(
    State(dash): State<Dash>,
    ctx: Ctx,
    Query(q): Query<PromotionsQuery>,
) -> Result<Markup, DashError> {
    let search: String =
        q.q.as_deref()
            .unwrap_or("")
            .trim()
            .chars()
            .take(128)
            .collect();
    let active = dash.app.catalogs.active();
    let scheduled = dash.read(queries::sync::scheduled_catalog).await?;
    let lang = ctx.lang;
    let title = T::PromotionsTitle.get(lang);
    let body = html! {
        h1 { (title) }
        form class="search" method="get" action=(PROMOTIONS) role="search"
            hx-get=(PROMOTIONS) hx-trigger="input changed delay:300ms from:#q, search from:#q"
            hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" {
            label for="q" { (T::SearchPromotions.get(lang)) }
            input id="q" type="search" name="q" value=(search) maxlength="128" autocomplete="off";
            button type="submit" { (T::Search.get(lang)) }
        }
        div id="results" {
            @match &active {
                None => p class="empty" { (T::NoCatalog.get(lang)) },
                Some(a) => {
                    @let catalog = a.engine.catalog();
                    @let shown: Vec<&Promotion> = catalog.promotions.iter().filter(|p| matches(p, &search)).collect();
                    p class="muted" {
                        (T::CatalogInForce.with(lang, &a.sequence.to_string())) " · "
                        (T::Issued.get(lang)) " " (days::date_time(i64::try_from(a.issued_at).unwrap_or(i64::MAX), &ctx.tz, lang))
                        " · " (catalog.currency.code()) " · "
                        (T::PromotionsCount.with(lang, &money::count(i64::try_from(shown.len()).unwrap_or(0), lang)))
                    }
                    (table(&ctx, &shown, "promotions"))
                }
            }
            @if let Some((s, catalog)) = &scheduled {
                @let shown: Vec<&Promotion> = catalog.promotions.iter().filter(|p| matches(p, &search)).collect();
                section class="panel" id="scheduled" {
                    h2 { (T::ScheduledCatalog.get(lang)) ": " (T::Version.get(lang)) " " (s.sequence) }
                    p class="muted" {
                        (T::Issued.get(lang)) " " (days::date_time(s.issued_at, &ctx.tz, lang))
                        @if let Some(at) = s.activates_at {
                            " · " (T::ActivatesAt.get(lang)) " " (days::date_time(at, &ctx.tz, lang))
                        }
                        " · " (T::PromotionsCount.with(lang, &money::count(i64::try_from(shown.len()).unwrap_or(0), lang)))
                    }
                    (table(&ctx, &shown, "scheduled-promotions"))
                }
            }
        }
    };
    Ok(layout::page(&ctx, Nav::Promotions, title, body))
}

fn audience(a: Audience, lang: Lang) -> &'static str {
    match a {
        Audience::Everyone => T::AudienceEveryone.get(lang),
        Audience::Members => T::AudienceMembers.get(lang),
        Audience::Personal => T::AudiencePersonal.get(lang),
    }
}

fn rule_kinds(p: &Promotion, lang: Lang) -> Vec<String> {
    p.rules
        .iter()
        .map(|r| {
            let label = EffectKind::of(r).label(lang);
            match r {
                Rule::PercentOff { percent: p, .. } => {
                    format!("{label} {}", percent(u64::from(p.basis_points()), lang))
                }
                _ => label.to_owned(),
            }
        })
        .collect()
}

/// Basis points as a percentage: `10 %`, `12,5 %` (es), `12.5%` (en).
fn percent(bp: u64, lang: Lang) -> String {
    let (whole, hundredths) = (bp / 100, bp % 100);
    let fraction = match hundredths {
        0 => String::new(),
        h if h.is_multiple_of(10) => format!("{}", h / 10),
        h => format!("{h:02}"),
    };
    match (lang, fraction.is_empty()) {
        (Lang::Es, true) => format!("{whole}\u{a0}%"),
        (Lang::Es, false) => format!("{whole},{fraction}\u{a0}%"),
        (Lang::En, true) => format!("{whole}%"),
        (Lang::En, false) => format!("{whole}.{fraction}%"),
    }
}

fn table(ctx: &Ctx, shown: &[&Promotion], id: &str) -> Markup {
    let lang = ctx.lang;
    if shown.is_empty() {
        return html! { p class="empty" { (T::NoPromotions.get(lang)) } };
    }
    let now = u64::try_from(ctx.now).unwrap_or(0);
    let date = |t: u64| days::date_time(i64::try_from(t).unwrap_or(i64::MAX), &ctx.tz, lang);
    html! {
        table id=(id) {
            thead { tr {
                th { (T::Id.get(lang)) }
                th { (T::Promotion.get(lang)) }
                th { (T::Status.get(lang)) }
                th { (T::Valid.get(lang)) }
                th { (T::Audience.get(lang)) }
                th { (T::Stacking.get(lang)) }
                th { (T::Rules.get(lang)) }
            } }
            tbody {
                @for p in shown {
                    tr {
                        td { span class="code" { (p.id) } }
                        td {
                            (p.label.get(lang))
                            @if let Some(v) = &p.voucher { " · " (T::Voucher.get(lang)) " " span class="code" { (v) } }
                        }
                        td {
                            @if now < p.valid_from { span class="badge" { (T::StatusUpcoming.get(lang)) } }
                            @else if now >= p.valid_until { span class="badge muted" { (T::StatusEnded.get(lang)) } }
                            @else { span class="badge ok" { (T::StatusActive.get(lang)) } }
                        }
                        td { (date(p.valid_from)) " – " (date(p.valid_until)) }
                        td { (audience(p.audience, lang)) }
                        td {
                            (T::Priority.get(lang)) " " (p.priority)
                            @if let Some(g) = &p.group { " · " (T::GroupOf.with(lang, g)) }
                            @if p.exclusive { " · " (T::Exclusive.get(lang)) }
                        }
                        td { (rule_kinds(p, lang).join(", ")) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(percent(1000, Lang::Es), "10\u{a0}%");
        assert_eq!(percent(1250, Lang::Es), "12,5\u{a0}%");
        assert_eq!(percent(1205, Lang::En), "12.05%");
    }
}
