//! Standard input as a scanner (development): the test runs this test binary again as a
//! child whose stdin it writes.

use std::io::Write;
use std::process::{Command, Stdio};

use tillpass_hardware::ScannerEvent;
use tillpass_hardware::config::DeviceConfig;

use crate::util::{DEADLINE, Running, scanner};

#[test]
#[ignore = "the child half of reads_lines_from_standard_input"]
fn stdin_child() {
    if std::env::var_os("TILLPASS_STDIN_CHILD").is_none() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut run = Running::start(vec![scanner("dev", DeviceConfig::Stdin)]);
        run.connected().await;
        loop {
            match tokio::time::timeout(DEADLINE, run.events.recv()).await {
                Ok(Some(ScannerEvent::Scan(scan))) => println!("SCAN {}", scan.label),
                Ok(Some(ScannerEvent::Disconnected { reason, .. })) => {
                    println!("DISCONNECTED {reason}");
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        // Standard input does not come back: the task has ended by itself.
        let handle = run.handle.take().unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !handle.is_finished() && tokio::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        println!("FINISHED {}", handle.is_finished());
    });
}

#[test]
fn reads_lines_from_standard_input() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stdin::stdin_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TILLPASS_STDIN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"TP1\nTP2\r\n]Q1TP3\n").unwrap();
    drop(stdin); // end of file
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // libtest prints its own words on the same stdout, sometimes on the same line.
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| {
            let at = ["SCAN ", "DISCONNECTED ", "FINISHED "]
                .iter()
                .filter_map(|marker| l.find(marker))
                .min()?;
            Some(&l[at..])
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "SCAN TP1",
            "SCAN TP2",
            "SCAN TP3",
            "DISCONNECTED end of file",
            "FINISHED true"
        ],
        "{stdout}"
    );
}
