//! Customer segments: set by an administrator, delivered in the customers delta; a catalog
//! naming a segment no customer is in, or a condition no till knows, is not published.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::util::Central;

fn catalog(conditions: &str) -> String {
    format!(
        r#"
format = 1
currency = "EUR"

[[promotions]]
id = "STUDENTS-10"
label = {{ es = "Estudiantes -10 %", en = "Students 10 % off" }}
valid_from = 0
valid_until = 4000000000
rules = [{{ type = "percent_off", percent = 1000 }}]
conditions = {conditions}
"#
    )
}

async fn publish(central: &Central, toml: &str) -> (StatusCode, Value) {
    let response = central
        .admin(Method::POST, "/admin/v1/catalogs")
        .header("content-type", "application/toml")
        .body(toml.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_catalog_is_published_only_with_conditions_a_till_can_evaluate() {
    let central = Central::start().await;
    central.create_customer("C-1", 0, false).await;
    central.create_customer("C-2", 0, false).await;

    // A segment no customer is in: refused, naming the promotion, the field and the segment.
    let (status, problem) = publish(&central, &catalog(r#"{ segments = ["students"] }"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(r#"promotion "STUDENTS-10""#)
            && detail.contains("conditions.segments[0]")
            && detail.contains(r#""students""#),
        "{detail}"
    );
    // A condition of a kind no till knows: refused.
    let (status, problem) = publish(&central, &catalog("{ loyalty_years = 3 }")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("loyalty_years"),
        "{problem}"
    );

    // Segments are checked like the catalog's names.
    for bad in [json!(["a\tb"]), json!(["vip", "vip"]), json!([""])] {
        let (status, problem) = central
            .admin_json(
                Method::PATCH,
                "/admin/v1/customers/C-1",
                json!({ "segments": bad }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().starts_with("segments"),
            "{problem}"
        );
    }
    let (status, view) = central
        .admin_json(
            Method::PATCH,
            "/admin/v1/customers/C-1",
            json!({ "segments": ["students", "vip"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["segments"], json!(["students", "vip"]));

    // Now a customer is in the segment: published.
    let (status, publication) = publish(&central, &catalog(r#"{ segments = ["students"] }"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{publication}");

    // Tills receive each customer's segments with the profile.
    let till = central.enrol("S001", "S001-T01").await;
    let (status, page) = till.get_json(&central, "/v1/deltas/customers").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let item = |r: &str| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["customer"]["customer"] == r)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        item("C-1")["customer"]["segments"],
        json!(["students", "vip"])
    );
    assert!(item("C-2")["customer"].get("segments").is_none());

    // Taking the customer out of every segment is a change tills learn too.
    let (status, view) = central
        .admin_json(
            Method::PATCH,
            "/admin/v1/customers/C-1",
            json!({ "segments": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(view.get("segments").is_none(), "{view}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = till
        .get_json(&central, &format!("/v1/deltas/customers?cursor={cursor}"))
        .await;
    assert_eq!(page["items"][0]["customer"]["customer"], "C-1", "{page}");
    assert!(page["items"][0]["customer"].get("segments").is_none());
}
