//! Open descriptors: grouped into open file descriptions, classified, contents collected.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use wend_image::model::{Fd, FileKind, Files, OpenFile, Pipe};
use wend_image::ImageWriter;
use wend_sys::fd as sfd;

use crate::error::CkptError;
use crate::facts::{FdFact, FdKind};
use crate::stay::StayPath;

/// Where a blob's bytes come from.
pub(crate) enum BlobSource {
    Bytes(Vec<u8>),
    /// Read through /proc/PID/fd/N at write time (deleted files), streamed.
    ProcFd(i32),
}

pub(crate) struct Blob {
    pub id: u32,
    pub source: BlobSource,
}

/// Whether the engine can rebuild this descriptor from an image.
fn rebuildable(d: &FdFact) -> bool {
    match &d.kind {
        FdKind::Regular | FdKind::Directory | FdKind::NullDevice | FdKind::Deleted => true,
        FdKind::Terminal
        | FdKind::Pipe {
            both_ends_inside: false,
        } => d.fd <= 2,
        FdKind::Pipe {
            both_ends_inside: true,
        } => true,
        _ => false,
    }
}

/// Describe the descriptors; blobs to write after the metadata. On the migration path,
/// descriptors the engine cannot rebuild (sockets, terminals, pipes to others, ...) are left
/// out of the image: they stay home with the deputy.
pub(crate) fn describe(
    pid: i32,
    fds: &[FdFact],
    path: StayPath,
) -> Result<(Files, Vec<Blob>), CkptError> {
    let kept: Vec<&FdFact> = fds
        .iter()
        .filter(|d| path == StayPath::Checkpoint || rebuildable(d))
        .collect();
    let mut files = Files::default();
    let mut blobs = Vec::new();
    // (fd, description index) of descriptors already seen, to find dups with kcmp.
    let mut seen: Vec<(i32, u32, &str)> = Vec::new();
    let mut pipe_ids: Vec<String> = Vec::new();
    for d in kept {
        let cloexec = d.info.flags & libc::O_CLOEXEC != 0;
        let mut dup_of = None;
        for (fd, desc, target) in &seen {
            if *target == d.target && sfd::same_file(pid, *fd, pid, d.fd)? {
                dup_of = Some(*desc);
                break;
            }
        }
        let desc = match dup_of {
            Some(i) => i,
            None => {
                let of = open_file(pid, d, &mut files, &mut blobs, &mut pipe_ids)?;
                files.descriptions.push(of);
                (files.descriptions.len() - 1) as u32
            }
        };
        seen.push((d.fd, desc, d.target.as_str()));
        files.fds.push(Fd {
            fd: d.fd,
            cloexec,
            description: desc,
        });
    }
    Ok((files, blobs))
}

fn open_file(
    pid: i32,
    d: &FdFact,
    files: &mut Files,
    blobs: &mut Vec<Blob>,
    pipe_ids: &mut Vec<String>,
) -> Result<OpenFile, CkptError> {
    let flags = d.info.flags & !libc::O_CLOEXEC;
    let proc_path = format!("/proc/{pid}/fd/{}", d.fd);
    let kind = match &d.kind {
        FdKind::Terminal
        | FdKind::Pipe {
            both_ends_inside: false,
        } if d.fd <= 2 => FileKind::Inherit {
            stdio: d.fd,
            what: d.target.clone(),
        },
        FdKind::Regular | FdKind::Directory | FdKind::NullDevice => {
            let md = std::fs::metadata(&proc_path).map_err(|e| CkptError::io(&proc_path, e))?;
            FileKind::Path {
                path: d.target.clone(),
                dev: md.dev(),
                ino: md.ino(),
                mode: md.mode(),
            }
        }
        FdKind::Deleted => {
            let md = std::fs::metadata(&proc_path).map_err(|e| CkptError::io(&proc_path, e))?;
            let id = blobs.len() as u32;
            blobs.push(Blob {
                id,
                source: BlobSource::ProcFd(d.fd),
            });
            let path = d
                .target
                .strip_suffix(" (deleted)")
                .unwrap_or(&d.target)
                .to_string();
            FileKind::Deleted {
                path,
                blob: id,
                size: md.size(),
                mode: md.mode(),
            }
        }
        FdKind::Pipe {
            both_ends_inside: true,
        } => {
            let write_end = d.info.flags & libc::O_ACCMODE == libc::O_WRONLY;
            let pipe = match pipe_ids.iter().position(|t| *t == d.target) {
                Some(i) => i as u32,
                None => {
                    files.pipes.push(peek_pipe(pid, d.fd, &proc_path, blobs)?);
                    pipe_ids.push(d.target.clone());
                    (files.pipes.len() - 1) as u32
                }
            };
            FileKind::Pipe { pipe, write_end }
        }
        other => {
            return Err(CkptError::Rebuild {
                what: format!("fd {} of process {pid} ({})", d.fd, d.target),
                detail: format!("{other:?} descriptors are not supported"),
            })
        }
    };
    Ok(OpenFile {
        flags,
        pos: d.info.pos,
        kind,
    })
}

fn peek_pipe(pid: i32, fd: i32, proc_path: &str, blobs: &mut Vec<Blob>) -> Result<Pipe, CkptError> {
    let _ = fd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(proc_path)
        .map_err(|e| CkptError::io(format!("open {proc_path} of process {pid}"), e))?;
    let capacity = sfd::pipe_size(&f)? as u64;
    let data = sfd::peek_pipe(&f)?;
    let data_len = data.len() as u64;
    let data_blob = if data.is_empty() {
        None
    } else {
        let id = blobs.len() as u32;
        blobs.push(Blob {
            id,
            source: BlobSource::Bytes(data),
        });
        Some(id)
    };
    Ok(Pipe {
        capacity,
        data_blob,
        data_len,
    })
}

/// Write the blobs, streaming file contents in 1 MiB pieces.
pub(crate) fn write_blobs<W: Write>(
    pid: i32,
    blobs: &[Blob],
    w: &mut ImageWriter<W>,
) -> Result<(), CkptError> {
    for b in blobs {
        match &b.source {
            BlobSource::Bytes(v) => w.write_blob(b.id, v)?,
            BlobSource::ProcFd(fd) => {
                let path = format!("/proc/{pid}/fd/{fd}");
                let mut f = File::open(&path).map_err(|e| CkptError::io(&path, e))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = f.read(&mut buf).map_err(|e| CkptError::io(&path, e))?;
                    if n == 0 {
                        break;
                    }
                    w.write_blob(b.id, &buf[..n])?;
                }
            }
        }
    }
    Ok(())
}
