use super::*;
use crate::money::Rate;

const FULL: &str = r#"
format = 1
currency = "EUR"
tiers = ["silver", "gold"]

[savings]
earn_rate = 100
return_window_days = 30
max_earn_per_sale = 5000
offline_redeem_cap = 2000
tier_multipliers = { gold = 20000 }
category_multipliers = { fresh = 15000 }
excluded_categories = ["tobacco"]

[gift_cards]
hold_ttl_seconds = 600
offline_cap_per_card = 5000
partial_payment = true

[[promotions]]
id = "SUMMER-10"
label = { es = "Verano -10 %", en = "Summer 10 % off" }
valid_from = 1751328000
valid_until = 1756684800
priority = 5
rules = [{ type = "percent_off", percent = 1000, items = { categories = ["swimwear"], except_brands = ["luxe"] } }]
conditions = { weekdays = ["sat", "sun"], hours = [{ from = "10:00", until = "14:00" }], stores = ["MAD-01"], regions = ["north"], min_quantity = 2, min_amount = 2000, tiers = ["gold"], segments = ["students"], max_uses_per_customer = 3 }

[[promotions]]
id = "THREE-FOR-TEN"
label = { es = "3 por 10 €", en = "3 for €10" }
valid_from = 0
valid_until = 4000000000
group = "drinks"
exclusive = true
rules = [{ type = "multi_buy", quantity = 3, price = 1000, items = { skus = ["COLA", "LEMON", "ORANGE"] } }]

[[promotions]]
id = "B2G1"
label = { es = "2+1", en = "Buy 2 get 1" }
valid_from = 0
valid_until = 4000000000
audience = "members"
rules = [
  { type = "buy_x_get_y", buy = 2, get = 1, items = { brands = ["acme"] } },
  { type = "buy_x_get_y", buy = 1, get = 1, reward = { percent = 5000 }, rewarded = "most_expensive", items = { brands = ["zeta"] } },
]

[[promotions]]
id = "GOLD-PRICE"
label = { es = "Precio oro", en = "Gold price" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "tier_price", items = { skus = ["COFFEE"] }, prices = [{ tier = "gold", price = 399 }] }]

[[promotions]]
id = "FIXED"
label = { es = "Precio fijo", en = "Fixed price" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "fixed_price", price = 100, items = { skus = ["BREAD"] } }]

[[promotions]]
id = "EUR-OFF"
label = { es = "1 € menos", en = "€1 off" }
valid_from = 0
valid_until = 4000000000
audience = "personal"
voucher = "WELCOME"
rules = [{ type = "amount_off", amount = 100, per_unit = true, items = { skus = ["MILK"] } }]

[[promotions]]
id = "STEPS"
label = { es = "Escalonado", en = "Stepped" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "spend_threshold", steps = [{ spend = 5000, off = 500 }, { spend = 10000, off = 1500 }] }]

[[promotions]]
id = "DOUBLE-FRESH"
label = { es = "Doble ahorro fresco", en = "Double savings on fresh" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "savings_multiplier", multiplier = 20000, items = { categories = ["fresh"] } }]
"#;

#[test]
fn every_promotion_type_and_condition_parses() {
    let catalog = Catalog::from_toml(FULL).unwrap();
    assert_eq!(catalog.promotions.len(), 8);
    let summer = catalog.promotion("SUMMER-10").unwrap();
    assert_eq!(summer.conditions.weekdays, vec![Weekday::Sat, Weekday::Sun]);
    assert_eq!(summer.conditions.hours[0].from.minutes(), 600);
    assert!(summer.needs_customer());
    let b2g1 = catalog.promotion("B2G1").unwrap();
    assert_eq!(
        b2g1.rules[1],
        Rule::BuyXGetY {
            items: ItemSelector {
                brands: vec!["zeta".into()],
                ..ItemSelector::default()
            },
            buy: 1,
            get: 1,
            reward: UnitReward::Percent(Rate(5000)),
            rewarded: Rewarded::MostExpensive,
        }
    );
    assert!(
        catalog
            .promotion("DOUBLE-FRESH")
            .unwrap()
            .is_savings_bonus()
    );
    assert_eq!(catalog.gift_cards.hold_ttl_seconds, 600);
}

#[test]
fn json_and_cbor_round_trip() {
    let catalog = Catalog::from_toml(FULL).unwrap();
    let json = serde_json::to_string(&catalog).unwrap();
    let back: Catalog = serde_json::from_str(&json).unwrap();
    assert_eq!(back, catalog);
    let mut cbor = Vec::new();
    ciborium::into_writer(&catalog, &mut cbor).unwrap();
    let back: Catalog = ciborium::from_reader(cbor.as_slice()).unwrap();
    assert_eq!(back, catalog);
    assert!(back.validate().is_ok());
}

