//! `tillpass-demo pos`: a small terminal cashier against a running agent — for demos, and for
//! people integrating a POS, who can watch every request it makes (`--show-requests`).
//!
//! It keeps the cart and sends the whole of it with every change (`PUT
//! /v1/sessions/{id}`), exactly as a POS integration should; every change carries a fresh
//! `Idempotency-Key`, and a retry after a network error reuses it.

use std::io::{BufRead, Write};
use std::time::Duration;

use serde_json::{Value, json};
use tillpass_protocol::money::Currency;

/// The cashier's commands, as `help` shows them.
pub const HELP: &str = "\
commands (amounts like 2.50 or 2,50):
  add SKU PRICE [QTY] [CATEGORY]     ring up QTY units at PRICE each
  weigh SKU PRICE_PER_KG GRAMS [CATEGORY]
  remove LINE                        take a line off
  customer SCAN                      a customer's pass (or scan at the till's scanner)
  voucher SCAN                       a voucher QR
  savings AMOUNT                     pay AMOUNT with the customer's savings
  giftcard SCAN_OR_ID [AMOUNT]       pay with a gift card (the rest due if no AMOUNT)
  show                               the sale as it stands
  close [cash|card]                  take the rest in cash or card and close: the receipt
  cancel                             abandon the sale (gift-card holds released)
  return SALE LINE QTY [LINE QTY…]   take goods of a closed sale back
  new                                start the next sale
  help | quit";

/// Why the cashier stopped.
#[derive(Debug, thiserror::Error)]
pub enum CashierError {
    /// Reading commands or writing answers failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(String),
}

/// Talks to the agent.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    show_requests: bool,
}

impl Api {
    /// A client for the agent at `base` (`http://127.0.0.1:7100`) with the till's token.
    pub fn new(base: &str, token: &str, show_requests: bool) -> Result<Api, CashierError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| CashierError::Client(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            client,
            runtime,
            show_requests,
        })
    }

    /// One request: the status and the JSON answer. A network error is retried three times
    /// with the same idempotency key.
    fn call(
        &self,
        out: &mut impl Write,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), CashierError> {
        let key = random_key();
        if self.show_requests {
            writeln!(out, "→ {method} {path}")?;
            if let Some(b) = body {
                writeln!(out, "  {b}")?;
            }
        }
        let mut last = String::new();
        for _ in 0..3 {
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                request = request.json(b).header("Idempotency-Key", &key);
            }
            let result = self.runtime.block_on(async {
                let response = request.send().await?;
                let status = response.status().as_u16();
                let value = response.json::<Value>().await.unwrap_or(Value::Null);
                Ok::<_, reqwest::Error>((status, value))
            });
            match result {
                Ok(answer) => return Ok(answer),
                Err(e) => last = e.to_string(),
            }
        }
        Ok((
            0,
            json!({ "detail": format!("the agent did not answer: {last}") }),
        ))
    }
}

fn random_key() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        return format!("pos-{nanos}");
    }
    hex::encode(bytes)
}

/// Parses an amount written for people (`2.50`, `2,50`, `3`) into minor units.
pub fn parse_amount(text: &str, currency: Currency) -> Option<i64> {
    let text = text.trim().replace(',', ".");
    let exponent = u32::from(currency.exponent());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text.as_str(), ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if fraction.len() > usize::try_from(exponent).ok()? {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    if whole < 0 {
        return None;
    }
    let mut minor: i64 = 0;
    for (i, c) in fraction.chars().enumerate() {
        let digit = i64::from(c.to_digit(10)?);
        let place = exponent.checked_sub(u32::try_from(i).ok()? + 1)?;
        minor = minor.checked_add(digit.checked_mul(10_i64.checked_pow(place)?)?)?;
    }
    whole
        .checked_mul(10_i64.checked_pow(exponent)?)?
        .checked_add(minor)
}

/// Writes minor units for people: `12.50 EUR`.
pub fn format_amount(value: &Value) -> String {
    let amount = value["amount"].as_i64().unwrap_or(0);
    let code = value["currency"].as_str().unwrap_or("");
    let exponent = Currency::from_code(code)
        .map(|c| u32::from(c.exponent()))
        .unwrap_or(2);
    let unit = 10_i64.pow(exponent);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let unit = unit.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs} {code}");
    }
    format!(
        "{sign}{}.{:0width$} {code}",
        abs / unit,
        abs % unit,
        width = usize::try_from(exponent).unwrap_or(2)
    )
}

