//! Decode + frame throughput, the delay this crate adds between the last byte of a scan and
//! its `Scan` event, and the physical floor a scan cannot beat.
//!
//! ```sh
//! cargo bench -p tillpass-hardware --bench pipeline
//! ```
//!
//! * `throughput/*`: scans of a 270-character token pushed through the pure pipeline
//!   (decoder → framer → label), as serial bytes, keyboard-wedge key events (US and French
//!   keymaps) and Honeywell HID-POS reports.
//! * `latency/pipeline_last_byte`: the body of a scan already pushed, the time to push the
//!   terminating CR and get the `Scan` out.
//! * `latency/pty_end_to_end` (Unix): a real supervisor reading a pseudo-terminal through
//!   serialport; time from writing a complete scan to receiving its `ScannerEvent::Scan`.
//!
//! Before the benchmarks it prints the physical floor: how long the token takes on a
//! 9600 and a 115200 baud line, and as keyboard-wedge key presses.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tillpass_hardware::clock::Timestamp;
use tillpass_hardware::config::{
    DeviceConfig, HidPosConfig, KeyboardConfig, LayoutChoice, ScannerConfig, SerialConfig,
};
use tillpass_hardware::framer::Terminator;
use tillpass_hardware::hidpos::HidPosLayout;
use tillpass_hardware::keymap::Country;
use tillpass_hardware::keymap::typing::{self, Stroke, TypingOptions};
use tillpass_hardware::pipeline::{Input, Output, Pipeline};
use tillpass_hardware::wedge::KeyEvent;

const SCANS: usize = 100;

/// A 270-character token: 3-letter prefix and 267 digits.
fn token() -> String {
    let mut s = String::from("TPX");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..267 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from(b'0' + u8::try_from(x % 10).unwrap()));
    }
    s
}

fn serial_config() -> ScannerConfig {
    let mut c = ScannerConfig::new(
        "bench",
        DeviceConfig::Serial(SerialConfig {
            path: "/dev/null".into(),
            baud: 115_200,
            parity: Default::default(),
            data_bits: 8,
            stop_bits: 1,
            flow_control: Default::default(),
        }),
    );
    c.framing.terminator = Some(Terminator::Cr);
    c
}

fn keyboard_config(keymap: Country) -> ScannerConfig {
    ScannerConfig::new(
        "bench",
        DeviceConfig::Keyboard(KeyboardConfig {
            path: "/dev/null".into(),
            keymap,
            shared_with_keyboard: false,
            machine_keys: 4,
            machine_gap_ms: 20,
        }),
    )
}

fn hidpos_config() -> ScannerConfig {
    ScannerConfig::new(
        "bench",
        DeviceConfig::HidPos(HidPosConfig {
            path: "/dev/null".into(),
            layout: LayoutChoice::Custom(HidPosLayout::HONEYWELL),
        }),
    )
}

fn typed(keymap: Country, text: &str) -> Vec<KeyEvent> {
    typing::type_text(
        keymap.keymap(),
        text,
        TypingOptions::default(),
        Timestamp::ZERO,
        Duration::from_millis(1),
    )
    .unwrap()
}

fn honeywell_reports(data: &[u8]) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = data.chunks(56).collect();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut r = vec![0u8; 64];
            r[0] = 2;
            r[1] = u8::try_from(chunk.len()).unwrap();
            r[2..5].copy_from_slice(b"]Q1");
            r[5..5 + chunk.len()].copy_from_slice(chunk);
            r[63] = u8::from(i + 1 < chunks.len());
            r
        })
        .collect()
}

fn count_scans(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Scan { .. }))
        .count()
}

fn throughput(c: &mut Criterion) {
    let tok = token();
    let mut group = c.benchmark_group("throughput");

    let line = format!("{tok}\r").repeat(SCANS).into_bytes();
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("serial_bytes_64b_chunks", |b| {
        let mut pipeline = Pipeline::new(&serial_config());
        let mut out = Vec::with_capacity(SCANS);
        b.iter(|| {
            out.clear();
            for chunk in line.chunks(64) {
                pipeline.push(Input::Bytes(black_box(chunk)), Timestamp::ZERO, &mut out);
            }
            assert_eq!(count_scans(&out), SCANS);
        });
    });

    for keymap in [Country::Us, Country::Fr] {
        let events = typed(keymap, &format!("{tok}\r").repeat(SCANS));
        group.throughput(Throughput::Bytes(line.len() as u64));
        group.bench_function(format!("keyboard_wedge_{keymap}"), |b| {
            let mut pipeline = Pipeline::new(&keyboard_config(keymap));
            let mut out = Vec::with_capacity(SCANS);
            b.iter(|| {
                out.clear();
                for ev in &events {
                    pipeline.push(Input::Key(*black_box(ev)), ev.at, &mut out);
                }
                assert_eq!(count_scans(&out), SCANS);
            });
        });
    }

    let reports = honeywell_reports(tok.as_bytes());
    group.throughput(Throughput::Bytes((tok.len() * SCANS) as u64));
    group.bench_function("hidpos_honeywell_reports", |b| {
        let mut pipeline = Pipeline::new(&hidpos_config());
        let mut out = Vec::with_capacity(SCANS);
        b.iter(|| {
            out.clear();
            for _ in 0..SCANS {
                for r in &reports {
                    pipeline.push(Input::Report(black_box(r)), Timestamp::ZERO, &mut out);
                }
            }
            assert_eq!(count_scans(&out), SCANS);
        });
    });
    group.finish();
}