#[test]
fn errors_are_all_collected_with_promotion_and_field() {
    let text = r#"
format = 2
currency = "EUR"
tiers = ["gold"]
[savings]
earn_rate = 20000
return_window_days = 400
tier_multipliers = { platinum = 20000 }
[gift_cards]
hold_ttl_seconds = 0
[[promotions]]
id = "SUMMER-10"
label = { es = "", en = "Summer" }
valid_from = 10
valid_until = 10
rules = [{ type = "percent_off", percent = 0 }, { type = "spend_threshold", steps = [{ spend = 100, off = 10 }, { spend = 100, off = 20 }] }]
conditions = { tiers = ["bronze"], min_quantity = 0, weekdays = ["mon", "mon"] }
[[promotions]]
id = "SUMMER-10"
label = { es = "x", en = "x" }
valid_from = 0
valid_until = 10
rules = [{ type = "multi_buy", quantity = 1, price = 0, items = {} }]
[[promotions]]
id = "TYPO"
label = { es = "x", en = "x" }
valid_from = 0
valid_until = 10
rules = [{ type = "percent_off", precent = 10 }]
[[promotions]]
label = { es = "x", en = "x" }
valid_from = 0
valid_until = 10
rules = []
"#;
    let errors = Catalog::from_toml(text).unwrap_err();
    let lines: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
    let expect = [
        "field format: unsupported catalog format 2: this till reads format 1",
        "field savings.earn_rate: must be 0..=10000 basis points",
        "field savings.return_window_days: must be 0..=365 days",
        "field savings.tier_multipliers.platinum: unknown tier \"platinum\": not in the catalog's tiers",
        "field gift_cards.hold_ttl_seconds: must be 1..=86400 seconds",
        "promotion \"SUMMER-10\": field label.es: must not be empty",
        "promotion \"SUMMER-10\": field valid_until: must be after valid_from",
        "promotion \"SUMMER-10\": field conditions.weekdays[1]: day is listed twice",
        "promotion \"SUMMER-10\": field conditions.min_quantity: must be at least 1 (leave it out for none)",
        "promotion \"SUMMER-10\": field conditions.tiers[0]: unknown tier \"bronze\": not in the catalog's tiers",
        "promotion \"SUMMER-10\": field rules[0].percent: must be 1..=10000 basis points",
        "promotion \"SUMMER-10\": field rules[1].steps[1].spend: steps must be in strictly increasing order of spend",
        "promotion \"SUMMER-10\": field id: duplicate id: promotion #0 has the same id",
        "promotion \"SUMMER-10\": field rules[0].items: must list at least one of skus, categories or brands (leave items out for the whole basket)",
        "promotion \"SUMMER-10\": field rules[0].quantity: must be 2..=1000 units",
        "promotion \"SUMMER-10\": field rules[0].price: must be a positive amount in minor units",
    ];
    for line in expect {
        assert!(
            lines.iter().any(|l| l == line),
            "missing {line:?} in\n{errors}"
        );
    }
    // A promotion that does not deserialize is named, and its message names the field.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("promotion \"TYPO\": ") && l.contains("precent")),
        "{errors}"
    );
    // A promotion without an id is named by its position.
    assert!(
        lines.iter().any(|l| l.starts_with("promotion \"#3\": ")),
        "{errors}"
    );
}

#[test]
fn not_toml_is_one_document_error() {
    let errors = Catalog::from_toml("format = = 1").unwrap_err();
    assert_eq!(errors.errors.len(), 1);
    assert!(errors.errors[0].promotion.is_none());
}

#[test]
fn unknown_fields_are_refused_everywhere() {
    for text in [
        "format = 1\ncurrency = \"EUR\"\nsurprise = 1",
        "format = 1\ncurrency = \"EUR\"\n[gift_cards]\nhold_ttl = 5",
        "format = 1\ncurrency = \"EURO\"",
    ] {
        assert!(Catalog::from_toml(text).is_err(), "{text}");
    }
    let json = r#"{"format":1,"currency":"EUR","promotions":[{"id":"A","label":{"es":"a","en":"a"},"valid_from":0,"valid_until":1,"rules":[{"type":"percent_off","percent":10,"items":{"skus":["X"],"colour":["red"]}}]}]}"#;
    assert!(serde_json::from_str::<Catalog>(json).is_err());
}

#[test]
fn selectors_include_and_except() {
    let selector = ItemSelector {
        categories: vec!["shoes".into()],
        except_brands: vec!["luxe".into()],
        ..ItemSelector::default()
    };
    assert!(selector.matches("S1", Some("shoes"), Some("acme")));
    assert!(selector.matches("S1", Some("shoes"), None));
    assert!(!selector.matches("S1", Some("shoes"), Some("luxe")));
    assert!(!selector.matches("S1", Some("hats"), Some("acme")));
    assert!(!selector.matches("S1", None, None));
}

#[test]
fn hostile_documents_do_not_panic() {
    let samples = [
        "",
        "promotions = 3",
        "format = 1\ncurrency = \"EUR\"\npromotions = [1, \"x\", {}]",
        "format = 1\ncurrency = \"EUR\"\n[[promotions]]\nid = 7",
        "format = -1\ncurrency = \"EUR\"",
        "format = 1\ncurrency = \"EUR\"\n[[promotions]]\nid = \"A\"\nlabel = { es = \"a\", en = \"a\" }\nvalid_from = 0\nvalid_until = 1\nconditions = { hours = [{ from = \"25:00\", until = \"26:00\" }] }\nrules = [{ type = \"percent_off\", percent = 1 }]",
    ];
    for text in samples {
        assert!(Catalog::from_toml(text).is_err(), "{text}");
    }
}
