//! Descriptors for the restore stub: checked, reopened, and handed over as a [`StubPlan`].

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use wend_image::model::{Backing, FileKind, ProcessImage};
use wend_sys::fd as sfd;
use wend_sys::stub::{StubFd, StubPlan};

use crate::error::CkptError;

/// Check that the executable and every mapped file are there and unchanged.
pub(crate) fn verify_mappings(image: &ProcessImage) -> Result<(), CkptError> {
    if std::fs::metadata(&image.exe).is_err() {
        return Err(CkptError::MissingFile {
            path: image.exe.clone(),
            what: "the executable",
        });
    }
    for a in &image.areas {
        let (Backing::File(f) | Backing::SharedFile(f)) = &a.backing else {
            continue;
        };
        let md = std::fs::metadata(&f.path).map_err(|_| CkptError::MissingFile {
            path: f.path.clone(),
            what: "a mapped file",
        })?;
        let mtime = md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128;
        if md.size() != f.size || mtime != f.mtime_ns {
            return Err(CkptError::ChangedFile {
                path: f.path.clone(),
                detail: format!(
                    "size {} -> {}, mtime {} -> {}",
                    f.size,
                    md.size(),
                    f.mtime_ns,
                    mtime
                ),
            });
        }
    }
    Ok(())
}

/// Check that every file the image had open is there.
pub(crate) fn verify_descriptors(image: &ProcessImage) -> Result<(), CkptError> {
    for d in &image.files.descriptions {
        if let FileKind::Path { path, .. } = &d.kind {
            if std::fs::symlink_metadata(path).is_err() {
                return Err(CkptError::MissingFile {
                    path: path.clone(),
                    what: "an open file",
                });
            }
        }
    }
    Ok(())
}

/// Collects blobs (deleted files' contents, pipe contents) as they stream in.
pub(crate) struct Intake {
    deleted: HashMap<u32, File>,
    pipe_data: HashMap<u32, Vec<u8>>,
}

impl Intake {
    pub(crate) fn new(image: &ProcessImage) -> Result<Intake, CkptError> {
        let mut deleted = HashMap::new();
        for d in &image.files.descriptions {
            if let FileKind::Deleted { path, blob, .. } = &d.kind {
                let dir = Path::new(path).parent().filter(|p| p.is_dir());
                let f = match dir.map(sfd::tmpfile_in) {
                    Some(Ok(f)) => f,
                    _ => sfd::tmpfile_in(&std::env::temp_dir())?,
                };
                deleted.insert(*blob, f);
            }
        }
        let mut pipe_data = HashMap::new();
        for p in &image.files.pipes {
            if let Some(b) = p.data_blob {
                pipe_data.insert(b, Vec::with_capacity(p.data_len as usize));
            }
        }
        Ok(Intake { deleted, pipe_data })
    }

    /// One blob record (a blob may come in several, in order).
    pub(crate) fn blob(&mut self, id: u32, data: &[u8]) -> Result<(), CkptError> {
        if let Some(f) = self.deleted.get_mut(&id) {
            f.write_all(data)
                .map_err(|e| CkptError::io("write deleted file copy", e))?;
        } else if let Some(v) = self.pipe_data.get_mut(&id) {
            v.extend_from_slice(data);
        }
        Ok(())
    }

