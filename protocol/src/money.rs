//! Money: integer minor units with an ISO 4217 currency.
//!
//! - [`Currency`]: an ISO 4217 currency with its exponent (the number of minor-unit
//!   digits), from the complete table of the `iso_currency` crate.
//! - [`Money`]: an `i64` amount of minor units in one currency. Every operation is checked:
//!   overflow and mixed currencies are errors, never wrap-arounds.
//! - [`Rate`]: a percentage in basis points (1/100 of a percent), applied with
//!   half-even rounding ([`Money::percent`]).
//! - [`allocate`]: splits an amount across weights by largest remainder so that the parts
//!   always sum exactly to the whole.
//!
//! On the wire money is `{"amount": 1999, "currency": "EUR"}`: minor units, never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// What can go wrong with money. Every variant is a refusal to compute, never a guess.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// The result does not fit in an `i64` of minor units.
    #[error("amount overflow")]
    Overflow,
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The code is not an ISO 4217 currency.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// The ISO 4217 numeric code is not a known currency.
    #[error("unknown currency number {0}")]
    UnknownCurrencyNumber(u16),
    /// The currency has no minor unit defined (precious metals, funds, testing codes) and
    /// cannot be used for retail amounts.
    #[error("currency {0} has no minor unit and cannot hold retail amounts")]
    NoMinorUnit(String),
    /// An allocation was asked for with no weights, or only zero weights.
    #[error("allocation needs at least one positive weight")]
    NoWeights,
    /// A divisor of zero.
    #[error("division by zero")]
    DivisionByZero,
}

/// An ISO 4217 currency usable for retail amounts (it has a defined minor unit).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: iso_currency::Currency,
    exponent: u8,
}

impl Currency {
    /// The euro.
    pub const EUR: Currency = Currency {
        code: iso_currency::Currency::EUR,
        exponent: 2,
    };

    /// Looks up an alphabetic ISO 4217 code such as `EUR`. Upper case only, as the
    /// standard writes it.
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let iso = iso_currency::Currency::from_code(code)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(8).collect()))?;
        Currency::from_iso(iso)
    }

    /// Every alphabetic code [`Currency::from_code`] accepts, in alphabetical order (for
    /// documents that list them: the POS API's schema).
    pub fn known_codes() -> Vec<String> {
        let letters = b'A'..=b'Z';
        let mut codes = Vec::new();
        for a in letters.clone() {
            for b in letters.clone() {
                for c in letters.clone() {
                    let code = String::from_utf8_lossy(&[a, b, c]).into_owned();
                    if Currency::from_code(&code).is_ok() {
                        codes.push(code);
                    }
                }
            }
        }
        codes
    }

    /// Looks up a numeric ISO 4217 code such as 978 (EUR), the compact form tokens carry.
    pub fn from_numeric(number: u16) -> Result<Currency, MoneyError> {
        let iso = iso_currency::Currency::from_numeric(number)
            .ok_or(MoneyError::UnknownCurrencyNumber(number))?;
        Currency::from_iso(iso)
    }

    fn from_iso(code: iso_currency::Currency) -> Result<Currency, MoneyError> {
        let exponent = code
            .exponent()
            .and_then(|e| u8::try_from(e).ok())
            .ok_or_else(|| MoneyError::NoMinorUnit(code.code().to_owned()))?;
        Ok(Currency { code, exponent })
    }

    /// The alphabetic code, e.g. `EUR`.
    pub fn code(self) -> &'static str {
        self.code.code()
    }

    /// The numeric code, e.g. 978 for EUR.
    pub fn numeric(self) -> u16 {
        self.code.numeric()
    }

    /// The number of minor-unit digits: 2 for EUR, 0 for JPY, 3 for BHD.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// How many minor units make one major unit: 100 for EUR, 1 for JPY, 1000 for BHD.
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// A rate in basis points: 1 bp = 0.01 %, so 10 000 bp = 100 % and 1 250 bp = 12.5 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Rate(pub u32);