fn latency(c: &mut Criterion) {
    let tok = token();
    let mut group = c.benchmark_group("latency");
    group.bench_function("pipeline_last_byte", |b| {
        b.iter_batched(
            || {
                let mut pipeline = Pipeline::new(&serial_config());
                let mut out = Vec::new();
                pipeline.push(Input::Bytes(tok.as_bytes()), Timestamp::ZERO, &mut out);
                (pipeline, out)
            },
            |(mut pipeline, mut out)| {
                pipeline.push(Input::Bytes(b"\r"), Timestamp::ZERO, &mut out);
                assert_eq!(count_scans(&out), 1);
                out
            },
            BatchSize::SmallInput,
        );
    });
    #[cfg(unix)]
    pty_end_to_end(&mut group, &tok);
    group.finish();
}

#[cfg(unix)]
fn pty_end_to_end(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    tok: &str,
) {
    use std::io::Write;
    use std::time::Instant;

    use serialport::{SerialPort, TTYPort};
    use tillpass_hardware::{ScannerEvent, Supervisor};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (mut master, slave) = TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    drop(slave);
    master.set_timeout(Duration::from_secs(5)).unwrap();
    let mut config = serial_config();
    config.device = DeviceConfig::Serial(SerialConfig {
        path: path.into(),
        baud: 115_200,
        parity: Default::default(),
        data_bits: 8,
        stop_bits: 1,
        flow_control: Default::default(),
    });
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let handle = runtime.block_on(async { Supervisor::start(vec![config], tx).unwrap() });
    let connected = runtime.block_on(rx.recv()).unwrap();
    assert!(
        matches!(connected, ScannerEvent::Connected { .. }),
        "{connected:?}"
    );
    let line = format!("{tok}\r").into_bytes();
    group.bench_function("pty_end_to_end", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                master.write_all(&line).unwrap();
                let event = runtime.block_on(rx.recv()).unwrap();
                total += start.elapsed();
                assert!(matches!(event, ScannerEvent::Scan(_)), "{event:?}");
            }
            total
        });
    });
    runtime.block_on(handle.shutdown());
}

/// Prints how long a scan of the token takes before any software sees it.
fn physical_floor() {
    let tok = token();
    let chars = tok.len() + 1; // + CR
    println!("\nphysical floor for a {}-character token + CR", tok.len());
    for baud in [9600u32, 115_200] {
        let ms = (chars * 10) as f64 / f64::from(baud) * 1000.0;
        println!("  serial {baud:>6} baud 8N1 (10 bits/char): {ms:7.1} ms");
    }
    for keymap in [Country::Us, Country::Fr] {
        let strokes = typing::strokes(
            keymap.keymap(),
            &format!("{tok}\r"),
            TypingOptions::default(),
        )
        .unwrap();
        let shifted = strokes
            .iter()
            .filter(|s| matches!(s, Stroke::Key { level, .. } if level.shift()))
            .count();
        // Modifier in the same HID report as the key: 2 reports a character (down, up).
        // Modifier in reports of its own: 4 for a shifted character.
        let together = strokes.len() * 2;
        let apart = together + shifted * 2;
        let events = typed(keymap, &format!("{tok}\r"));
        println!(
            "  keyboard wedge, {keymap} keymap: {} characters, {shifted} shifted, {} key events",
            strokes.len(),
            events.len()
        );
        for interval_ms in [1u32, 4, 8] {
            println!(
                "    {interval_ms} ms per HID report: {:6} ms (Shift in the key's report), {:6} ms (Shift in its own reports)",
                together * interval_ms as usize,
                apart * interval_ms as usize
            );
        }
    }
    let reports = tok.len().div_ceil(56);
    println!(
        "  HID-POS (Honeywell, 56 bytes a report): {reports} reports: {reports} ms at 1 ms per report\n"
    );
}

fn benches(c: &mut Criterion) {
    physical_floor();
    throughput(c);
    latency(c);
}

criterion_group! {
    name = pipeline;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(pipeline);
