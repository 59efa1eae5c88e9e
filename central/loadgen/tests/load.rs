//! The load generator against a real central: simulated tills enrol with their own keys,
//! sync, upload sales and returns and ask for passes, and what central stored is exactly
//! what they sent — nothing lost, nothing doubled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use serde_json::Value;
use tillpass_tests::central::Central;

#[test]
fn simulated_tills_load_central_and_every_event_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut central = Central::start(dir.path()).unwrap();
    let db = central.db_path();
    let state = dir.path().join("tills.json");
    let run = |secs: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tillpass-loadgen"))
            .args(["--central", &central.url()])
            .arg("--admin-token-file")
            .arg(dir.path().join("admin.token"))
            .args([
                "--tills",
                "6",
                "--tills-per-store",
                "3",
                "--customers",
                "20",
            ])
            .args(["--sync-interval-secs", "1", "--sales-per-sec", "20"])
            .args(["--return-ratio", "0.3", "--passes-per-sec", "3"])
            .args(["--duration-secs", secs, "--json"])
            .arg("--state")
            .arg(&state)
            .arg("--database")
            .arg(&db)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "tillpass-loadgen failed ({}):\n{stdout}\n{}\ncentral:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            central.output()
        );
        serde_json::from_str::<Value>(&stdout).unwrap()
    };
    let first = run("4");
    // A second run reuses the enrolled tills (the state file) and goes on with their
    // journal sequences: nothing it sends is taken for an earlier event.
    let second = run("3");

    let kind = |report: &Value, name: &str| -> Value {
        report["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    for report in [&first, &second] {
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["events_rejected"], 0, "{report}");
        assert_eq!(report["events_duplicate"], 0, "{report}");
        for name in ["sync_round", "sync_request", "upload", "pass"] {
            assert!(
                kind(report, name)["ok"].as_u64().unwrap() > 0,
                "{name}: {report}"
            );
        }
        assert!(report["db_growth_per_day_bytes"].is_i64(), "{report}");
    }
    assert_eq!(kind(&first, "enrol")["ok"], 6, "{first}");
    assert!(
        second["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kind"] != "enrol"),
        "the second run enrolled again: {second}"
    );

    // Central holds exactly the events central acknowledged as accepted.
    central.stop();
    let accepted =
        first["events_accepted"].as_u64().unwrap() + second["events_accepted"].as_u64().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE till LIKE 'LG%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(u64::try_from(stored).unwrap(), accepted);
}
