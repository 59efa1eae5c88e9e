//! Serial scanners (RS-232, USB CDC-ACM, USB-serial adapters) through `serialport`.
//!
//! Claim: open exclusively (TIOCEXCL and an advisory `flock`, so a second opener gets
//! "busy"), raw mode, the configured baud rate, parity, data and stop bits. Enable: discard
//! whatever the line buffered before we owned it. Then a dedicated thread reads with a
//! 100 ms timeout (the stop check) and forwards every chunk the moment it arrives; a hang-up
//! (POLLHUP), EIO or ENODEV ends the connection.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serialport::{ClearBuffer, SerialPort};

use super::{Chunk, Connection, open_error, spawn_reader_thread};
use crate::clock::Timestamp;
use crate::config::{FlowControl, Parity, SerialConfig};
use crate::event::{DisconnectReason, OpenProblem, ScannerError};
use crate::hint::NodeKind;

/// How often a blocked read looks at the stop flag.
const TICK: Duration = Duration::from_millis(100);

pub(super) async fn open(config: &SerialConfig) -> Result<Connection, ScannerError> {
    let cfg = config.clone();
    let port = tokio::task::spawn_blocking(move || open_port(&cfg))
        .await
        .map_err(|e| {
            open_error(
                NodeKind::Serial,
                &config.path,
                OpenProblem::Io,
                e.to_string(),
            )
        })??;
    let path = config.path.clone();
    let name = format!("scanner-serial {}", path.display());
    let (rx, stopper) = spawn_reader_thread(name, move |stop, tx| {
        let mut port = port;
        let mut buf = [0u8; 1024];
        // Stop when asked, or when the connection was dropped without being closed.
        while !stop.load(Ordering::Relaxed) && !tx.is_closed() {
            let item = match port.read(&mut buf) {
                Ok(0) => Err(DisconnectReason::EndOfFile),
                Ok(n) => Ok(Chunk::Bytes(buf[..n].to_vec(), Timestamp::now())),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => Err(DisconnectReason::from_io(&e)),
            };
            let last = item.is_err();
            if tx.blocking_send(item).is_err() || last {
                return;
            }
        }
    })
    .map_err(|e| {
        open_error(
            NodeKind::Serial,
            &config.path,
            OpenProblem::Io,
            e.to_string(),
        )
    })?;
    let parity = match config.parity {
        Parity::None => 'N',
        Parity::Odd => 'O',
        Parity::Even => 'E',
    };
    Ok(Connection {
        rx,
        target: std::fs::canonicalize(&config.path).ok(),
        detail: format!(
            "serial {} {}{}{}, exclusive",
            config.baud, config.data_bits, parity, config.stop_bits
        ),
        caps_lock: None,
        forward: None,
        stopper,
    })
}

fn open_port(config: &SerialConfig) -> Result<Box<dyn SerialPort>, ScannerError> {
    let path = config.path.to_string_lossy();
    let data_bits = match config.data_bits {
        5 => serialport::DataBits::Five,
        6 => serialport::DataBits::Six,
        7 => serialport::DataBits::Seven,
        _ => serialport::DataBits::Eight,
    };
    let stop_bits = match config.stop_bits {
        2 => serialport::StopBits::Two,
        _ => serialport::StopBits::One,
    };
    let parity = match config.parity {
        Parity::None => serialport::Parity::None,
        Parity::Odd => serialport::Parity::Odd,
        Parity::Even => serialport::Parity::Even,
    };
    let flow = match config.flow_control {
        FlowControl::None => serialport::FlowControl::None,
        FlowControl::Software => serialport::FlowControl::Software,
        FlowControl::Hardware => serialport::FlowControl::Hardware,
    };
    let port = serialport::new(path, config.baud)
        .data_bits(data_bits)
        .stop_bits(stop_bits)
        .parity(parity)
        .flow_control(flow)
        .timeout(TICK)
        .open()
        .map_err(|e| serial_error(&config.path, &e))?;
    // Enable: whatever was buffered before we owned the line is not a scan of ours.
    if let Err(e) = port.clear(ClearBuffer::Input) {
        tracing::debug!(path = %config.path.display(), error = %e, "could not clear the input buffer");
    }
    Ok(port)
}

fn serial_error(path: &Path, err: &serialport::Error) -> ScannerError {
    let detail = err.description.clone();
    let lower = detail.to_lowercase();
    let problem = match err.kind {
        // serialport reports EBUSY (TIOCEXCL) and a held flock as NoDevice.
        serialport::ErrorKind::NoDevice => OpenProblem::Busy,
        serialport::ErrorKind::Io(kind) => OpenProblem::from_io(&std::io::Error::from(kind)),
        serialport::ErrorKind::InvalidInput => OpenProblem::WrongKind,
        _ if lower.contains("ioctl") => OpenProblem::WrongKind,
        _ if lower.contains("no such device") => OpenProblem::NotFound,
        _ => OpenProblem::Io,
    };
    open_error(NodeKind::Serial, path, problem, detail)
}
