//! How amounts, counts and shares are written for a store manager: `12,50 €` and
//! `1.234` in Spanish, `€12.50` and `1,234` in English.
//!
//! Amounts are integer minor units with their ISO 4217 code (as the store keeps them); the
//! currency's exponent comes from `tillpass_protocol::money`. Spanish groups thousands only
//! from five integer digits (`1234,50 €`, `12.345,00 €`), as the RAE and CLDR write it.

use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Currency;

/// A no-break space: an amount and its symbol never end up on two lines.
const NBSP: char = '\u{a0}';

/// `amount` minor units of the currency `code`, written for `lang`. An unknown code is
/// written as the plain number of minor units and the code, never an error.
pub(crate) fn amount(amount: i64, code: &str, lang: Lang) -> String {
    let Ok(currency) = Currency::from_code(code) else {
        return format!("{}{NBSP}{code}", count(amount, lang));
    };
    let number = decimal(amount.unsigned_abs(), currency.exponent(), lang);
    let sign = if amount < 0 { "-" } else { "" };
    match (lang, symbol(currency.code(), lang)) {
        (Lang::Es, Some(symbol)) => format!("{sign}{number}{NBSP}{symbol}"),
        (Lang::Es, None) => format!("{sign}{number}{NBSP}{}", currency.code()),
        (Lang::En, Some(symbol)) => format!("{sign}{symbol}{number}"),
        (Lang::En, None) => format!("{sign}{}{NBSP}{number}", currency.code()),
    }
}

/// The same amount as a plain decimal for files (`-12.50`): no grouping, a dot, no symbol.
pub(crate) fn plain(amount: i64, code: &str) -> String {
    let exponent = Currency::from_code(code)
        .map(Currency::exponent)
        .unwrap_or(0);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!("{sign}{}.{:0width$}", abs / scale, abs % scale)
}

fn symbol(code: &str, lang: Lang) -> Option<&'static str> {
    match (code, lang) {
        ("EUR", _) => Some("€"),
        ("GBP", _) => Some("£"),
        ("USD", Lang::En) => Some("$"),
        ("USD", Lang::Es) => Some("US$"),
        _ => None,
    }
}

fn decimal(abs: u64, exponent: u8, lang: Lang) -> String {
    let (separator, point) = match lang {
        Lang::Es => ('.', ','),
        Lang::En => (',', '.'),
    };
    if exponent == 0 {
        return group(abs, separator, lang);
    }
    let scale = 10_u64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!(
        "{}{point}{:0width$}",
        group(abs / scale, separator, lang),
        abs % scale
    )
}

fn group(n: u64, separator: char, lang: Lang) -> String {
    let digits = n.to_string();
    // Spanish leaves four-digit numbers whole.
    if lang == Lang::Es && digits.len() <= 4 {
        return digits;
    }
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// A count: `12.345` (es), `12,345` (en).
pub(crate) fn count(n: i64, lang: Lang) -> String {
    let separator = match lang {
        Lang::Es => '.',
        Lang::En => ',',
    };
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(n.unsigned_abs(), separator, lang))
}

/// `part` of `whole` as a percentage with one decimal, rounded half up: `37,5 %` (es),
/// `37.5%` (en); `—` when `whole` is zero.
pub(crate) fn share(part: i64, whole: i64, lang: Lang) -> String {
    if whole <= 0 {
        return "—".to_owned();
    }
    let permille = (i128::from(part.max(0)) * 2000 + i128::from(whole)) / (2 * i128::from(whole));
    let whole_part = permille / 10;
    let tenth = permille % 10;
    match lang {
        Lang::Es => format!("{whole_part},{tenth}{NBSP}%"),
        Lang::En => format!("{whole_part}.{tenth}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euros_are_written_as_each_language_writes_them() {
        assert_eq!(amount(1250, "EUR", Lang::Es), "12,50\u{a0}€");
        assert_eq!(amount(1250, "EUR", Lang::En), "€12.50");
        assert_eq!(amount(-5, "EUR", Lang::Es), "-0,05\u{a0}€");
        assert_eq!(amount(-5, "EUR", Lang::En), "-€0.05");
        assert_eq!(amount(0, "EUR", Lang::En), "€0.00");
        assert_eq!(amount(123_450, "EUR", Lang::Es), "1234,50\u{a0}€");
        assert_eq!(amount(1_234_567, "EUR", Lang::Es), "12.345,67\u{a0}€");
        assert_eq!(amount(123_450, "EUR", Lang::En), "€1,234.50");
        assert_eq!(amount(12_345_678_900, "EUR", Lang::En), "€123,456,789.00");
    }

    #[test]
    fn other_currencies_use_their_exponent_and_symbol_or_code() {
        assert_eq!(amount(500, "JPY", Lang::En), "JPY\u{a0}500");
        assert_eq!(amount(500, "JPY", Lang::Es), "500\u{a0}JPY");
        assert_eq!(amount(1_234, "BHD", Lang::En), "BHD\u{a0}1.234");
        assert_eq!(amount(1999, "USD", Lang::En), "$19.99");
        assert_eq!(amount(1999, "USD", Lang::Es), "19,99\u{a0}US$");
        assert_eq!(amount(1999, "GBP", Lang::En), "£19.99");
        assert_eq!(amount(1999, "???", Lang::En), "1,999\u{a0}???");
    }

    #[test]
    fn extremes_do_not_overflow() {
        assert_eq!(
            amount(i64::MIN, "EUR", Lang::En),
            "-€92,233,720,368,547,758.08"
        );
        assert_eq!(plain(i64::MIN, "EUR"), "-92233720368547758.08");
        assert_eq!(count(i64::MIN, Lang::Es), "-9.223.372.036.854.775.808");
    }

    #[test]
    fn plain_amounts_are_for_files() {
        assert_eq!(plain(123_450, "EUR"), "1234.50");
        assert_eq!(plain(-7, "EUR"), "-0.07");
        assert_eq!(plain(500, "JPY"), "500");
    }

    #[test]
    fn counts_and_shares() {
        assert_eq!(count(1234, Lang::Es), "1234");
        assert_eq!(count(12_345, Lang::Es), "12.345");
        assert_eq!(count(1234, Lang::En), "1,234");
        assert_eq!(share(1, 3, Lang::Es), "33,3\u{a0}%");
        assert_eq!(share(2, 3, Lang::En), "66.7%");
        assert_eq!(share(0, 0, Lang::En), "—");
        assert_eq!(share(5, 5, Lang::En), "100.0%");
    }
}
