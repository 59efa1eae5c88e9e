//! The load generator against a real central: simulated tills enrol with their own keys,
//! sync, upload sales and returns and ask for passes, and what central stored is exactly
//! what they sent — nothing lost, nothing doubled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tillpass_tests::central::Central;

#[test]
fn simulated_tills_load_central_and_every_event_lands_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut central = Central::start(dir.path()).unwrap();
    let db = central.db_path();
    let state = dir.path().join("tills.json");
    let run = |extra: &[&str]| {
        let mut args: Vec<OsString> = [
            "--tills",
            "6",
            "--tills-per-store",
            "3",
            "--customers",
            "20",
            "--sync-interval-secs",
            "1",
            "--sales-per-sec",
            "20",
            "--return-ratio",
            "0.3",
            "--passes-per-sec",
            "3",
        ]
        .iter()
        .chain(extra)
        .map(OsString::from)
        .collect();
        args.extend(["--state".into(), state.clone().into_os_string()]);
        args.extend(["--database".into(), db.clone().into_os_string()]);
        loadgen(&central, dir.path(), &args)
    };
    let first = run(&["--duration-secs", "4"]);
    // A second run reuses the enrolled tills (the state file) and goes on with their
    // journal sequences: nothing it sends is taken for an earlier event. Its first second
    // is a warm-up, left out of the figures but not out of the audit.
    let second = run(&["--duration-secs", "4", "--warmup-secs", "1"]);

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
        // The run's own audit: every event it sent is in central's database once.
        let audit = &report["audit"];
        assert_eq!(audit["lost"], 0, "{report}");
        assert_eq!(audit["doubled"], 0, "{report}");
        assert!(audit["sent"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(audit["sent"], audit["stored"], "{report}");
        let share = report["cpu"]["generator_share"].as_f64().unwrap();
        assert!(share > 0.0 && share <= 1.0, "{report}");
    }
    assert_eq!(second["warmup_seconds"], 1.0, "{second}");
    assert_eq!(kind(&first, "enrol")["ok"], 6, "{first}");
    assert!(
        second["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["kind"] != "enrol"),
        "the second run enrolled again: {second}"
    );

    // Without a warm-up, the events acknowledged are the events sent.
    assert_eq!(first["events_accepted"], first["audit"]["sent"], "{first}");
    // Central holds exactly the events the two runs sent (counted here independently of
    // the runs' own audits).
    central.stop();
    let sent = first["audit"]["sent"].as_u64().unwrap() + second["audit"]["sent"].as_u64().unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE till LIKE 'LG%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(u64::try_from(stored).unwrap(), sent);
}

/// The ingest ceiling on PostgreSQL: tills upload batches back to back, nothing else, and
/// the audit finds every event in central's PostgreSQL database exactly once.
#[test]
fn the_ingest_ceiling_on_postgresql_lands_every_event_once() {
    let Some(db) = tillpass_tests::postgres::database("loadgen_ceiling") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let central = Central::start_on(dir.path(), db.url()).unwrap();
    let args: Vec<OsString> = [
        "--tills",
        "3",
        "--customers",
        "10",
        "--ceiling",
        "--batch-events",
        "40",
        "--duration-secs",
        "3",
        "--database",
        db.url(),
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let report = loadgen(&central, dir.path(), &args);
    assert_eq!(report["mode"], "ceiling", "{report}");
    let kinds = report["kinds"].as_array().unwrap();
    assert!(kinds.iter().all(|k| k["kind"] != "sync_round"), "{report}");
    let upload = kinds.iter().find(|k| k["kind"] == "upload").unwrap();
    let batches = upload["ok"].as_u64().unwrap();
    let accepted = report["events_accepted"].as_u64().unwrap();
    // Batches of 39 or 40 events (a sale with a customer is two).
    assert!(batches > 0 && accepted >= batches * 39, "{report}");
    assert_eq!(
        report["audit"]["sent"], report["audit"]["stored"],
        "{report}"
    );
    assert_eq!(report["audit"]["sent"], accepted, "{report}");
    assert_eq!(report["audit"]["lost"], 0, "{report}");
}

/// Runs `tillpass-loadgen` against `central` (its admin token in `dir`) with `args` and
/// `--json`, and reads its report; fails with both outputs when it fails.
fn loadgen(central: &Central, dir: &Path, args: &[OsString]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tillpass-loadgen"))
        .args(["--central", &central.url()])
        .arg("--admin-token-file")
        .arg(dir.join("admin.token"))
        .args(args)
        .arg("--json")
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
    serde_json::from_str(&stdout).unwrap()
}
