//! Indexes of the catalog's promotions by SKU, category and brand, built once per catalog,
//! so that evaluating a cart only looks at the promotions its lines could trigger: the cost
//! follows the cart and the promotions that touch it, not the size of the catalog.

use std::collections::HashMap;

use tillpass_protocol::catalog::{Catalog, ItemSelector};

use crate::cart::Priced;

/// A promotion that may apply to a cart, with the lines that hit its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The promotion's position in the catalog.
    pub promotion: u32,
    /// The lines whose SKU, category or brand is one of the promotion's keys.
    pub hits: Vec<usize>,
}

/// Promotion positions (into `catalog.promotions`) by the keys that can trigger them.
#[derive(Debug, Default)]
pub(crate) struct PromotionIndex {
    by_sku: HashMap<Box<str>, Vec<u32>>,
    by_category: HashMap<Box<str>, Vec<u32>>,
    by_brand: HashMap<Box<str>, Vec<u32>>,
    /// Promotions with a basket rule: candidates for every cart.
    basket: Vec<u32>,
}

impl PromotionIndex {
    pub(crate) fn build(catalog: &Catalog) -> PromotionIndex {
        let mut index = PromotionIndex::default();
        for (position, promotion) in catalog.promotions.iter().enumerate() {
            let Ok(position) = u32::try_from(position) else {
                break; // validation caps catalogs far below u32::MAX promotions
            };
            let mut basket = false;
            for rule in &promotion.rules {
                match rule.items() {
                    None => basket = true,
                    Some(items) => index.insert(items, position),
                }
            }
            if basket {
                index.basket.push(position);
            }
        }
        for list in index
            .by_sku
            .values_mut()
            .chain(index.by_category.values_mut())
            .chain(index.by_brand.values_mut())
        {
            list.sort_unstable();
            list.dedup();
            list.shrink_to_fit();
        }
        index
    }

    fn insert(&mut self, items: &ItemSelector, position: u32) {
        for (map, keys) in [
            (&mut self.by_sku, &items.skus),
            (&mut self.by_category, &items.categories),
            (&mut self.by_brand, &items.brands),
        ] {
            for key in keys {
                map.entry(key.as_str().into()).or_default().push(position);
            }
        }
    }

    /// The promotions that may apply to these lines, by position, each with the lines
    /// that hit it through one of its keys (ascending). Basket promotions come with the
    /// lines that hit their item rules, if any.
    pub(crate) fn candidates(&self, lines: &[Priced<'_>]) -> Vec<Candidate> {
        let mut pairs: Vec<(u32, usize)> = Vec::new();
        for (at, priced) in lines.iter().enumerate() {
            let line = priced.line;
            for (map, key) in [
                (&self.by_sku, Some(line.sku.as_str())),
                (&self.by_category, line.category.as_deref()),
                (&self.by_brand, line.brand.as_deref()),
            ] {
                if let Some(hits) = key.and_then(|k| map.get(k)) {
                    pairs.extend(hits.iter().map(|&p| (p, at)));
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut found: Vec<Candidate> = Vec::new();
        for (promotion, line) in pairs {
            match found.last_mut() {
                Some(last) if last.promotion == promotion => last.hits.push(line),
                _ => found.push(Candidate {
                    promotion,
                    hits: vec![line],
                }),
            }
        }
        let extra: Vec<Candidate> = self
            .basket
            .iter()
            .filter(|&&p| found.binary_search_by_key(&p, |c| c.promotion).is_err())
            .map(|&promotion| Candidate {
                promotion,
                hits: Vec::new(),
            })
            .collect();
        found.extend(extra);
        found.sort_unstable_by_key(|c| c.promotion);
        found
    }

    /// How many distinct keys the index holds (for the benchmarks' report).
    pub(crate) fn keys(&self) -> usize {
        self.by_sku.len() + self.by_category.len() + self.by_brand.len()
    }
}