impl Rate {
    /// 100 %.
    pub const FULL: Rate = Rate(10_000);

    /// A whole number of percent.
    pub const fn percent(p: u32) -> Rate {
        Rate(p.saturating_mul(100))
    }

    /// The rate in basis points.
    pub const fn basis_points(self) -> u32 {
        self.0
    }
}

/// An amount of money: minor units (cents for EUR) in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units. Negative amounts are refunds and reversals.
    pub amount: i64,
    /// The currency the amount is in.
    pub currency: Currency,
}

impl Money {
    /// `amount` minor units of `currency`.
    pub const fn new(amount: i64, currency: Currency) -> Money {
        Money { amount, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money {
            amount: 0,
            currency,
        }
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.amount == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.amount < 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`, refusing overflow and mixed currencies.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`, refusing overflow and mixed currencies.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `-self`, refusing overflow (`i64::MIN` has no negation).
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self × factor` (a quantity), refusing overflow.
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self × numerator / denominator`, rounded half-even: the price of 350 g at a
    /// per-kilogram price is `per_kg.mul_ratio(350, 1000)`.
    pub fn mul_ratio(self, numerator: i64, denominator: i64) -> Result<Money, MoneyError> {
        let product = i128::from(self.amount) * i128::from(numerator);
        let amount = div_round_half_even(product, i128::from(denominator))?;
        Ok(Money::new(narrow(amount)?, self.currency))
    }

    /// `rate` of `self`, rounded half-even to the minor unit: 12.5 % of €0.20 is €0.02
    /// (2.5 cents rounds to the even 2), 12.5 % of €0.28 is €0.04 (3.5 rounds to 4).
    pub fn percent(self, rate: Rate) -> Result<Money, MoneyError> {
        self.mul_ratio(i64::from(rate.0), 10_000)
    }

    /// The smaller of two amounts in one currency.
    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.amount < self.amount {
            other
        } else {
            self
        })
    }

    /// Sums amounts that must all be in `currency`; an empty list is zero.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }

    /// Splits this amount across `weights` so that the parts sum exactly to it; see
    /// [`allocate`].
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        Ok(allocate(self.amount, weights)?
            .into_iter()
            .map(|amount| Money::new(amount, self.currency))
            .collect())
    }
}

impl fmt::Display for Money {
    /// `12.34 EUR`, `-0.05 EUR`, `500 JPY`: the decimal amount and the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.exponent());
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10_u64.pow(exponent);
        let width = usize::try_from(exponent).unwrap_or(usize::MAX);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency
        )
    }
}

/// Divides with half-even rounding ("banker's rounding"): exact halves go to the even
/// neighbour, so rounding errors do not drift in one direction over many lines.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> Result<i128, MoneyError> {
    if denominator == 0 {
        return Err(MoneyError::DivisionByZero);
    }
    let (n, d) = if denominator < 0 {
        (
            numerator.checked_neg().ok_or(MoneyError::Overflow)?,
            denominator.checked_neg().ok_or(MoneyError::Overflow)?,
        )
    } else {
        (numerator, denominator)
    };
    let quotient = n.div_euclid(d);
    let remainder = n.rem_euclid(d); // 0 <= remainder < d
    let twice = remainder.checked_mul(2).ok_or(MoneyError::Overflow)?;
    let round_up = match twice.cmp(&d) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => quotient.rem_euclid(2) == 1,
    };
    if round_up {
        quotient.checked_add(1).ok_or(MoneyError::Overflow)
    } else {
        Ok(quotient)
    }
}

fn narrow(value: i128) -> Result<i64, MoneyError> {
    i64::try_from(value).map_err(|_| MoneyError::Overflow)
}

