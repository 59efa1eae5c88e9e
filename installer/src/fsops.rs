//! Idempotent file-system steps: make a directory or a file be what it should, and say
//! whether anything had to change.
//!
//! Every write is atomic (a temporary file in the same directory, fsynced, renamed over the
//! target, then the directory fsynced), so a till that loses power mid-install never holds
//! a half-written config or key.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The thing was already as it should be.
    Unchanged,
    /// The thing did not exist and was created.
    Created,
    /// The thing existed and was corrected (content or mode).
    Updated,
}

/// A file-system step that failed, with the path it was working on.
#[derive(Debug, Error)]
#[error("{action} {}: {source}", path.display())]
pub struct FsError {
    /// What the step was doing, e.g. "writing".
    pub action: &'static str,
    /// The path it was working on.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes `path` a directory with `mode`, creating missing parents with mode 0755.
pub fn ensure_dir(path: &Path, mode: u32) -> Result<Change, FsError> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            if meta.permissions().mode() & 0o7777 == mode {
                Ok(Change::Unchanged)
            } else {
                fs::set_permissions(path, fs::Permissions::from_mode(mode))
                    .map_err(err("setting the mode of", path))?;
                Ok(Change::Updated)
            }
        }
        Ok(_) => Err(FsError {
            action: "making a directory at",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a directory is in the way",
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(err("creating", parent))?;
            }
            fs::DirBuilder::new()
                .mode(mode)
                .create(path)
                .map_err(err("creating", path))?;
            // The umask may have narrowed the mode.
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(err("setting the mode of", path))?;
            Ok(Change::Created)
        }
        Err(e) => Err(err("inspecting", path)(e)),
    }
}

/// Makes `path` a regular file holding exactly `contents` with `mode`.
pub fn ensure_file(path: &Path, contents: &[u8], mode: u32) -> Result<Change, FsError> {
    match fs::read(path) {
        Ok(existing) if existing == contents => ensure_mode(path, mode),
        Ok(_) => {
            write_atomic(path, contents, mode)?;
            Ok(Change::Updated)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_atomic(path, contents, mode)?;
            Ok(Change::Created)
        }
        Err(e) => Err(err("reading", path)(e)),
    }
}

/// Creates `path` with `contents` and `mode` only if it does not exist yet; an existing
/// file is kept as it is (its mode corrected). For secrets that must never be replaced
/// behind the owner's back, such as the till key.
pub fn ensure_file_once(path: &Path, contents: &[u8], mode: u32) -> Result<Change, FsError> {
    if path.exists() {
        ensure_mode(path, mode)
    } else {
        write_atomic(path, contents, mode)?;
        Ok(Change::Created)
    }
}

/// Gives an existing `path` the permission bits `mode`.
pub fn ensure_mode(path: &Path, mode: u32) -> Result<Change, FsError> {
    let meta = fs::metadata(path).map_err(err("inspecting", path))?;
    if meta.permissions().mode() & 0o7777 == mode {
        Ok(Change::Unchanged)
    } else {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(err("setting the mode of", path))?;
        Ok(Change::Updated)
    }
}

/// Writes `contents` to `path` atomically with `mode`: temporary file, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tillpass-tmp"));
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err("creating", &tmp))?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(err("setting the mode of", &tmp))?;
        file.write_all(contents).map_err(err("writing", &tmp))?;
        file.sync_all().map_err(err("syncing", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(err("renaming into place", path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("syncing", dir))?;
    Ok(())
}

/// Permission bits of `path`, or `None` if it does not exist.
pub fn mode_of(path: &Path) -> Option<u32> {
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_file_reports_what_it_did() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/tillpass/config.toml");
        ensure_dir(path.parent().unwrap(), 0o750).unwrap();
        assert_eq!(ensure_file(&path, b"a", 0o640).unwrap(), Change::Created);
        assert_eq!(ensure_file(&path, b"a", 0o640).unwrap(), Change::Unchanged);
        assert_eq!(ensure_file(&path, b"b", 0o640).unwrap(), Change::Updated);
        assert_eq!(fs::read(&path).unwrap(), b"b");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(ensure_file(&path, b"b", 0o640).unwrap(), Change::Updated);
        assert_eq!(mode_of(&path), Some(0o640));
        assert_eq!(
            mode_of(path.parent().unwrap()),
            Some(0o750),
            "directory mode"
        );
    }

    #[test]
    fn ensure_file_once_never_replaces_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("till.key");
        assert_eq!(
            ensure_file_once(&path, b"k1", 0o600).unwrap(),
            Change::Created
        );
        assert_eq!(
            ensure_file_once(&path, b"k2", 0o600).unwrap(),
            Change::Unchanged
        );
        assert_eq!(fs::read(&path).unwrap(), b"k1");
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        fs::write(&path, b"x").unwrap();
        let e = ensure_dir(&path, 0o750).unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
