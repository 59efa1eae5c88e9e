//! One module per page, and the pieces they share: the day picker, figure cards, how a
//! customer and a duration are shown.

pub(crate) mod devices;
pub(crate) mod promotions;
pub(crate) mod sale;
pub(crate) mod scans;
pub(crate) mod sync;
pub(crate) mod today;
pub(crate) mod transactions;

use maud::{Markup, html};
use serde::Deserialize;
use tillpass_protocol::lang::Lang;

use super::auth::Ctx;
use super::days::Day;
use super::i18n::T;
use crate::identify::mask;

/// `?day=YYYY-MM-DD`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DayQuery {
    /// The day; today when absent or not a date.
    pub day: Option<String>,
}

/// The day asked for, or today in the store's time zone.
pub(crate) fn day(ctx: &Ctx, asked: Option<&str>) -> Day {
    asked
        .and_then(|d| Day::parse(d, &ctx.tz))
        .or_else(|| Day::containing(ctx.now, &ctx.tz))
        .unwrap_or(Day {
            date: jiff::civil::Date::constant(2000, 1, 1),
            start: ctx.now,
            end: ctx.now.saturating_add(86_400),
        })
}

/// Whether `day` is the store's today.
pub(crate) fn is_today(ctx: &Ctx, day: &Day) -> bool {
    (day.start..day.end).contains(&ctx.now)
}

/// The title of a day: "Today" or its date.
pub(crate) fn day_title(ctx: &Ctx, day: &Day) -> String {
    if is_today(ctx, day) {
        format!("{} · {}", T::Today.get(ctx.lang), day.label(ctx.lang))
    } else {
        day.label(ctx.lang)
    }
}

/// A GET form choosing the day for `action`, with links to the days around it. `keep`
/// are other query parameters to carry (name, value).
pub(crate) fn day_picker(ctx: &Ctx, action: &str, day: &Day, keep: &[(&str, &str)]) -> Markup {
    let lang = ctx.lang;
    let extra: String = keep
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("&{k}={}", super::url_escape(v)))
        .collect();
    let link = |d: &Day| format!("{action}?day={}{extra}", d.iso());
    html! {
        form class="day-picker" method="get" action=(action) {
            @for (k, v) in keep {
                @if !v.is_empty() { input type="hidden" name=(k) value=(v); }
            }
            @if let Some(previous) = day.previous(&ctx.tz) {
                a class="button" href=(link(&previous)) id="previous-day" { (T::PreviousDay.get(lang)) }
            }
            label for="day" { (T::Day.get(lang)) }
            input id="day" type="date" name="day" value=(day.iso()) required;
            button type="submit" { (T::Show.get(lang)) }
            @if let Some(next) = day.next(&ctx.tz) {
                @if next.start <= ctx.now {
                    a class="button" href=(link(&next)) id="next-day" { (T::NextDay.get(lang)) }
                }
            }
        }
    }
}

/// A figure card.
pub(crate) fn card(label: &str, value: &str, note: Option<&str>, id: &str) -> Markup {
    html! {
        div class="card" id=(id) {
            div class="label" { (label) }
            div class="value" { (value) }
            @if let Some(note) = note { div class="note" { (note) } }
        }
    }
}

/// A customer as managers see them: first name and masked reference.
pub(crate) fn customer(first_name: Option<&str>, reference: Option<&str>, lang: Lang) -> Markup {
    match reference {
        None => html! { span class="muted" { (T::NotIdentified.get(lang)) } },
        Some(r) => html! {
            @if let Some(name) = first_name.filter(|n| !n.trim().is_empty()) {
                (name) " "
            }
            span class="ref" { (mask(r)) }
        },
    }
}

/// A duration: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
pub(crate) fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// "2 h 5 min ago", from `then` to `now`.
pub(crate) fn ago(then: i64, now: i64, lang: Lang) -> String {
    T::Ago.with(lang, &duration(now.saturating_sub(then)))
}

/// A self-refreshing region: htmx fetches the same page every 10 seconds and swaps the
/// region with the fresh one (the page works the same without script).
pub(crate) fn live(ctx: &Ctx, body: Markup) -> Markup {
    html! {
        div id="live" hx-get=(ctx.back) hx-trigger="every 10s" hx-select="#live"
            hx-target="this" hx-swap="outerHTML" {
            (body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(59), "59 s");
        assert_eq!(duration(60 * 12 + 5), "12 min");
        assert_eq!(duration(3600 * 3 + 60 * 20), "3 h 20 min");
        assert_eq!(duration(86_400 * 2 + 3600 * 4), "2 d 4 h");
        assert_eq!(ago(0, 90, Lang::Es), "hace 1 min");
        assert_eq!(ago(0, 90, Lang::En), "1 min ago");
    }

    #[test]
    fn customers_are_masked() {
        let html = customer(Some("Ana"), Some("C-000123"), Lang::Es).into_string();
        assert!(html.contains("Ana") && html.contains("C-••••23") && !html.contains("000123"));
        let html = customer(None, None, Lang::En).into_string();
        assert!(html.contains("Not identified"));
    }
}
