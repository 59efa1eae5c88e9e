//! The CLI, run as a process against a database and key directory in a temporary folder.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tillpass-central"))
        .arg("--db")
        .arg(dir.join("central.db"))
        .arg("--keys")
        .arg(dir.join("keys"))
        .args(args)
        .env_remove("TILLPASS_CENTRAL_DB")
        .env_remove("TILLPASS_CENTRAL_KEYS")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_cli_works_on_the_database_directly() {
    let dir = tempfile::tempdir().unwrap();
    let made: serde_json::Value = serde_json::from_str(&ok(dir.path(), &["keys", "init"])).unwrap();
    assert_eq!(made.as_array().unwrap().len(), 4);
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
        .unwrap()
        .collect();
    assert_eq!(keys.len(), 4);
    for key in keys {
        use std::os::unix::fs::PermissionsExt;
        let mode = key.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    ok(
        dir.path(),
        &[
            "customer",
            "create",
            "C-1",
            "--first-name",
            "Ana",
            "--receipts",
        ],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["customer", "show", "C-1"])).unwrap();
    assert_eq!(shown["first_name"], "Ana");
    assert_eq!(shown["consent"]["receipts"], true);

    let out = dir.path().join("qr");
    let pass = ok(
        dir.path(),
        &["customer", "pass", "C-1", "--out", out.to_str().unwrap()],
    );
    assert!(pass.lines().any(|l| l.starts_with("TP")), "{pass}");
    assert!(out.join("C-1.png").exists());
    assert!(out.join("C-1.svg").exists());

    let code: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &["enrol-code", "--store", "S001", "--till", "S001-T01"],
    ))
    .unwrap();
    // The one-time code, then the fingerprint of the root key the till will pin.
    let printed = code["code"].as_str().unwrap();
    let parsed = tillpass_protocol::sync::EnrolCode::parse(printed);
    assert_eq!(parsed.code.len(), 19, "{printed}");
    assert_eq!(
        parsed.root.map(|r| r.to_string()).as_deref(),
        code["root_fingerprint"].as_str()
    );

    let bad = dir.path().join("promos.toml");
    std::fs::write(
        &bad,
        "format = 1\ncurrency = \"EUR\"\n[[promotions]]\nid = \"BROKEN\"\n\
         label = { es = \"x\", en = \"x\" }\nvalid_from = 10\nvalid_until = 5\n\
         rules = [{ type = \"percent_off\", percent = 100 }]\n",
    )
    .unwrap();
    let output = run(dir.path(), &["catalog", "publish", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(r#"promotion "BROKEN": field valid_until"#),
        "{stderr}"
    );

    ok(dir.path(), &["customer", "erase", "C-1"]);
    assert!(
        !run(dir.path(), &["customer", "show", "C-1"])
            .status
            .success()
    );
}

#[test]
fn the_cli_puts_a_customer_in_segments_and_a_catalog_may_then_name_them() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["keys", "init"]);
    ok(
        dir.path(),
        &["customer", "create", "C-1", "--first-name", "Ana"],
    );
    let catalog = dir.path().join("students.toml");
    std::fs::write(
        &catalog,
        "format = 1\ncurrency = \"EUR\"\n[[promotions]]\nid = \"STUDENTS\"\n\
         label = { es = \"Estudiantes\", en = \"Students\" }\nvalid_from = 0\n\
         valid_until = 4000000000\nrules = [{ type = \"percent_off\", percent = 1000 }]\n\
         conditions = { segments = [\"students\"] }\n",
    )
    .unwrap();
    let catalog = catalog.to_str().unwrap();
    let refused = run(dir.path(), &["catalog", "publish", catalog]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no customer is in segment \"students\""),
        "{stderr}"
    );

    let view: serde_json::Value = serde_json::from_str(&ok(
        dir.path(),
        &["customer", "segments", "C-1", "students", "vip"],
    ))
    .unwrap();
    assert_eq!(view["segments"], serde_json::json!(["students", "vip"]));
    assert_eq!(view["pending"]["amount"], 0);
    ok(dir.path(), &["catalog", "publish", catalog]);
    let bad = run(dir.path(), &["customer", "segments", "C-1", "a\tb"]);
    assert!(!bad.status.success());
}

#[test]
fn the_cli_lists_and_resolves_flags_and_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["keys", "init"]);
    let open: serde_json::Value =
        serde_json::from_str(&ok(dir.path(), &["flags", "--open", "--limit", "10"])).unwrap();
    assert_eq!(open, serde_json::json!([]));
    let unknown = run(
        dir.path(),
        &["flags", "resolve", "42", "--note", "no such flag"],
    );
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("flag not found"), "{stderr}");
    let swept: serde_json::Value = serde_json::from_str(&ok(dir.path(), &["compact"])).unwrap();
    let names: Vec<&str> = swept["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"superseded_changes"), "{swept}");
    assert!(names.contains(&"token_uses"), "{swept}");
}

#[test]
fn a_postgresql_url_given_as_db_is_refused_not_made_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tillpass-central"))
        .current_dir(dir.path())
        .args(["--db", "postgres://postgres@127.0.0.1:5432/test", "flags"])
        .env_remove("TILLPASS_CENTRAL_DB")
        .env_remove("TILLPASS_CENTRAL_DATABASE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--database"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file made"
    );
}
