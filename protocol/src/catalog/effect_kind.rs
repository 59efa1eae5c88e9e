//! [`EffectKind`]: the kind of rule a promotion's effect comes from, as the receipt, the
//! journal (`EffectSummary::kind`) and the dashboard name it, with its labels.

use serde::{Deserialize, Serialize};

use super::promotion::Rule;
use crate::lang::{Bilingual, Lang};

/// The kind of rule an effect comes from: the catalog's rule `type`, with percentages and
/// amounts off the whole basket told apart from those off items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectKind {
    /// A percentage off items.
    PercentOff,
    /// A percentage off the basket.
    BasketPercentOff,
    /// An amount off items.
    AmountOff,
    /// An amount off the basket.
    BasketAmountOff,
    /// A fixed price.
    FixedPrice,
    /// A tier-only price.
    TierPrice,
    /// Buy X get Y.
    BuyXGetY,
    /// A multi-buy bundle.
    MultiBuy,
    /// A spend threshold step.
    SpendThreshold,
    /// A savings multiplier (extra savings, not a discount).
    SavingsMultiplier,
}

impl EffectKind {
    /// Every kind.
    pub const ALL: [EffectKind; 10] = [
        EffectKind::PercentOff,
        EffectKind::BasketPercentOff,
        EffectKind::AmountOff,
        EffectKind::BasketAmountOff,
        EffectKind::FixedPrice,
        EffectKind::TierPrice,
        EffectKind::BuyXGetY,
        EffectKind::MultiBuy,
        EffectKind::SpendThreshold,
        EffectKind::SavingsMultiplier,
    ];

    /// The kind of `rule`'s effects.
    pub fn of(rule: &Rule) -> EffectKind {
        let basket = rule.items().is_none();
        match rule {
            Rule::PercentOff { .. } if basket => EffectKind::BasketPercentOff,
            Rule::PercentOff { .. } => EffectKind::PercentOff,
            Rule::AmountOff { .. } if basket => EffectKind::BasketAmountOff,
            Rule::AmountOff { .. } => EffectKind::AmountOff,
            Rule::FixedPrice { .. } => EffectKind::FixedPrice,
            Rule::TierPrice { .. } => EffectKind::TierPrice,
            Rule::BuyXGetY { .. } => EffectKind::BuyXGetY,
            Rule::MultiBuy { .. } => EffectKind::MultiBuy,
            Rule::SpendThreshold { .. } => EffectKind::SpendThreshold,
            Rule::SavingsMultiplier { .. } => EffectKind::SavingsMultiplier,
        }
    }

    /// The stable snake_case code, as serialized: `percent_off`, `basket_amount_off`, …
    pub fn code(self) -> &'static str {
        match self {
            EffectKind::PercentOff => "percent_off",
            EffectKind::BasketPercentOff => "basket_percent_off",
            EffectKind::AmountOff => "amount_off",
            EffectKind::BasketAmountOff => "basket_amount_off",
            EffectKind::FixedPrice => "fixed_price",
            EffectKind::TierPrice => "tier_price",
            EffectKind::BuyXGetY => "buy_x_get_y",
            EffectKind::MultiBuy => "multi_buy",
            EffectKind::SpendThreshold => "spend_threshold",
            EffectKind::SavingsMultiplier => "savings_multiplier",
        }
    }

    /// The kind named `code` (as [`EffectKind::code`] writes it).
    pub fn from_code(code: &str) -> Option<EffectKind> {
        EffectKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What a manager reads for the kind, in every language.
    pub fn labels(self) -> Bilingual {
        let (es, en) = match self {
            EffectKind::PercentOff => ("Porcentaje en artículos", "Percent off items"),
            EffectKind::BasketPercentOff => ("Porcentaje en la compra", "Percent off the basket"),
            EffectKind::AmountOff => ("Importe en artículos", "Amount off items"),
            EffectKind::BasketAmountOff => ("Importe en la compra", "Amount off the basket"),
            EffectKind::FixedPrice => ("Precio fijo", "Fixed price"),
            EffectKind::TierPrice => ("Precio por nivel", "Tier price"),
            EffectKind::BuyXGetY => ("Compre X y llévese Y", "Buy X get Y"),
            EffectKind::MultiBuy => ("Lote", "Multi-buy"),
            EffectKind::SpendThreshold => ("Por importe gastado", "Spend threshold"),
            EffectKind::SavingsMultiplier => ("Ahorro extra", "Savings bonus"),
        };
        Bilingual { es, en }
    }

    /// What a manager reads for the kind in `lang`.
    pub fn label(self, lang: Lang) -> &'static str {
        self.labels().get(lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_serialized_names_and_parse_back() {
        for kind in EffectKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.code());
            assert_eq!(EffectKind::from_code(kind.code()), Some(kind));
            let labels = kind.labels();
            assert!(!labels.es.is_empty() && !labels.en.is_empty());
            assert_ne!(labels.es, labels.en, "{}", kind.code());
        }
        assert_eq!(EffectKind::from_code("something_new"), None);
    }
}