/// The cashier's sale in progress.
#[derive(Debug)]
pub struct Cashier {
    api: Api,
    currency: Currency,
    session: String,
    version: Option<u64>,
    lines: Vec<Value>,
    next_line: u32,
    customer_scan: Option<String>,
    vouchers: Vec<String>,
    sales: u32,
}

impl Cashier {
    /// A cashier selling in `currency`.
    pub fn new(api: Api, currency: Currency) -> Cashier {
        let mut c = Cashier {
            api,
            currency,
            session: String::new(),
            version: None,
            lines: Vec::new(),
            next_line: 1,
            customer_scan: None,
            vouchers: Vec::new(),
            sales: 0,
        };
        c.new_sale();
        c
    }

    fn new_sale(&mut self) {
        self.sales = self.sales.saturating_add(1);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.session = format!("pos-{stamp}-{}", self.sales);
        self.version = None;
        self.lines.clear();
        self.next_line = 1;
        self.customer_scan = None;
        self.vouchers.clear();
    }

    /// Reads commands until `quit` or the end of input.
    pub fn run(&mut self, input: impl BufRead, out: &mut impl Write) -> Result<(), CashierError> {
        writeln!(
            out,
            "tillpass-demo pos — sale {}. Type `help`.",
            self.session
        )?;
        for line in input.lines() {
            let line = line?;
            let words = words(&line);
            let Some((&command, args)) = words.split_first() else {
                continue;
            };
            match command {
                "quit" | "exit" => break,
                "help" | "?" => writeln!(out, "{HELP}")?,
                _ => self.command(command, args, out)?,
            }
        }
        Ok(())
    }

    fn amount(&self, text: &str, out: &mut impl Write) -> Result<Option<i64>, CashierError> {
        let parsed = parse_amount(text, self.currency);
        if parsed.is_none() {
            writeln!(out, "! not an amount: {text} (write it like 2.50)")?;
        }
        Ok(parsed)
    }

    fn money(&self, amount: i64) -> Value {
        json!({ "amount": amount, "currency": self.currency.code() })
    }