/// Splits `total` minor units across `weights` by the largest-remainder method.
///
/// Each part is `total × weight / Σweights` rounded down (toward zero for a negative
/// total); the units left over go one each to the parts with the largest remainders, ties
/// to the earlier part. So the parts always sum exactly to `total`, no part differs from
/// its exact share by a whole unit or more, and a zero weight always gets zero.
///
/// ```
/// use tillpass_protocol::money::allocate;
/// // €10.00 discount over lines of €3, €3 and €4:
/// assert_eq!(allocate(1000, &[300, 300, 400]).unwrap(), vec![300, 300, 400]);
/// // 100 cents over three equal lines: the first gets the extra cent.
/// assert_eq!(allocate(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
/// ```
pub fn allocate(total: i64, weights: &[u64]) -> Result<Vec<i64>, MoneyError> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return Err(MoneyError::NoWeights);
    }
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: u128 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        // magnitude < 2^64 and weight < 2^64, so the product fits in u128.
        let exact = magnitude * u128::from(weight);
        let part = exact / sum;
        given += part;
        parts.push(part);
        remainders.push((exact % sum, index));
    }
    let mut left = magnitude - given; // < number of positive weights
    // Largest remainder first; ties to the earlier line.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(remainder, index) in &remainders {
        if left == 0 {
            break;
        }
        if remainder == 0 {
            continue;
        }
        if let Some(part) = parts.get_mut(index) {
            *part += 1;
            left -= 1;
        }
    }
    parts
        .into_iter()
        .map(|part| {
            let part = i128::try_from(part).map_err(|_| MoneyError::Overflow)?;
            narrow(if total < 0 { -part } else { part })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    #[test]
    fn currencies_carry_their_exponent() {
        assert_eq!(Currency::from_code("EUR").unwrap().exponent(), 2);
        let known = Currency::known_codes();
        assert!(known.contains(&"EUR".to_owned()) && known.contains(&"JPY".to_owned()));
        assert!(!known.contains(&"XXX".to_owned()) && !known.contains(&"ABC".to_owned()));
        assert_eq!(Currency::from_code("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_code("BHD").unwrap().exponent(), 3);
        assert_eq!(Currency::from_code("CLF").unwrap().exponent(), 4);
        assert_eq!(Currency::from_numeric(978).unwrap(), Currency::EUR);
        assert_eq!(Currency::EUR.minor_per_major(), 100);
    }

    #[test]
    fn unknown_and_unusable_currencies_are_refused() {
        assert!(matches!(
            Currency::from_code("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::from_code("eur"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Currency::from_code("XAU"),
            Err(MoneyError::NoMinorUnit(_))
        ));
        assert!(matches!(
            Currency::from_numeric(1),
            Err(MoneyError::UnknownCurrencyNumber(1))
        ));
    }

    #[test]
    fn money_serializes_as_minor_units_and_code() {
        let json = serde_json::to_string(&eur(1999)).unwrap();
        assert_eq!(json, r#"{"amount":1999,"currency":"EUR"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, eur(1999));
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"EURO"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":1.5,"currency":"EUR"}"#).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        let usd = Money::new(1, Currency::from_code("USD").unwrap());
        assert!(matches!(
            eur(1).checked_add(usd),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(eur(5).checked_sub(eur(7)), Ok(eur(-2)));
    }

    #[test]
    fn percent_rounds_half_even() {
        assert_eq!(eur(20).percent(Rate(1250)).unwrap(), eur(2)); // 2.5 -> 2
        assert_eq!(eur(28).percent(Rate(1250)).unwrap(), eur(4)); // 3.5 -> 4
        assert_eq!(eur(-20).percent(Rate(1250)).unwrap(), eur(-2)); // -2.5 -> -2
        assert_eq!(eur(-28).percent(Rate(1250)).unwrap(), eur(-4)); // -3.5 -> -4
        assert_eq!(eur(999).percent(Rate::percent(10)).unwrap(), eur(100)); // 99.9 -> 100
        assert_eq!(eur(1999).percent(Rate::FULL).unwrap(), eur(1999));
    }

    #[test]
    fn weighted_price_uses_ratio() {
        // 350 g at €12.99/kg = €4.5465 -> €4.55
        assert_eq!(eur(1299).mul_ratio(350, 1000).unwrap(), eur(455));
        assert_eq!(eur(1).mul_ratio(1, 0), Err(MoneyError::DivisionByZero));
    }

    #[test]
    fn display_uses_the_exponent() {
        assert_eq!(eur(1234).to_string(), "12.34 EUR");
        assert_eq!(eur(-5).to_string(), "-0.05 EUR");
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(Money::new(500, jpy).to_string(), "500 JPY");
        assert_eq!(eur(i64::MIN).to_string(), "-92233720368547758.08 EUR");
    }

    #[test]
    fn allocation_golden_cases() {
        assert_eq!(allocate(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
        assert_eq!(allocate(-100, &[1, 1, 1]).unwrap(), vec![-34, -33, -33]);
        assert_eq!(allocate(5, &[0, 10, 0]).unwrap(), vec![0, 5, 0]);
        assert_eq!(allocate(0, &[3, 4]).unwrap(), vec![0, 0]);
        assert_eq!(allocate(1, &[1, 3]).unwrap(), vec![0, 1]);
        assert_eq!(allocate(7, &[]), Err(MoneyError::NoWeights));
        assert_eq!(allocate(7, &[0, 0]), Err(MoneyError::NoWeights));
        assert_eq!(
            allocate(i64::MIN, &[u64::MAX, u64::MAX]).unwrap(),
            vec![i64::MIN / 2, i64::MIN / 2]
        );
    }

    #[test]
    fn half_even_division() {
        assert_eq!(div_round_half_even(5, 2).unwrap(), 2);
        assert_eq!(div_round_half_even(7, 2).unwrap(), 4);
        assert_eq!(div_round_half_even(-5, 2).unwrap(), -2);
        assert_eq!(div_round_half_even(-7, 2).unwrap(), -4);
        assert_eq!(div_round_half_even(5, -2).unwrap(), -2);
        assert_eq!(div_round_half_even(1, 3).unwrap(), 0);
        assert_eq!(div_round_half_even(2, 3).unwrap(), 1);
    }

    proptest! {
        #[test]
        fn allocation_parts_sum_to_the_whole(
            total in any::<i64>(),
            weights in proptest::collection::vec(any::<u64>(), 1..20),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let parts = allocate(total, &weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            let sum: i128 = parts.iter().map(|&p| i128::from(p)).sum();
            prop_assert_eq!(sum, i128::from(total));
            let wsum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            for (part, weight) in parts.iter().zip(&weights) {
                // Same sign as the total, zero for a zero weight, within one unit of the
                // exact share.
                prop_assert!(*part == 0 || (*part > 0) == (total > 0));
                if *weight == 0 {
                    prop_assert_eq!(*part, 0);
                }
                let exact = i128::from(total.unsigned_abs()) * i128::from(*weight);
                let lo = exact / i128::try_from(wsum).unwrap();
                let p = i128::from(part.unsigned_abs());
                prop_assert!(p == lo || p == lo + 1);
            }
        }

        #[test]
        fn small_allocations_are_order_independent_in_total(
            total in -1_000_000i64..1_000_000,
            weights in proptest::collection::vec(0u64..10_000, 1..30),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let mut reversed = weights.clone();
            reversed.reverse();
            let a: i64 = allocate(total, &weights).unwrap().iter().sum();
            let b: i64 = allocate(total, &reversed).unwrap().iter().sum();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn percent_is_within_half_a_unit(amount in any::<i64>(), bp in 0u32..=20_000) {
            let got = Money::new(amount, Currency::EUR).percent(Rate(bp));
            let exact = i128::from(amount) * i128::from(bp);
            match got {
                Ok(m) => {
                    let diff = (i128::from(m.amount) * 10_000 - exact).abs();
                    prop_assert!(diff <= 5_000);
                }
                Err(e) => prop_assert_eq!(e, MoneyError::Overflow),
            }
        }
    }
}
