//! AtomicFile: the target is complete or absent; temporary files never linger.

mod common;

use std::io::Write;
use std::path::Path;

use common::{meta, read_all};
use wend_image::{AtomicFile, ImageError, ImageWriter, WriteOptions};

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn commit_renames_into_place() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    let mut f = AtomicFile::create(&target).unwrap();
    let temp = f.temp_path().to_path_buf();
    assert_eq!(
        temp.parent(),
        Some(dir.path()),
        "temp file lives beside the target"
    );
    f.write_all(b"complete").unwrap();
    assert!(!target.exists(), "target appears only at commit");
    assert!(temp.exists());
    f.commit().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"complete");
    assert_eq!(entries(dir.path()), vec!["img.wend"]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "an image holds process memory: owner only");
}

#[test]
fn drop_without_commit_removes_temp_and_leaves_no_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    {
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
    }
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn commit_replaces_an_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    std::fs::write(&target, b"old image, longer than the new one").unwrap();
    let mut f = AtomicFile::create(&target).unwrap();
    f.write_all(b"new").unwrap();
    // Until commit the old content is intact.
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"old image, longer than the new one"
    );
    f.commit().unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
}

#[test]
fn temp_names_are_unique() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    let a = AtomicFile::create(&target).unwrap();
    let b = AtomicFile::create(&target).unwrap();
    assert_ne!(a.temp_path(), b.temp_path());
    drop((a, b));
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn missing_directory_is_a_file_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = AtomicFile::create(&dir.path().join("no/such/dir/img"))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            ImageError::File {
                action: "create",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("directory exists"), "{err}");
}

#[test]
fn failed_rename_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a non-empty directory: rename over it fails.
    let target = dir.path().join("busy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("x"), b"x").unwrap();
    let mut f = AtomicFile::create(&target).unwrap();
    f.write_all(b"data").unwrap();
    let err = f.commit().err().unwrap();
    assert!(
        matches!(
            err,
            ImageError::File {
                action: "rename into",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(entries(dir.path()), vec!["busy"]);
}

#[test]
fn image_through_atomic_file_with_background_writer() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    let out = AtomicFile::create(&target).unwrap();
    let mut w = ImageWriter::spawn(out, &WriteOptions::default()).unwrap();
    w.write_meta(&meta()).unwrap();
    let data = common::mixed_pages(11, 700);
    w.write_pages(0x10_0000, &data).unwrap();
    let (out, stats) = w.finish().unwrap();
    out.commit().unwrap();
    let bytes = std::fs::read(&target).unwrap();
    assert_eq!(bytes.len() as u64, stats.stored_bytes);
    let (_, c, _) = read_all(&bytes).unwrap();
    assert_eq!(c.memory.len(), 700);
}

#[test]
fn abandoned_background_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("img.wend");
    let out = AtomicFile::create(&target).unwrap();
    let mut w = ImageWriter::spawn(out, &WriteOptions::default()).unwrap();
    w.write_meta(&meta()).unwrap();
    w.write_pages(0, &common::mixed_pages(12, 300)).unwrap();
    drop(w); // e.g. the process died mid-dump
    assert!(entries(dir.path()).is_empty());
}
