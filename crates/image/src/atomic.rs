//! [`AtomicFile`]: write a file so that it is either complete or absent.
//!
//! Data goes to a uniquely named temporary file beside the target (same directory, so the
//! rename cannot cross file systems). `commit` flushes, fsyncs the file, renames it over the
//! target and fsyncs the directory so the rename itself survives a crash. Dropping it without
//! `commit` (an error, a panic) removes the temporary file.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::direct::DirectWriter;
use crate::error::ImageError;

/// Tells temporary names apart within one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
pub struct AtomicFile {
    /// None only after commit.
    out: Option<DirectWriter>,
    temp: PathBuf,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file (mode 0600: an image holds process memory) beside `path`.
    pub fn create(path: &Path) -> Result<Self, ImageError> {
        let name = path.file_name().ok_or_else(|| ImageError::File {
            action: "create",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            ".tmp-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temp = dir.join(temp_name);
        let file = DirectWriter::create_new(&temp, 0o600).map_err(|source| ImageError::File {
            action: "create",
            path: temp.clone(),
            source,
        })?;
        Ok(AtomicFile {
            out: Some(file),
            temp,
            target: path.to_path_buf(),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.target
    }

    /// The temporary path written until commit.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes, fsyncs, renames over the target and fsyncs the directory.
    pub fn commit(mut self) -> Result<(), ImageError> {
        let fail = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| ImageError::File {
                action,
                path,
                source,
            }
        };
        let out = self
            .out
            .take()
            .ok_or_else(|| ImageError::Usage("committed twice".into()))?;
        let result: Result<(), ImageError> = (|| {
            let file = out.finish().map_err(fail("write", &self.temp))?;
            file.sync_all().map_err(fail("fsync", &self.temp))?;
            drop(file);
            std::fs::rename(&self.temp, &self.target).map_err(fail("rename into", &self.target))?;
            Ok(())
        })();
        // On failure, Drop removes the temporary file (`out` is closed by now).
        result?;
        // The rename happened: nothing for Drop to remove.
        self.temp = PathBuf::new();
        let dir = match self.target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(fail("fsync the directory of", &self.target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(out) => out.write(buf),
            None => Err(io::Error::other("atomic file already committed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.write_all(buf),
            None => Err(io::Error::other("atomic file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            // Close first, then remove; errors are moot here (best effort on an error path).
            self.out = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl std::fmt::Debug for AtomicFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicFile")
            .field("target", &self.target)
            .field("temp", &self.temp)
            .finish()
    }
}