    fn command(
        &mut self,
        command: &str,
        args: &[&str],
        out: &mut impl Write,
    ) -> Result<(), CashierError> {
        match (command, args) {
            ("add", [sku, price, rest @ ..]) if rest.len() <= 2 => {
                let Some(price) = self.amount(price, out)? else {
                    return Ok(());
                };
                let qty: u32 = match rest.first().map(|q| q.parse()) {
                    None => 1,
                    Some(Ok(q)) if q > 0 => q,
                    Some(_) => {
                        writeln!(out, "! quantity must be a whole number above 0")?;
                        return Ok(());
                    }
                };
                let line = json!({
                    "line_id": self.next_line.to_string(), "sku": sku,
                    "category": rest.get(1), "quantity": { "units": qty },
                    "unit_price": self.money(price),
                });
                self.push_line(line, out)
            }
            ("weigh", [sku, price, grams, rest @ ..]) if rest.len() <= 1 => {
                let Some(price) = self.amount(price, out)? else {
                    return Ok(());
                };
                let Ok(grams) = grams.parse::<u32>() else {
                    writeln!(out, "! grams must be a whole number")?;
                    return Ok(());
                };
                let line = json!({
                    "line_id": self.next_line.to_string(), "sku": sku,
                    "category": rest.first(), "quantity": { "grams": grams },
                    "unit_price": self.money(price),
                });
                self.push_line(line, out)
            }
            ("remove", [line]) => {
                let before = self.lines.len();
                self.lines.retain(|l| l["line_id"].as_str() != Some(line));
                if self.lines.len() == before {
                    writeln!(out, "! no line {line}")?;
                    return Ok(());
                }
                self.put(out).map(|_| ())
            }
            ("customer", [scan]) => {
                let before = self.customer_scan.replace((*scan).to_owned());
                if !self.put(out)? {
                    self.customer_scan = before;
                }
                Ok(())
            }
            ("voucher", [scan]) => {
                self.vouchers.push((*scan).to_owned());
                if !self.put(out)? {
                    self.vouchers.pop();
                }
                Ok(())
            }
            ("savings", [amount]) => {
                let Some(amount) = self.amount(amount, out)? else {
                    return Ok(());
                };
                let tender = json!({ "type": "savings", "amount": self.money(amount) });
                self.tender(tender, out)
            }
            ("giftcard", [card, rest @ ..]) if rest.len() <= 1 => {
                let mut tender = if card.starts_with("TP") || card.starts_with("tp") {
                    json!({ "type": "gift_card", "scan": card })
                } else {
                    json!({ "type": "gift_card", "card_id": card })
                };
                if let Some(amount) = rest.first() {
                    let Some(amount) = self.amount(amount, out)? else {
                        return Ok(());
                    };
                    tender["amount"] = self.money(amount);
                }
                self.tender(tender, out)
            }
            ("show", []) => {
                let path = format!("/v1/sessions/{}", self.session);
                let (status, v) = self.api.call(out, reqwest::Method::GET, &path, None)?;
                if status == 200 {
                    print_session(&v, out)
                } else {
                    writeln!(out, "(nothing rung up yet)")?;
                    Ok(())
                }
            }
            ("close", rest) => self.close(rest.first().copied(), out),
            ("cancel", []) => {
                let path = format!("/v1/sessions/{}/cancel", self.session);
                let body = json!({ "version": self.version });
                let (status, v) = self
                    .api
                    .call(out, reqwest::Method::POST, &path, Some(&body))?;
                if ok(status, &v, out)? {
                    writeln!(out, "sale {} cancelled", self.session)?;
                    self.new_sale();
                    writeln!(out, "next sale: {}", self.session)?;
                }
                Ok(())
            }
            ("return", [sale, pairs @ ..]) if !pairs.is_empty() && pairs.len() % 2 == 0 => {
                let mut lines = Vec::new();
                for pair in pairs.chunks(2) {
                    let (Some(line), Some(qty)) = (pair.first(), pair.get(1)) else {
                        continue;
                    };
                    let Ok(qty) = qty.parse::<u32>() else {
                        writeln!(out, "! quantity must be a whole number")?;
                        return Ok(());
                    };
                    lines.push(json!({ "line": line, "qty": qty }));
                }
                let return_id = format!("ret-{}", &random_key()[..12]);
                let body = json!({ "return_id": return_id, "lines": lines });
                let path = format!("/v1/sessions/{sale}/returns");
                let (status, v) = self
                    .api
                    .call(out, reqwest::Method::POST, &path, Some(&body))?;
                if ok(status, &v, out)? {
                    print_return(&return_id, sale, &v["outcome"], out)?;
                }
                Ok(())
            }
            ("new", []) => {
                self.new_sale();
                writeln!(out, "next sale: {}", self.session)?;
                Ok(())
            }
            _ => {
                writeln!(out, "! unknown command or wrong arguments; type `help`")?;
                Ok(())
            }
        }
    }

    fn push_line(&mut self, line: Value, out: &mut impl Write) -> Result<(), CashierError> {
        self.lines.push(line);
        if self.put(out)? {
            self.next_line = self.next_line.saturating_add(1);
        } else {
            self.lines.pop();
        }
        Ok(())
    }

