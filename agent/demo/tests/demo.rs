//! The demo store end to end: the real `tillpass-demo` binary opens central and an enrolled
//! till on loopback, and `tillpass-demo pos` sells and takes goods back against it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tillpass_demo::shop::{SUMMARY_FILE, Summary};

const DEMO: &str = env!("CARGO_BIN_EXE_tillpass-demo");

/// The demo process, stopped with SIGTERM when the test is done (killed if it panics).
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `probe` until it gives a value, or fails the test after `deadline`.
fn wait_for<T>(what: &str, deadline: Duration, probe: impl FnMut() -> Option<T>) -> T {
    tillpass_tests::wait::until(what, deadline, probe).unwrap()
}

/// `GET url`: its status and body, or nothing if it could not be asked.
fn get(url: &str) -> Option<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        let answer = client.get(url).send().await.ok()?;
        let status = answer.status().as_u16();
        Some((status, answer.text().await.ok()?))
    })
}

fn cashier(dir: &Path, script: &str) -> String {
    let mut child = Command::new(DEMO)
        .arg("pos")
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn the_demo_store_sells_and_takes_back_through_the_terminal_cashier() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    let mut demo = Demo(
        Command::new(DEMO)
            .args([
                "--port",
                "0",
                "--central-port",
                "0",
                "--phone-port",
                "0",
                "--no-stdin",
                "--dir",
            ])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let summary: Summary = wait_for("demo.json", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    });
    // The till enrolled with central and pulled its trust list and catalog.
    let readyz = format!("{}/readyz", summary.pos_api);
    wait_for("/readyz 200", Duration::from_secs(60), || {
        (get(&readyz)?.0 == 200).then_some(())
    });
    // ... and central's three sample customers.
    let metrics = format!("{}/metrics", summary.pos_api);
    wait_for("the customers at the till", Duration::from_secs(60), || {
        get(&metrics)?
            .1
            .lines()
            .any(|l| l == "tillpass_customers 3")
            .then_some(())
    });

    // Lucía's pass, the WELCOME voucher and the gift card, as the demo printed them, pasted
    // with the README's comments.
    let script = format!(
        "add APPLES 2.40 2 fresh\nadd COFFEE 4.50 3 coffee\n\
         customer {}            # or scan the pass at the till's scanner first\n\
         voucher {}             # the WELCOME voucher the demo printed\n\
         savings 2\ngiftcard {} 5          # the demo's gift card QR, €5.00 of it\n\
         close card             # the receipt\n",
        summary.customer_pass.text, summary.voucher, summary.gift_card
    );
    let text = cashier(&dir, &script);
    assert!(text.contains("customer Lucía: savings 12.50 EUR"), "{text}");
    // 18.30 gross − 0.48 fresh − 4.50 coffee 3x2 − 5.00 voucher = 8.32; 2.00 savings and
    // 5.00 gift card leave 1.32 for the card.
    assert!(text.contains("gross            18.30 EUR"), "{text}");
    assert!(text.contains("total            8.32 EUR"), "{text}");
    assert!(text.contains("savings redeemed 2.00 EUR"), "{text}");
    assert!(
        text.contains("gift card GC-DEMO-1: charged 5.00 EUR, left 45.00 EUR"),
        "{text}"
    );
    assert!(text.contains("paid card        1.32 EUR"), "{text}");

    // The sale's id is on the receipt: take one bag of apples back.
    let sale = text
        .lines()
        .find_map(|l| l.strip_prefix("=== receipt "))
        .and_then(|l| l.strip_suffix(" ==="))
        .unwrap()
        .to_owned();
    let back = cashier(&dir, &format!("return {sale} 1 1\n"));
    assert!(back.contains(&format!("of sale {sale}")), "{back}");
    assert!(back.contains("refund"), "{back}");

    // Ctrl-C (SIGTERM here) closes the store cleanly.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(demo.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_for("the demo to stop", Duration::from_secs(30), || {
        demo.0.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
}

#[test]
fn the_cashier_without_a_running_demo_says_what_to_do() {
    let parent = tempfile::tempdir().unwrap();
    let out = Command::new(DEMO)
        .args(["pos", "--dir"])
        .arg(parent.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("start the demo first"), "{err}");
}

#[test]
fn typing_pass_in_the_demo_terminal_prints_fresh_ones() {
    use std::io::{BufRead, BufReader};
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo");
    let mut child = Command::new(DEMO)
        .args([
            "--port",
            "0",
            "--central-port",
            "0",
            "--phone-port",
            "0",
            "--dir",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let demo = Demo(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        // The banner's end, then the fresh pass after `pass`.
        for line in lines.by_ref() {
            if line.contains("Ctrl-C stops the store") {
                let _ = tx.send(None);
                break;
            }
        }
        let mut lines = lines.skip_while(|l| !l.contains("a fresh pass for Lucía"));
        let _ = lines.next();
        let _ = tx.send(lines.next());
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(60)).unwrap(), None);
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(dir.join(SUMMARY_FILE)).unwrap()).unwrap();
    stdin.write_all(b"pass\n").unwrap();
    let fresh = rx.recv_timeout(Duration::from_secs(30)).unwrap().unwrap();
    let fresh = fresh.trim();
    assert!(fresh.starts_with("TP"), "{fresh}");
    assert_ne!(
        fresh, summary.customer_pass.text,
        "a new pass, not the printed one"
    );
    drop(demo);
}
