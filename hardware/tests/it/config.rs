//! Configuration: the TOML shape, defaults and validation errors that name the field.

use std::time::Duration;

use tillpass_hardware::config::{
    DeviceConfig, HidPosVendor, LayoutChoice, ScannerConfig, validate_all,
};
use tillpass_hardware::framer::Terminator;
use tillpass_hardware::keymap::Country;
use tillpass_hardware::label::AimMode;
use tillpass_hardware::{Supervisor, SupervisorHandle};

#[derive(serde::Deserialize)]
struct File {
    scanner: Vec<ScannerConfig>,
}

fn parse(text: &str) -> Result<Vec<ScannerConfig>, toml::de::Error> {
    toml::from_str::<File>(text).map(|f| f.scanner)
}

const EXAMPLE: &str = r#"
[[scanner]]
name = "front"
device = { kind = "serial", path = "/dev/serial/by-id/usb-Honeywell_Imaging___Mobility_1900-if00", baud = 115200 }
framing = { terminator = "crlf", max_len = 512 }
label = { prefix = "\u0002", suffix = "", aim = "require" }

[[scanner]]
name = "wedge"
device = { kind = "keyboard", path = "/dev/input/by-id/usb-Datalogic_Scanner-event-kbd", keymap = "es" }

[[scanner]]
name = "hidpos"
device = { kind = "hidpos", path = "/dev/tillpass/scanner0", layout = "newland" }

[[scanner]]
name = "custom"
device = { kind = "hidpos", path = "/dev/tillpass/scanner1", layout = { report_id = 3, length_at = 1, data_at = 2, data_max = 60, continued = [63, 1] } }

[[scanner]]
name = "demo"
device = { kind = "tcp", addr = "127.0.0.1:7010", listen = true }
reconnect = { initial_ms = 100, max_ms = 1000 }

[[scanner]]
name = "dev"
device = { kind = "stdin" }
"#;

#[test]
fn the_documented_example_parses_with_defaults() {
    let configs = parse(EXAMPLE).unwrap();
    validate_all(&configs).unwrap();
    assert_eq!(configs.len(), 6);
    let DeviceConfig::Serial(serial) = &configs[0].device else {
        panic!()
    };
    assert_eq!(
        (serial.baud, serial.data_bits, serial.stop_bits),
        (115_200, 8, 1)
    );
    assert_eq!(configs[0].framing.terminator, Some(Terminator::CrLf));
    assert_eq!(configs[0].label.prefix, "\u{2}");
    assert_eq!(configs[0].label.aim, AimMode::Require);
    let DeviceConfig::Keyboard(kbd) = &configs[1].device else {
        panic!()
    };
    assert_eq!(kbd.keymap, Country::Es);
    assert!(!kbd.shared_with_keyboard);
    let DeviceConfig::HidPos(h) = &configs[2].device else {
        panic!()
    };
    assert_eq!(h.layout, LayoutChoice::Named(HidPosVendor::Newland));
    let DeviceConfig::HidPos(h) = &configs[3].device else {
        panic!()
    };
    assert_eq!(h.layout.layout().report_id, 3);
    assert_eq!(h.layout.layout().continued, Some((63, 1)));
    assert_eq!(configs[5].device, DeviceConfig::Stdin);
    // Defaults per kind.
    let f = configs[1].framer_settings();
    assert_eq!(
        (f.terminator, f.max_len, f.idle_gap),
        (Terminator::Cr, 4096, Duration::from_secs(1))
    );
    assert_eq!(configs[2].framer_settings().terminator, Terminator::None);
    assert_eq!(configs[4].framer_settings().terminator, Terminator::Lf);
    // Advice, not errors.
    assert!(configs[0].warnings().is_empty());
    let mut moved = configs[0].clone();
    moved.device = DeviceConfig::Serial(tillpass_hardware::config::SerialConfig {
        path: "/dev/ttyACM0".into(),
        ..serial.clone()
    });
    assert!(moved.warnings()[0].contains("by-id"));
}

#[test]
fn round_trips_through_toml() {
    let configs = parse(EXAMPLE).unwrap();
    #[derive(serde::Serialize)]
    struct Out<'a> {
        scanner: &'a [ScannerConfig],
    }
    let text = toml::to_string(&Out { scanner: &configs }).unwrap();
    assert_eq!(parse(&text).unwrap(), configs);
}

#[test]
fn typos_and_bad_values_name_the_field() {
    let err = parse(
        r#"[[scanner]]
name = "x"
device = { kind = "serial", path = "/dev/ttyS0", buad = 9600 }"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("buad"), "{err}");
    let err = parse(
        r#"[[scanner]]
name = "x"
device = { kind = "keyboard", path = "/dev/input/event3", keymap = "xx" }"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("xx"), "{err}");

    let bad = |edit: &dyn Fn(&mut ScannerConfig)| {
        let mut c = parse(EXAMPLE).unwrap().remove(0);
        edit(&mut c);
        c.validate().unwrap_err()
    };
    let e = bad(&|c| {
        if let DeviceConfig::Serial(s) = &mut c.device {
            s.baud = 0;
        }
    });
    assert_eq!(
        (e.scanner.as_str(), e.field.as_str()),
        ("\"front\"", "device.baud")
    );
    assert!(
        e.to_string()
            .starts_with("scanner \"front\": device.baud: "),
        "{e}"
    );
    assert_eq!(bad(&|c| c.framing.max_len = 0).field, "framing.max_len");
    assert_eq!(
        bad(&|c| c.framing.idle_gap_ms = Some(0)).field,
        "framing.idle_gap_ms"
    );
    assert_eq!(bad(&|c| c.reconnect.max_ms = 1).field, "reconnect.max_ms");
    assert_eq!(bad(&|c| c.name = String::new()).field, "name");
    assert_eq!(
        bad(
            &|c| c.device = DeviceConfig::Tcp(tillpass_hardware::config::TcpConfig {
                addr: "nowhere".into(),
                listen: false
            })
        )
        .field,
        "device.addr"
    );

    let mut twice = parse(EXAMPLE).unwrap();
    twice[1].name = "front".into();
    let e = validate_all(&twice).unwrap_err();
    assert_eq!((e.scanner.as_str(), e.field.as_str()), ("#2", "name"));
}

#[test]
fn start_refuses_bad_config_and_needs_a_runtime() {
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut configs = parse(EXAMPLE).unwrap();
    configs[0].framing.max_len = 0;
    let started: Result<SupervisorHandle, _> = Supervisor::start(configs, tx.clone());
    assert!(matches!(
        started,
        Err(tillpass_hardware::StartError::Config(_))
    ));
    let started = Supervisor::start(vec![], tx);
    assert!(matches!(
        started,
        Err(tillpass_hardware::StartError::NoRuntime)
    ));
}

#[test]
fn a_keyboard_scanner_takes_any_xkb_layout_name() {
    for (code, expected) in [("cz", "cz"), ("us(dvorak)", "us(dvorak)"), ("gb", "uk")] {
        let scanners = parse(&format!(
            r#"[[scanner]]
name = "x"
device = {{ kind = "keyboard", path = "/dev/input/event3", keymap = "{code}" }}"#
        ))
        .unwrap();
        let DeviceConfig::Keyboard(kbd) = &scanners[0].device else {
            panic!("not a keyboard")
        };
        assert_eq!(kbd.keymap.code(), expected);
        assert_eq!(kbd.keymap, Country::from_code(code).unwrap());
    }
}
