//! Rebuild a process from an image.

mod files;
mod memory;
mod state;

use std::io::Read;
use std::path::Path;

use wend_image::model::{ProcessImage, MODEL_VERSION};
use wend_image::{DirectReader, ImageReader, Record};
use wend_sys::uffd::Uffd;
use wend_sys::{stub, Stopped};

use crate::error::CkptError;
use crate::progress::Progress;
use memory::Pending;

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub progress: Progress,
    /// Rebuild a migration guest: no descriptors (they stay home with the deputy, which runs
    /// every call on them), cwd `/`, and the image's descriptor list is not checked.
    pub guest: bool,
}

/// A rebuilt process, still stopped under ptrace: nothing of it has run yet. Dropping it kills
/// it. [`Restored::stopped_mut`] lets a caller inject more (a seccomp filter) before
/// [`Restored::resume`].
#[derive(Debug)]
pub struct Restored {
    stopped: Stopped,
    image: ProcessImage,
}

impl Restored {
    pub fn pid(&self) -> i32 {
        self.stopped.pid()
    }
    pub fn image(&self) -> &ProcessImage {
        &self.image
    }
    /// The stopped process, for hooks that inject before it runs. A hook must leave the
    /// registers as it found them (injection does that until [`Stopped::set_regs`] is used).
    pub fn stopped_mut(&mut self) -> &mut Stopped {
        &mut self.stopped
    }
    /// Let it run; its pid.
    pub fn resume(self) -> Result<i32, CkptError> {
        let pid = self.pid();
        self.stopped.detach().map_err(|e| CkptError::sys(pid, e))?;
        Ok(pid)
    }
    /// Kill it without letting it run.
    pub fn kill(self) -> Result<(), CkptError> {
        let pid = self.pid();
        self.stopped.kill().map_err(|e| CkptError::sys(pid, e))
    }
}

fn check_image(image: &ProcessImage) -> Result<(), CkptError> {
    if image.model_version > MODEL_VERSION {
        return Err(CkptError::Incompatible(format!(
            "its state model is version {}, this wend knows up to {MODEL_VERSION}: use a newer wend",
            image.model_version
        )));
    }
    Ok(())
}

/// Read blob records into `intake` (when given) up to the first memory record, which is
/// returned owned.
fn read_blobs<R: Read>(
    reader: &mut ImageReader<R>,
    mut intake: Option<&mut files::Intake>,
) -> Result<Option<Pending>, CkptError> {
    loop {
        match reader.next_record()? {
            Some(Record::Blob { id, data }) => {
                if let Some(i) = intake.as_deref_mut() {
                    i.blob(id, data)?;
                }
            }
            Some(Record::Pages { addr, data }) => {
                return Ok(Some(Pending::Pages(addr, data.to_vec())))
            }
            Some(Record::Zero { addr, len }) => return Ok(Some(Pending::Zero(addr, len))),
            None => return Ok(None),
        }
    }
}

/// Rebuild the process in `reader` as a new child of the caller, stopped before its first
/// instruction. Nothing is left behind on failure.
pub fn restore<R: Read + Send>(
    reader: ImageReader<R>,
    opts: &RestoreOptions,
) -> Result<Restored, CkptError> {
    restore_inner(reader, opts, false).map(|(r, _)| r)
}

/// Rebuild the skeleton of a post-copy image (dumped with `CheckpointOptions::lazy`): like
/// [`restore`], but every anonymous area stays registered, missing, on the returned
/// userfaultfd (created with [`wend_sys::uffd::FEATURES_POSTCOPY`]). Once the process runs,
/// the caller must serve its faults and events: place the pages the dump left out, and the
/// zero page everywhere else; dropping the userfaultfd ends that (missing pages then read as
/// zero). Fails where the kernel offers no userfaultfd.
pub fn restore_postcopy<R: Read + Send>(
    reader: ImageReader<R>,
    opts: &RestoreOptions,
) -> Result<(Restored, Uffd), CkptError> {
    let (r, u) = restore_inner(reader, opts, true)?;
    let u = u.ok_or_else(|| CkptError::Rebuild {
        what: "post-copy restore".into(),
        detail: "no userfaultfd was kept".into(),
    })?;
    Ok((r, u))
}

