//! `tillpass-install` against a real `tillpass-central` on loopback: install into a staged
//! root, re-run (nothing changes), a spent code refused, `doctor` on a healthy and a broken
//! till (key mode, scanners, central down), the first manager account, `upgrade` with a
//! good agent and with one that fails (rolled back, data and binary intact).
//!
//! The live-system steps (service user, udev, systemd, `systemctl start`) cannot run here:
//! these machines do not run systemd as PID 1. They are tested with the installer's
//! recording `System` (`installer/src/service.rs`, `upgrade.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tillpass_tests::binary::{self, CENTRAL, INSTALL};
use tillpass_tests::process::Child;

struct Central {
    _child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Central {
    fn start() -> Central {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(binary::path(CENTRAL).unwrap());
        cmd.current_dir(dir.path()).args([
            "--db",
            "central.db",
            "--keys",
            "keys",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        let mut child = Child::spawn("central", cmd, dir.path()).unwrap();
        let line = child
            .wait_for_line("tillpass-central listening", Duration::from_secs(30))
            .unwrap();
        let addr = line.rsplit('=').next().unwrap().trim().to_owned();
        let central = Central {
            _child: child,
            url: format!("http://{addr}"),
            dir,
        };
        // A till is ready (and an upgrade succeeds) once it has a catalog to sell with.
        let catalog = central.dir.path().join("catalog.toml");
        std::fs::write(
            &catalog,
            "format = 1\ncurrency = \"EUR\"\n[savings]\nearn_rate = 100\nreturn_window_days = 14\n",
        )
        .unwrap();
        central.run(&["catalog", "publish", catalog.to_str().unwrap()]);
        central
    }

    fn enrol_code(&self, store: &str) -> String {
        let out = Command::new(binary::path(CENTRAL).unwrap())
            .current_dir(self.dir.path())
            .args([
                "--db",
                "central.db",
                "--keys",
                "keys",
                "enrol-code",
                "--store",
                store,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["code"].as_str().unwrap().to_owned()
    }

    /// Runs a `tillpass-central` command on this central's database; its output.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(binary::path(CENTRAL).unwrap())
            .current_dir(self.dir.path())
            .args(["--db", "central.db", "--keys", "keys"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new customer `id` and the text of the pass central issues for them.
    fn pass(&self, id: &str) -> String {
        self.run(&["customer", "create", "--first-name", "Ana", id]);
        let out = self.run(&["customer", "pass", id, "--out", "pass"]);
        out.lines()
            .find(|l| l.starts_with("TP"))
            .expect("the pass text")
            .to_owned()
    }
}

fn install(args: &[&str]) -> std::process::Output {
    Command::new(binary::path(INSTALL).unwrap())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A till staged in a temp dir and enrolled with `central` for `store`.
fn installed(central: &Central, store: &str) -> tempfile::TempDir {
    let code = central.enrol_code(store);
    let stage = tempfile::tempdir().unwrap();
    let out = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        stage.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    stage
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn install_enrols_and_a_rerun_changes_nothing() {
    let central = Central::start();
    let code = central.enrol_code("S1");
    let stage = tempfile::tempdir().unwrap();
    let root = stage.path().to_str().unwrap();

    let first = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        root,
    ]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("created enrolment: till S1-T1 of store S1"),
        "{}",
        text(&first)
    );

    let key = stage.path().join("etc/tillpass/till.key");
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&stage.path().join("etc/tillpass/api.token")), 0o600);
    let key_before = std::fs::read(&key).unwrap();
    let enrolment: serde_json::Value = serde_json::from_slice(
        &std::fs::read(stage.path().join("var/lib/tillpass/enrolment.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(enrolment["response"]["store"], "S1");
    assert!(
        !enrolment["response"]["trust_list"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    // Again, without a code: the till is enrolled, nothing changes, the key is kept.
    let again = install(&["install", "--central", &central.url, "--root", root]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to change"),
        "{}",
        text(&again)
    );
    assert!(!text(&again).contains("created"), "{}", text(&again));
    assert_eq!(std::fs::read(&key).unwrap(), key_before);

    let doctor = install(&["doctor", "--root", root]);
    let report = text(&doctor);
    assert!(doctor.status.success(), "{report}");
    for healthy in [
        "ok] central",
        "ok] clock: within",
        "ok] scanners",
        "skipped] unit",
    ] {
        assert!(report.contains(healthy), "{healthy}:\n{report}");
    }
}

#[test]
fn a_spent_code_is_refused_with_what_to_do() {
    let central = Central::start();
    let code = central.enrol_code("S2");
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ok = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        a.path().to_str().unwrap(),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    let again = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        b.path().to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    let msg = text(&again);
    assert!(msg.contains("refused the enrolment"), "{msg}");
    assert!(msg.contains("new enrolment code"), "{msg}");
}

#[test]
fn an_unreachable_central_is_explained() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stage = tempfile::tempdir().unwrap();
    let out = install(&[
        "install",
        "--central",
        &format!("http://127.0.0.1:{port}"),
        "--enrol",
        // A code in today's form: the one-time part, then a root fingerprint.
        &format!("XXXX-{}", "0".repeat(32)),
        "--root",
        stage.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("could not reach central"),
        "{}",
        text(&out)
    );
}

#[test]
fn doctor_finds_a_readable_key_and_says_chmod() {
    let central = Central::start();
    let stage = installed(&central, "S3");
    let root = stage.path().to_str().unwrap();
    let key = stage.path().join("etc/tillpass/till.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let doctor = install(&["doctor", "--root", root]);
    assert!(!doctor.status.success());
    let report = text(&doctor);
    assert!(report.contains("FAIL] till-key"), "{report}");
    assert!(report.contains("chmod 0600"), "{report}");
    // install puts the mode right again
    let fix = install(&["install", "--central", &central.url, "--root", root]);
    assert!(fix.status.success(), "{}", text(&fix));
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn an_installed_till_identifies_a_pass_central_issued() {
    let central = Central::start();
    let stage = installed(&central, "S4");
    let root = stage.path().to_str().unwrap();

    let pass = central.pass("C-0042");

    // The agent on the staged till's files, the API on a free port.
    let (mut agent, addr) = run_agent(&stage);
    let token = std::fs::read_to_string(stage.path().join("etc/tillpass/api.token")).unwrap();
    let body = serde_json::json!({ "scan": pass }).to_string();
    let answer = http_post(&addr, "/v1/identify", token.trim(), &body);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        agent.output()
    );
    assert!(answer.contains("\"subject\":\"C-0042\""), "{answer}");

    // The relay uploads the token use and the new customer to central, signed with the
    // till key; the outbox empties only on central's acknowledgement.
    tillpass_tests::wait::until("the outbox to drain", Duration::from_secs(30), || {
        let status = http_get(&addr, "/v1/status", token.trim());
        status.contains("\"outbox_depth\":0").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.output()));
    agent.kill();

    // Everything reached central: purge is allowed and removes data and keys.
    let purge = install(&["uninstall", "--purge", "--root", root]);
    assert!(purge.status.success(), "{}", text(&purge));
    assert!(!stage.path().join("var/lib/tillpass").exists());
    assert!(!stage.path().join("etc/tillpass/till.key").exists());
}

/// The agent run from a staged till's files, its API on a free loopback port; and the
/// address it listens on.
fn run_agent(stage: &tempfile::TempDir) -> (Child, String) {
    use tillpass_tests::binary::TILLPASS;
    let root = stage.path().to_str().unwrap();
    let mut cmd = Command::new(binary::path(TILLPASS).unwrap());
    cmd.args([
        "--config",
        &format!("{root}/etc/tillpass/config.toml"),
        "run",
    ])
    .env(
        "TILLPASS_STORE_DATA_DIR",
        format!("{root}/var/lib/tillpass"),
    )
    .env(
        "TILLPASS_TILL_ENROLMENT_FILE",
        format!("{root}/var/lib/tillpass/enrolment.json"),
    )
    .env(
        "TILLPASS_API_TOKEN_FILE",
        format!("{root}/etc/tillpass/api.token"),
    )
    .env(
        "TILLPASS_TILL_KEY_FILE",
        format!("{root}/etc/tillpass/till.key"),
    )
    .env("TILLPASS_API_LISTEN", "127.0.0.1:0");
    let mut agent = Child::spawn("agent", cmd, stage.path()).unwrap();
    let addr = agent
        .wait_for_line("tillpass listening address=", Duration::from_secs(30))
        .unwrap();
    (agent, addr)
}

fn http_get(addr: &str, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn http_post(addr: &str, path: &str, token: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Like [`install`], with `input` on standard input.
fn install_with_input(args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(binary::path(INSTALL).unwrap())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// An executable shell script `name` in `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A till staged and enrolled like [`installed`], with `agent` installed as its
/// `/usr/bin/tillpass`.
fn installed_with_agent(central: &Central, store: &str, agent: &Path) -> tempfile::TempDir {
    let code = central.enrol_code(store);
    let stage = tempfile::tempdir().unwrap();
    let out = install(&[
        "install",
        "--central",
        &central.url,
        "--enrol",
        &code,
        "--root",
        stage.path().to_str().unwrap(),
        "--agent-binary",
        agent.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    stage
}

/// The `database` line of `doctor`'s report.
fn doctor_database_line(root: &str) -> String {
    let report = text(&install(&["doctor", "--root", root]));
    report
        .lines()
        .find(|l| l.contains("] database:"))
        .unwrap_or_else(|| panic!("no database line:\n{report}"))
        .to_owned()
}

#[test]
fn doctor_finds_a_missing_scanner_and_a_central_that_is_down() {
    let central = Central::start();
    let stage = installed(&central, "S5");
    let root = stage.path().to_str().unwrap();

    // The operator adds two scanners below the installer's marker line: one there
    // (/dev/null stands in for a device node anyone may read), one unplugged.
    let config = stage.path().join("etc/tillpass/config.toml");
    let mut settings = std::fs::read_to_string(&config).unwrap();
    assert!(settings.contains("tillpass-install keeps everything below this line"));
    settings.push_str(
        "[[scanner]]\nname = \"front\"\ndevice = { kind = \"serial\", path = \"/dev/null\" }\n\n\
         [[scanner]]\nname = \"back\"\n\
         device = { kind = \"serial\", path = \"/dev/serial/by-id/usb-Honeywell_1900-missing-if00\" }\n",
    );
    std::fs::write(&config, &settings).unwrap();

    // A re-run of install keeps them.
    let again = install(&["install", "--central", &central.url, "--root", root]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("nothing to change"),
        "{}",
        text(&again)
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), settings);

    let doctor = install(&["doctor", "--root", root]);
    let report = text(&doctor);
    assert!(!doctor.status.success(), "{report}");
    assert!(report.contains("ok] scanner: scanner front"), "{report}");
    assert!(
        report.contains("FAIL] scanner: scanner back: /dev/serial/by-id/usb-Honeywell_1900-missing-if00 is not there"),
        "{report}"
    );
    assert!(report.contains("plug the scanner in"), "{report}");
    assert!(report.contains("tillpass scanners"), "{report}");
    assert!(report.contains("ok] central"), "{report}");
    assert!(report.contains("ok] clock"), "{report}");

    // Central goes away.
    drop(central);
    let report = text(&install(&["doctor", "--root", root]));
    assert!(
        report.contains("FAIL] central: could not reach central at http://127.0.0.1:"),
        "{report}"
    );
    assert!(report.contains("curl -sS http://127.0.0.1:"), "{report}");
    assert!(report.contains("sells offline"), "{report}");
    assert!(
        report.contains("skipped] clock: needs central's signed time"),
        "{report}"
    );
}

#[test]
fn the_first_manager_account_is_made_by_the_agent_with_the_password_on_stdin() {
    let central = Central::start();
    let code = central.enrol_code("S6");
    let tools = tempfile::tempdir().unwrap();
    // A stand-in agent that writes down how it was called.
    let fake = script(
        tools.path(),
        "tillpass",
        "printf '%s\\n' \"$@\" > \"$0.args\"\nprintf '%s' \"$TILLPASS_STORE_DATA_DIR\" > \"$0.env\"\ncat > \"$0.stdin\"\n",
    );
    let stage = tempfile::tempdir().unwrap();
    let root = stage.path().to_str().unwrap();
    let out = install_with_input(
        &[
            "install",
            "--central",
            &central.url,
            "--enrol",
            &code,
            "--root",
            root,
            "--agent-binary",
            fake.to_str().unwrap(),
            "--manager",
            "ana",
            "--manager-lang",
            "en",
            "--manager-password-stdin",
        ],
        "correct horse battery\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("tillpass manager add --name ana"),
        "{}",
        text(&out)
    );
    let bin = stage.path().join("usr/bin/tillpass");
    let args = std::fs::read_to_string(bin.with_extension("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        vec![
            "--config",
            &format!("{root}/etc/tillpass/config.toml"),
            "manager",
            "add",
            "--name",
            "ana",
            "--lang",
            "en"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(bin.with_extension("stdin")).unwrap(),
        "correct horse battery\n"
    );
    assert_eq!(
        std::fs::read_to_string(bin.with_extension("env")).unwrap(),
        format!("{root}/var/lib/tillpass")
    );
}

#[test]
fn an_agent_without_the_manager_command_is_explained() {
    let central = Central::start();
    let code = central.enrol_code("S8");
    let tools = tempfile::tempdir().unwrap();
    // What clap says for an unknown subcommand, as an agent older than `manager` would.
    let old = script(
        tools.path(),
        "tillpass",
        "echo \"error: unrecognized subcommand 'manager'\" >&2\nexit 2\n",
    );
    let stage = tempfile::tempdir().unwrap();
    let out = install_with_input(
        &[
            "install",
            "--central",
            &central.url,
            "--enrol",
            &code,
            "--root",
            stage.path().to_str().unwrap(),
            "--agent-binary",
            old.to_str().unwrap(),
            "--manager",
            "ana",
            "--manager-password-stdin",
        ],
        "pw\n",
    );
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("has no `manager add` command"), "{msg}");
    assert!(msg.contains("Install a newer tillpass"), "{msg}");
    // Everything before the manager step is in place: a re-run continues from there.
    assert!(
        stage
            .path()
            .join("var/lib/tillpass/enrolment.json")
            .exists()
    );
}

#[test]
fn with_the_real_agent_the_manager_step_works_or_says_the_agent_is_too_old() {
    use tillpass_tests::binary::TILLPASS;
    let agent = binary::path(TILLPASS).unwrap();
    let central = Central::start();
    let code = central.enrol_code("S9");
    let stage = tempfile::tempdir().unwrap();
    let out = install_with_input(
        &[
            "install",
            "--central",
            &central.url,
            "--enrol",
            &code,
            "--root",
            stage.path().to_str().unwrap(),
            "--agent-binary",
            agent.to_str().unwrap(),
            "--manager",
            "ana",
            "--manager-password-stdin",
        ],
        "a long enough password 1\n",
    );
    let has_manager = Command::new(&agent)
        .args(["manager", "add", "--help"])
        .output()
        .unwrap()
        .status
        .success();
    if has_manager {
        assert!(out.status.success(), "{}", text(&out));
    } else {
        assert!(!out.status.success());
        assert!(
            text(&out).contains("has no `manager add` command"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn upgrade_to_a_good_agent_starts_it_and_keeps_the_previous_binary() {
    use tillpass_tests::binary::TILLPASS;
    let agent = binary::path(TILLPASS).unwrap();
    let central = Central::start();
    let stage = installed_with_agent(&central, "S10", &agent);
    let root = stage.path().to_str().unwrap();

    let first = install(&[
        "upgrade",
        "--binary",
        agent.to_str().unwrap(),
        "--root",
        root,
    ]);
    let report = text(&first);
    assert!(first.status.success(), "{report}");
    assert!(report.contains("the agent has no database yet"), "{report}");
    assert!(report.contains("started the new agent"), "{report}");
    let prev = stage.path().join("usr/bin/tillpass.prev");
    assert_eq!(
        std::fs::read(&prev).unwrap(),
        std::fs::read(&agent).unwrap()
    );
    assert!(
        stage.path().join("var/lib/tillpass/tillpass.db").exists(),
        "the new agent made and migrated its database"
    );

    // Again: now there is a database, and it is backed up first.
    let second = install(&[
        "upgrade",
        "--binary",
        agent.to_str().unwrap(),
        "--root",
        root,
    ]);
    let report = text(&second);
    assert!(second.status.success(), "{report}");
    assert!(report.contains("backed up the database to"), "{report}");
    let backups: Vec<String> = std::fs::read_dir(stage.path().join("var/lib/tillpass/backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert!(backups[0].ends_with("-before-upgrade.db"), "{backups:?}");
    let doctor = install(&["doctor", "--root", root]);
    assert!(doctor.status.success(), "{}", text(&doctor));
}

#[test]
fn upgrade_to_an_agent_that_fails_rolls_back_binary_and_database() {
    use tillpass_tests::binary::TILLPASS;
    let agent = binary::path(TILLPASS).unwrap();
    let central = Central::start();
    let pass = central.pass("C-0077");
    let stage = installed_with_agent(&central, "S11", &agent);
    let root = stage.path().to_str().unwrap();
    // Central goes away, so the sale's events stay in the outbox: data central does not
    // have, which must survive whatever the upgrade does.
    drop(central);
    let (mut till, addr) = run_agent(&stage);
    let token = std::fs::read_to_string(stage.path().join("etc/tillpass/api.token")).unwrap();
    let body = serde_json::json!({ "scan": pass }).to_string();
    let answer = http_post(&addr, "/v1/identify", token.trim(), &body);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        till.output()
    );
    till.kill();
    let before = doctor_database_line(root);
    assert!(before.contains("waiting for central"), "{before}");

    // A new agent whose migration wrecks the database, then fails.
    let tools = tempfile::tempdir().unwrap();
    let broken = script(
        tools.path(),
        "tillpass-broken",
        "echo 'tillpass: migration 0042 failed: disk I/O error' >&2\n\
         printf 'this is not a database' > \"$TILLPASS_STORE_DATA_DIR/tillpass.db\"\n\
         exit 1\n",
    );
    let up = install(&[
        "upgrade",
        "--binary",
        broken.to_str().unwrap(),
        "--root",
        root,
        "--ready-timeout",
        "30",
    ]);
    let msg = text(&up);
    assert!(!up.status.success(), "{msg}");
    assert!(msg.contains("the new agent did not come up"), "{msg}");
    assert!(msg.contains("migration 0042 failed"), "{msg}");
    assert!(msg.contains("Rolled back"), "{msg}");

    // The old binary and the old data are back.
    assert_eq!(
        std::fs::read(stage.path().join("usr/bin/tillpass")).unwrap(),
        std::fs::read(&agent).unwrap()
    );
    assert_eq!(doctor_database_line(root), before);
    // What the failed agent left is kept, not deleted.
    let refused: Vec<_> = std::fs::read_dir(stage.path().join("var/lib/tillpass/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("refused-upgrade.db"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        std::fs::read(&refused[0]).unwrap(),
        b"this is not a database"
    );

    // The previous agent starts on the restored database, its outbox intact.
    let (till, addr) = run_agent(&stage);
    let status = http_get(&addr, "/v1/status", token.trim());
    assert!(
        status.starts_with("HTTP/1.1 200") && !status.contains("\"outbox_depth\":0"),
        "{status}\n{}",
        till.output()
    );
}