    /// Sends the whole cart; whether the agent took it.
    fn put(&mut self, out: &mut impl Write) -> Result<bool, CashierError> {
        let body = json!({
            "version": self.version,
            "cart": { "currency": self.currency.code(), "lines": self.lines },
            "customer_scan": self.customer_scan,
            "voucher_scans": self.vouchers,
        });
        let path = format!("/v1/sessions/{}", self.session);
        let (status, v) = self
            .api
            .call(out, reqwest::Method::PUT, &path, Some(&body))?;
        if !ok(status, &v, out)? {
            return Ok(false);
        }
        self.version = v["version"].as_u64();
        print_session(&v, out)?;
        Ok(true)
    }

    fn tender(&mut self, tender: Value, out: &mut impl Write) -> Result<(), CashierError> {
        let Some(version) = self.version else {
            writeln!(out, "! ring something up first")?;
            return Ok(());
        };
        let body = json!({ "version": version, "tender": tender });
        let path = format!("/v1/sessions/{}/tenders", self.session);
        let (status, v) = self
            .api
            .call(out, reqwest::Method::POST, &path, Some(&body))?;
        if ok(status, &v, out)? {
            self.version = v["version"].as_u64();
            print_session(&v, out)?;
        }
        Ok(())
    }

    fn close(&mut self, method: Option<&str>, out: &mut impl Write) -> Result<(), CashierError> {
        let Some(version) = self.version else {
            writeln!(out, "! ring something up first")?;
            return Ok(());
        };
        let path = format!("/v1/sessions/{}", self.session);
        let (_, current) = self.api.call(out, reqwest::Method::GET, &path, None)?;
        let due = current["amount_due"].clone();
        let mut body = json!({ "version": version });
        if let Some(m) = method
            && due["amount"].as_i64().unwrap_or(0) > 0
        {
            body["payments"] = json!([{ "method": m, "amount": due }]);
        }
        let path = format!("/v1/sessions/{}/close", self.session);
        let (status, v) = self
            .api
            .call(out, reqwest::Method::POST, &path, Some(&body))?;
        if ok(status, &v, out)? {
            print_receipt(&v["receipt"], out)?;
            self.new_sale();
            writeln!(out, "next sale: {}", self.session)?;
        }
        Ok(())
    }
}

/// Prints a refusal; whether the answer was a success.
fn ok(status: u16, v: &Value, out: &mut impl Write) -> Result<bool, CashierError> {
    if (200..300).contains(&status) {
        return Ok(true);
    }
    let message = v["message_en"]
        .as_str()
        .or_else(|| v["detail"].as_str())
        .unwrap_or("refused");
    let code = v["code"].as_str().unwrap_or("");
    match v["field"].as_str() {
        Some(field) => writeln!(out, "! {status} {code} ({field}): {message}")?,
        None => writeln!(out, "! {status} {code}: {message}")?,
    }
    if let Some(es) = v["message_es"].as_str() {
        writeln!(out, "  es: {es}")?;
    }
    Ok(false)
}

