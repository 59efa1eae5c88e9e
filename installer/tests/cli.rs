//! The `tillpass-install` command line as an operator meets it. (Having an integration
//! test here also makes `cargo test --workspace` build the binary that the end-to-end tests
//! in `tests/` run.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tillpass-install"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn doctor_on_an_empty_root_fails_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(&["doctor", "--root", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(text.contains("FAIL] unit-file"), "{text}");
    assert!(
        text.contains("→ re-run `tillpass-install install"),
        "{text}"
    );
}

#[test]
fn force_without_purge_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(&[
        "uninstall",
        "--force",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(text.contains("--purge"), "{text}");
}

#[test]
fn install_without_a_code_on_a_new_till_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(&[
        "install",
        "--central",
        "http://127.0.0.1:9",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(text.contains("--enrol CODE"), "{text}");
}

#[test]
fn a_manager_without_a_password_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(&[
        "install",
        "--central",
        "http://127.0.0.1:9",
        "--enrol",
        "CODE",
        "--manager",
        "ana",
        "--root",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(text.contains("--manager-password-stdin"), "{text}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn upgrading_a_till_with_no_agent_says_to_install_first() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("tillpass-new");
    std::fs::write(&new, b"#!/bin/sh\n").unwrap();
    let stage = dir.path().join("stage");
    let (ok, text) = run(&[
        "upgrade",
        "--binary",
        new.to_str().unwrap(),
        "--root",
        stage.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(text.contains("no agent is installed"), "{text}");
    assert!(!stage.exists(), "nothing was made");
}

#[test]
fn the_manual_page_is_generated_from_the_command_line() {
    let (ok, page) = run(&["man"]);
    assert!(ok, "{page}");
    assert!(
        page.starts_with(".ie"),
        "roff, as clap_mangen writes it: {page}"
    );
    assert!(page.contains(".TH tillpass-install 1"), "{page}");
    for subcommand in ["install", "upgrade", "uninstall", "doctor", "backup"] {
        assert!(page.contains(subcommand), "{subcommand} is not in the page");
    }
    let (_, help) = run(&["--help"]);
    assert!(
        !help.contains("man "),
        "the generator stays out of --help: {help}"
    );
    assert!(!help.contains("mark-unsynced"), "{help}");
}
