//! `tillpass-loadgen`: see the library's map ([`tillpass_loadgen`]).

// A command-line tool: its report is what it prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use tillpass_loadgen::plan::Plan;
use tillpass_loadgen::run::{self, Report};

fn main() -> std::process::ExitCode {
    let plan = Plan::parse();
    if let Some(problem) = plan.problem() {
        eprintln!("tillpass-loadgen: {problem}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tillpass-loadgen: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(&plan)) {
        Ok(report) if plan.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            verdict(&report)
        }
        Ok(report) => {
            print_table(&report);
            verdict(&report)
        }
        Err(e) => {
            eprintln!("tillpass-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Fails the run (exit 1) when any request failed, any event was refused or doubled, or the
/// audit found an event lost or doubled in central's database.
fn verdict(report: &Report) -> std::process::ExitCode {
    let audited = report.audit.is_none_or(|a| a.holds());
    if report.errors == 0 && report.events_rejected == 0 && report.events_duplicate == 0 && audited
    {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

fn print_table(report: &Report) {
    println!(
        "{} tills ({}; enrolled in {:.0} s), {:.0} s measured after {:.0} s of warm-up: \
         {:.1} sync rounds/s, {:.1} events/s accepted",
        report.tills,
        report.mode,
        report.enrol_seconds,
        report.seconds,
        report.warmup_seconds,
        report.rounds_per_sec,
        report.events_per_sec
    );
    println!(
        "{:<13} {:>9} {:>9} {:>9} {:>9} {:>10}  errors",
        "kind", "ok", "p50 ms", "p99 ms", "max ms", "bytes/req"
    );
    for k in &report.kinds {
        let errors = if k.errors.is_empty() {
            "0".to_owned()
        } else {
            k.errors
                .iter()
                .map(|(what, n)| format!("{what}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{:<13} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>10}  {errors}",
            k.kind, k.ok, k.p50_ms, k.p99_ms, k.max_ms, k.mean_bytes_in
        );
    }
    println!(
        "events: {} accepted, {} duplicate, {} rejected, {} redelivered; {} failed requests",
        report.events_accepted,
        report.events_duplicate,
        report.events_rejected,
        report.events_redelivered,
        report.errors
    );
    if let Some(audit) = &report.audit {
        println!(
            "audit: {} events sent, {} stored, {} lost, {} doubled",
            audit.sent, audit.stored, audit.lost, audit.doubled
        );
    }
    println!(
        "cpu: generator {:.0} % of the machine, machine busy {:.0} %",
        report.cpu.generator_share * 100.0,
        report.cpu.machine_busy_share * 100.0
    );
    if let (Some(grown), Some(per_day)) = (report.db_growth_bytes, report.db_growth_per_day_bytes) {
        println!(
            "database: +{:.1} MB during the run, {:.1} MB per simulated day",
            grown as f64 / 1e6,
            per_day as f64 / 1e6
        );
    }
}