fn print_session(v: &Value, out: &mut impl Write) -> Result<(), CashierError> {
    let e = &v["evaluation"];
    for line in e["lines"].as_array().into_iter().flatten() {
        let qty = &line["quantity"];
        let qty = qty["units"]
            .as_u64()
            .map(|u| format!("{u} ×"))
            .or_else(|| qty["grams"].as_u64().map(|g| format!("{g} g")))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:>3} {:<14} {:>8} {:>14}  -{}",
            line["line_id"].as_str().unwrap_or(""),
            line["sku"].as_str().unwrap_or(""),
            qty,
            format_amount(&line["total"]),
            format_amount(&line["discount"]),
        )?;
    }
    for effect in e["effects"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "      {} ({}): {}",
            effect["label"]["en"].as_str().unwrap_or(""),
            effect["promotion_id"].as_str().unwrap_or(""),
            format_amount(&effect["amount"])
        )?;
    }
    let totals = &e["totals"];
    writeln!(
        out,
        "  total {}  (discounts {})  earns {}",
        format_amount(&totals["total"]),
        format_amount(&totals["discount"]),
        format_amount(&totals["savings"]["total"])
    )?;
    if let Some(c) = v["customer"].as_object() {
        // A customer the till learnt of live at the scan (just signed up, say) has no
        // name until its next sync: their reference stands in.
        let name = ["first_name", "customer_ref"]
            .iter()
            .filter_map(|k| c.get(*k).and_then(Value::as_str))
            .find(|n| !n.is_empty())
            .unwrap_or("?");
        let available = c
            .get("savings")
            .map(|s| format_amount(&s["available"]))
            .unwrap_or_else(|| "-".to_owned());
        // Where the balance comes from, when it is not the till's synced copy.
        let source = match c.get("balance_source").and_then(Value::as_str) {
            Some("snapshot") => "  (from the pass's signed snapshot: offline cap applies)",
            Some("live") => "  (live from central)",
            _ => "",
        };
        writeln!(out, "  customer {name}: savings {available}{source}")?;
    }
    for t in v["tenders"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  paid by {:<10} {}",
            t["type"].as_str().unwrap_or(""),
            format_amount(&t["amount"])
        )?;
    }
    writeln!(out, "  due   {}", format_amount(&v["amount_due"]))?;
    if let Some(reason) = v["earn_only"].as_str() {
        writeln!(out, "  (earn only: {reason})")?;
    }
    Ok(())
}

fn print_return(
    return_id: &str,
    sale: &str,
    o: &Value,
    out: &mut impl Write,
) -> Result<(), CashierError> {
    writeln!(out, "return {return_id} of sale {sale}")?;
    writeln!(out, "  refund            {}", format_amount(&o["refund"]))?;
    writeln!(
        out,
        "  savings taken back {}",
        format_amount(&o["savings_reversed"])
    )?;
    for t in o["tenders"].as_array().into_iter().flatten() {
        // A payment the POS took (`other`) goes back by its method: card, cash, ….
        let to = t["method"].as_str().or_else(|| t["type"].as_str());
        writeln!(
            out,
            "  back to {:<10} {}",
            to.unwrap_or(""),
            format_amount(&t["amount"])
        )?;
    }
    Ok(())
}

fn print_receipt(r: &Value, out: &mut impl Write) -> Result<(), CashierError> {
    writeln!(
        out,
        "=== receipt {} ===",
        r["sale_id"].as_str().unwrap_or("")
    )?;
    writeln!(out, "  gross            {}", format_amount(&r["gross"]))?;
    for p in r["promotions"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<16} -{}",
            p["label_en"].as_str().unwrap_or(""),
            format_amount(&p["amount"])
        )?;
    }
    writeln!(out, "  total            {}", format_amount(&r["net"]))?;
    writeln!(
        out,
        "  savings earned   {}",
        format_amount(&r["savings_earned"])
    )?;
    writeln!(
        out,
        "  savings redeemed {}",
        format_amount(&r["savings_redeemed"])
    )?;
    if let Some(after) = r["savings_after"].as_object() {
        writeln!(
            out,
            "  savings now      {} (+{} pending)",
            format_amount(&after["available"]),
            format_amount(&after["pending"])
        )?;
    }
    for g in r["gift_cards"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  gift card {}: charged {}, left {}",
            g["card_id"].as_str().unwrap_or(""),
            format_amount(&g["charged"]),
            format_amount(&g["remaining"])
        )?;
    }
    for p in r["payments"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  paid {:<11} {}",
            p["method"].as_str().unwrap_or(""),
            format_amount(&p["amount"])
        )?;
    }
    Ok(())
}