    /// Open every description and build the stub's plan. The returned descriptors must stay
    /// open until the stub has stopped.
    pub(crate) fn prepare(
        mut self,
        image: &ProcessImage,
    ) -> Result<(Vec<OwnedFd>, StubPlan), CkptError> {
        let max_target = image
            .files
            .fds
            .iter()
            .map(|f| f.fd)
            .max()
            .unwrap_or(2)
            .max(2);
        let base = max_target + 1;
        let mut pipes: HashMap<u32, (OwnedFd, OwnedFd)> = HashMap::new();
        let mut sources = Vec::with_capacity(image.files.descriptions.len());
        for d in &image.files.descriptions {
            let opened: OwnedFd = match &d.kind {
                FileKind::Inherit { stdio, .. } => {
                    sfd::dup_above(*stdio, base).map_err(|e| CkptError::Rebuild {
                        what: format!("standard descriptor {stdio}"),
                        detail: format!("wend restore's own fd {stdio} is not usable: {e}"),
                    })?
                }
                FileKind::Path { path, .. } => {
                    let flags =
                        d.flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY);
                    let fd = sfd::open_raw(Path::new(path), flags, 0)
                        .map_err(|e| CkptError::io(format!("reopen {path}"), e))?;
                    if d.pos != 0 {
                        let mut f = File::from(fd);
                        f.seek(SeekFrom::Start(d.pos))
                            .map_err(|e| CkptError::io(format!("seek {path}"), e))?;
                        OwnedFd::from(f)
                    } else {
                        fd
                    }
                }
                FileKind::Deleted { blob, path, .. } => {
                    let tmp = self
                        .deleted
                        .remove(blob)
                        .ok_or_else(|| CkptError::Rebuild {
                            what: format!("deleted file {path}"),
                            detail: "its copy was already used".into(),
                        })?;
                    let me = format!("/proc/self/fd/{}", tmp.as_raw_fd());
                    let flags = d.flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC);
                    let fd = sfd::open_raw(Path::new(&me), flags, 0)
                        .map_err(|e| CkptError::io(format!("reopen copy of {path}"), e))?;
                    let mut f = File::from(fd);
                    f.seek(SeekFrom::Start(d.pos))
                        .map_err(|e| CkptError::io("seek", e))?;
                    OwnedFd::from(f)
                }
                FileKind::Pipe { pipe, write_end } => {
                    if !pipes.contains_key(pipe) {
                        let p = image.files.pipes.get(*pipe as usize).ok_or_else(|| {
                            CkptError::Rebuild {
                                what: "pipe".into(),
                                detail: "bad index".into(),
                            }
                        })?;
                        let (r, w) = sfd::pipe()?;
                        sfd::set_pipe_size(&w, p.capacity as usize)?;
                        if let Some(b) = p.data_blob {
                            let data = self.pipe_data.remove(&b).unwrap_or_default();
                            let mut wf = File::from(w);
                            wf.write_all(&data)
                                .map_err(|e| CkptError::io("refill pipe", e))?;
                            pipes.insert(*pipe, (r, OwnedFd::from(wf)));
                        } else {
                            pipes.insert(*pipe, (r, w));
                        }
                    }
                    let (r, w) = &pipes[pipe];
                    let end = if *write_end {
                        w.as_raw_fd()
                    } else {
                        r.as_raw_fd()
                    };
                    let fd = sfd::dup_above(end, base)?;
                    sfd::set_status_flags(&fd, d.flags & libc::O_NONBLOCK)?;
                    fd
                }
            };
            let fd = if opened.as_raw_fd() < base {
                sfd::dup_above(opened.as_raw_fd(), base)?
            } else {
                opened
            };
            sources.push(fd);
        }
        let fds = image
            .files
            .fds
            .iter()
            .map(|f| StubFd {
                src: sources[f.description as usize].as_raw_fd(),
                target: f.fd,
                cloexec: f.cloexec,
            })
            .collect();
        let cwd = CString::new(Path::new(&image.cwd).as_os_str().as_bytes()).map_err(|_| {
            CkptError::Rebuild {
                what: "cwd".into(),
                detail: "contains a NUL byte".into(),
            }
        })?;
        if !Path::new(&image.cwd).is_dir() {
            return Err(CkptError::MissingFile {
                path: image.cwd.clone(),
                what: "the working directory",
            });
        }
        Ok((
            sources,
            StubPlan {
                fds,
                cwd,
                umask: image.umask,
            },
        ))
    }
}
