//! `tillpass-xkbgen`: rewrites the generated keyboard tables in the workspace from the
//! xkb data on this machine (see the library's documentation).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = tillpass_xkbgen::workspace_root();
    let mut err = std::io::stderr();
    let outputs = match tillpass_xkbgen::generate(
        Path::new(tillpass_xkbgen::SYMBOLS_DIR),
        Path::new(tillpass_xkbgen::KEYSYMDEF),
    ) {
        Ok(outputs) => outputs,
        Err(e) => {
            let _ = writeln!(err, "tillpass-xkbgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    for output in outputs {
        let path = root.join(output.path);
        if let Err(e) = std::fs::write(&path, output.contents) {
            let _ = writeln!(err, "tillpass-xkbgen: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        let _ = writeln!(err, "wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
