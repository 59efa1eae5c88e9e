//! Item selectors compiled for fast matching: sorted lists searched by bisection, so a
//! promotion naming ten thousand SKUs costs a few comparisons per line.

use tillpass_protocol::catalog::ItemSelector;

use crate::cart::Line;

/// A compiled [`ItemSelector`].
#[derive(Debug, Default)]
pub(crate) struct Selector {
    skus: Box<[Box<str>]>,
    categories: Box<[Box<str>]>,
    brands: Box<[Box<str>]>,
    except_skus: Box<[Box<str>]>,
    except_categories: Box<[Box<str>]>,
    except_brands: Box<[Box<str>]>,
}

fn sorted(list: &[String]) -> Box<[Box<str>]> {
    let mut keys: Vec<Box<str>> = list.iter().map(|s| s.as_str().into()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_boxed_slice()
}

fn has(list: &[Box<str>], key: Option<&str>) -> bool {
    key.is_some_and(|key| list.binary_search_by(|k| (**k).cmp(key)).is_ok())
}

impl Selector {
    pub(crate) fn compile(items: &ItemSelector) -> Selector {
        Selector {
            skus: sorted(&items.skus),
            categories: sorted(&items.categories),
            brands: sorted(&items.brands),
            except_skus: sorted(&items.except_skus),
            except_categories: sorted(&items.except_categories),
            except_brands: sorted(&items.except_brands),
        }
    }

    /// Whether the line is selected: listed by SKU, category or brand, and not excepted.
    pub(crate) fn matches(&self, line: &Line) -> bool {
        let sku = Some(line.sku.as_str());
        let category = line.category.as_deref();
        let brand = line.brand.as_deref();
        let included =
            has(&self.skus, sku) || has(&self.categories, category) || has(&self.brands, brand);
        included
            && !(has(&self.except_skus, sku)
                || has(&self.except_categories, category)
                || has(&self.except_brands, brand))
    }
}