/// A command line's words, without a comment: from a `#` that starts the line or follows
/// a space to the end (so the README's annotated examples can be pasted as they are).
pub fn words(line: &str) -> Vec<&str> {
    let mut end = line.len();
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && after_space {
            end = i;
            break;
        }
        after_space = c.is_whitespace();
    }
    line[..end].split_whitespace().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_not_words() {
        assert_eq!(
            words("customer TP123   # or scan the pass"),
            ["customer", "TP123"]
        );
        assert_eq!(words("# a whole comment"), Vec::<&str>::new());
        assert_eq!(words("add SKU#1 2.40"), ["add", "SKU#1", "2.40"]);
        assert_eq!(words("voucher TP9\t# the voucher"), ["voucher", "TP9"]);
    }

    #[test]
    fn amounts_are_read_for_people_and_written_back() {
        let eur = Currency::EUR;
        assert_eq!(parse_amount("2.50", eur), Some(250));
        assert_eq!(parse_amount("2,5", eur), Some(250));
        assert_eq!(parse_amount("3", eur), Some(300));
        assert_eq!(parse_amount(".05", eur), Some(5));
        assert_eq!(
            parse_amount("1.234", eur),
            None,
            "more decimals than the currency"
        );
        assert_eq!(parse_amount("-1", eur), None);
        assert_eq!(parse_amount("abc", eur), None);
        assert_eq!(parse_amount("99999999999999999999", eur), None, "overflow");
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(parse_amount("500", jpy), Some(500));
        assert_eq!(parse_amount("5.5", jpy), None);
        assert_eq!(
            format_amount(&json!({"amount": 1205, "currency": "EUR"})),
            "12.05 EUR"
        );
        assert_eq!(
            format_amount(&json!({"amount": -7, "currency": "EUR"})),
            "-0.07 EUR"
        );
        assert_eq!(
            format_amount(&json!({"amount": 500, "currency": "JPY"})),
            "500 JPY"
        );
    }

    #[test]
    fn a_return_says_where_the_refund_goes() {
        let eur = |amount: i64| json!({ "amount": amount, "currency": "EUR" });
        let outcome = json!({
            "refund": eur(135), "savings_reversed": eur(4),
            "tenders": [
                { "type": "savings", "amount": eur(33) },
                { "type": "gift_card", "card_id": "GC-DEMO-1", "amount": eur(81) },
                { "type": "other", "method": "card", "amount": eur(21) }
            ]
        });
        let mut out = Vec::new();
        print_return("R-1", "S-1", &outcome, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("back to savings    0.33 EUR\n"), "{out}");
        assert!(out.contains("back to gift_card  0.81 EUR\n"), "{out}");
        assert!(out.contains("back to card       0.21 EUR\n"), "{out}");
    }

    #[test]
    fn the_cashier_sees_where_the_balance_came_from() {
        let session = |source: Option<&str>| {
            let mut customer = json!({
                "first_name": "Eva",
                "savings": { "available": { "amount": 2000, "currency": "EUR" } }
            });
            if let Some(source) = source {
                customer["balance_source"] = json!(source);
            }
            let v = json!({
                "session_id": "S", "state": "open",
                "evaluation": { "totals": {
                    "total": { "amount": 0, "currency": "EUR" },
                    "discount": { "amount": 0, "currency": "EUR" },
                    "savings": { "total": { "amount": 0, "currency": "EUR" } } },
                    "lines": [] },
                "customer": customer,
                "amount_due": { "amount": 0, "currency": "EUR" },
                "tenders": []
            });
            let mut out = Vec::new();
            print_session(&v, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(session(Some("cached")).contains("customer Eva: savings 20.00 EUR\n"));
        assert!(session(None).contains("customer Eva: savings 20.00 EUR\n"));
        assert!(session(Some("snapshot")).contains("signed snapshot: offline cap applies"));
        assert!(session(Some("live")).contains("(live from central)"));
        let mut out = Vec::new();
        let nameless = json!({
            "evaluation": {},
            "customer": { "customer_ref": "w0123456789abcde", "first_name": null,
                          "savings": { "available": { "amount": 0, "currency": "EUR" } } }
        });
        print_session(&nameless, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("customer w0123456789abcde: savings 0.00 EUR"),
            "{out}"
        );
    }
}