fn restore_inner<R: Read + Send>(
    mut reader: ImageReader<R>,
    opts: &RestoreOptions,
    lazy: bool,
) -> Result<(Restored, Option<Uffd>), CkptError> {
    let image: ProcessImage = reader.read_meta()?;
    check_image(&image)?;
    files::verify_mappings(&image)?;
    let (stopped, first) = if opts.guest {
        let first = read_blobs(&mut reader, None)?;
        let plan = stub::StubPlan {
            fds: Vec::new(),
            cwd: c"/".into(),
            umask: image.umask,
        };
        (stub::spawn(&plan).map_err(|e| CkptError::sys(0, e))?, first)
    } else {
        files::verify_descriptors(&image)?;
        let mut intake = files::Intake::new(&image)?;
        let first = read_blobs(&mut reader, Some(&mut intake))?;
        let (sources, plan) = intake.prepare(&image)?;
        let stopped = stub::spawn(&plan).map_err(|e| CkptError::sys(0, e))?;
        drop(sources);
        (stopped, first)
    };
    let (stopped, uffd) = rebuild(stopped, &image, first, &mut reader, opts, lazy)?;
    Ok((Restored { stopped, image }, uffd))
}

/// Rebuild memory and process state (not descriptors, cwd or umask) from `reader` into the
/// stopped process `target`, replacing its whole address space: used to bring a deputy home.
/// `reader` must be past the metadata, which the caller read into `image`. On failure the
/// target is killed (its [`Stopped`] is dropped with its drop action set to kill).
pub fn restore_into<R: Read + Send>(
    mut target: Stopped,
    image: &ProcessImage,
    reader: &mut ImageReader<R>,
    opts: &RestoreOptions,
) -> Result<Stopped, CkptError> {
    target.set_drop_action(wend_sys::DropAction::Kill);
    // The image holds its signals; the one being delivered at the old freeze is among them.
    target.forget_delivering();
    check_image(image)?;
    files::verify_mappings(image)?;
    let first = read_blobs(reader, None)?;
    rebuild(target, image, first, reader, opts, false).map(|(st, _)| st)
}

fn rebuild<R: Read + Send>(
    mut st: Stopped,
    image: &ProcessImage,
    first: Option<Pending>,
    reader: &mut ImageReader<R>,
    opts: &RestoreOptions,
    lazy: bool,
) -> Result<(Stopped, Option<Uffd>), CkptError> {
    let t = std::time::Instant::now();
    state::block_all(&mut st)?;
    let scratch = memory::clear_address_space(&mut st, image)?;
    memory::map_areas(&mut st, image, scratch)?;
    tracing::debug!(elapsed = ?t.elapsed(), "address space laid out");
    opts.progress.set_total(image.mapped_bytes());
    let uffd = if lazy {
        Some(memory::uffd_with(
            &mut st,
            image,
            wend_sys::uffd::FEATURES_POSTCOPY,
        )?)
    } else {
        memory::uffd(&mut st, image)
    };
    let filled = memory::fill(
        &st,
        image,
        first,
        reader,
        &opts.progress,
        uffd.as_ref(),
        lazy,
    );
    if let Some(u) = uffd.as_ref().filter(|_| !lazy) {
        memory::release_uffd(&st, image, u)?;
    }
    filled?;
    opts.progress.finish();
    tracing::debug!(elapsed = ?t.elapsed(), "memory filled");
    memory::protect(&mut st, image)?;
    state::set_mm(&mut st, image, scratch)?;
    state::set_misc(&mut st, image, scratch)?;
    state::queue_pending(&mut st, image, scratch)?;
    state::finish(&mut st, image, scratch)?;
    tracing::debug!(elapsed = ?t.elapsed(), "state set");
    Ok((st, uffd.filter(|_| lazy)))
}

/// Open an image file for reading.
///
/// With `O_DIRECT` where the file system allows it (wend writes images that way, so they are
/// not in the page cache, and a cold buffered read costs more CPU: wend_image's direct module).
pub fn open_image(path: &Path) -> Result<ImageReader<DirectReader>, CkptError> {
    let f = DirectReader::open(path)
        .map_err(|e| CkptError::io(format!("open {}", path.display()), e))?;
    Ok(ImageReader::new(f)?)
}

/// `wend restore`: rebuild the process in the image file at `path`, stopped (see [`restore`]).
pub fn restore_file(path: &Path, opts: &RestoreOptions) -> Result<Restored, CkptError> {
    restore(open_image(path)?, opts)
}
