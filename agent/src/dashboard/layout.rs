//! The page shell: head (stylesheet, htmx and its configuration), the navigation, the
//! manager's name, the language switch and sign-out (both POST forms with the CSRF
//! token).

use maud::{DOCTYPE, Markup, html};
use tillpass_protocol::lang::Lang;

use super::auth::Ctx;
use super::i18n::T;
use super::{CSS, DEVICES, HTMX, LANG, LOGOUT, PROMOTIONS, SCANS, SYNC, TODAY, TRANSACTIONS};

/// htmx's settings: no `eval`, no inline styles (the CSP forbids both), requests only to
/// the agent, and no copy of pages in the browser's storage (they hold customer names).
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"historyCacheSize":0,"refreshOnHistoryMiss":true}"#;

/// The dashboard's pages, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    /// Today.
    Today,
    /// Transactions.
    Transactions,
    /// Scans.
    Scans,
    /// Sync.
    Sync,
    /// Devices.
    Devices,
    /// Promotions.
    Promotions,
}

const NAV: [(Nav, &str, T); 6] = [
    (Nav::Today, TODAY, T::NavToday),
    (Nav::Transactions, TRANSACTIONS, T::NavTransactions),
    (Nav::Scans, SCANS, T::NavScans),
    (Nav::Sync, SYNC, T::NavSync),
    (Nav::Devices, DEVICES, T::NavDevices),
    (Nav::Promotions, PROMOTIONS, T::NavPromotions),
];

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=(HTMX_CONFIG);
            meta name="referrer" content="no-referrer";
            title { (title) " · " (T::Dashboard.get(lang)) }
            link rel="stylesheet" href=(CSS);
            script src=(HTMX) defer {}
        }
    }
}

/// A page for a signed-in manager.
pub(crate) fn page(ctx: &Ctx, current: Nav, title: &str, body: Markup) -> Markup {
    let lang = ctx.lang;
    let other = match lang {
        Lang::Es => Lang::En,
        Lang::En => Lang::Es,
    };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body {
                header class="top" {
                    a class="brand" href=(TODAY) { "tillpass" span { (T::Dashboard.get(lang)) } }
                    nav aria-label=(T::Dashboard.get(lang)) {
                        @for (nav, href, text) in NAV {
                            @if nav == current {
                                a href=(href) aria-current="page" { (text.get(lang)) }
                            } @else {
                                a href=(href) { (text.get(lang)) }
                            }
                        }
                    }
                    div class="who" {
                        span class="name" { (T::SignedInAs.with(lang, &ctx.name)) }
                        form class="inline" method="post" action=(LANG) {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            input type="hidden" name="lang" value=(other.code());
                            input type="hidden" name="back" value=(ctx.back);
                            button type="submit" id="switch-lang" lang=(other.code())
                                title=(T::OtherLanguageHint.get(lang)) { (T::OtherLanguage.get(lang)) }
                        }
                        form class="inline" method="post" action=(LOGOUT) {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            button type="submit" id="sign-out" { (T::SignOut.get(lang)) }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(lang, title))
            body class="bare" {
                main id="main" { (body) }
            }
        }
    }
}
