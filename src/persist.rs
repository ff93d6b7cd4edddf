//! The startup configuration file: loading it and writing it atomically.

use crate::redact;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use vtysh::{Config, FileError};

/// Why the startup file could not be loaded.
#[derive(Debug)]
pub enum StartupError {
    /// The file exists but could not be read.
    Read(io::Error),
    /// The file was read but does not load; every error, in line order.
    Invalid(Vec<FileError>),
}

impl StartupError {
    /// A multi-line report for the operator (stderr at startup). Secrets
    /// in echoed lines are starred out.
    pub fn report(&self, path: &Path) -> String {
        match self {
            StartupError::Read(e) => format!("cannot read {}: {e}", path.display()),
            StartupError::Invalid(errs) => {
                let mut s = format!(
                    "{} does not load ({} error{}):",
                    path.display(),
                    errs.len(),
                    plural(errs.len())
                );
                for e in errs {
                    s.push('\n');
                    s.push_str(&redact::file_error(e, true));
                }
                s
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Read the startup file: `Ok(None)` when it does not exist.
pub fn read_startup(path: &Path) -> Result<Option<String>, io::Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Read and load the startup file against an empty configuration:
/// `Ok(None)` when it does not exist.
pub fn load_startup(path: &Path) -> Result<Option<Config>, StartupError> {
    match read_startup(path).map_err(StartupError::Read)? {
        None => Ok(None),
        Some(text) => vtysh::load_config(&text, &Config::default())
            .map(Some)
            .map_err(StartupError::Invalid),
    }
}

/// The temporary file `write_atomic` writes before renaming it over `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the startup path has no file name",
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".tmp.{}", std::process::id()));
    Ok(path.with_file_name(tmp))
}

/// Replace `path` with `text` atomically: write a temporary file in the
/// same directory (mode 0600: the text holds secrets), fsync it, rename it
/// over `path`, fsync the directory. A crash leaves either the old or the
/// new file, never a torn one.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // A leftover from a crash would make create_new fail.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode given at open is filtered by the umask; make sure.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rvpnd-persist-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("scratch dir");
        d
    }

    #[test]
    fn write_atomic_replaces_with_mode_0600_and_leaves_no_temp() {
        let d = scratch("atomic");
        let p = d.join("rvpnd.conf");
        fs::write(&p, "old\n").expect("seed");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomic(&p, "hostname x\n").expect("write");
        assert_eq!(fs::read_to_string(&p).expect("read"), "hostname x\n");
        assert_eq!(
            fs::metadata(&p).expect("stat").permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<_> = fs::read_dir(&d)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn missing_startup_is_none() {
        let d = scratch("missing");
        assert!(matches!(load_startup(&d.join("nope.conf")), Ok(None)));
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn write_into_missing_directory_fails_cleanly() {
        let d = scratch("nodir");
        assert!(write_atomic(&d.join("sub/rvpnd.conf"), "x").is_err());
        fs::remove_dir_all(&d).expect("cleanup");
    }
}
