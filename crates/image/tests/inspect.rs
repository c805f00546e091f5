//! `inspect` verifies a whole image and summarizes the process in it.

mod common;

use wend_image::model::*;
use wend_image::{inspect, Compression, ImageWriter, WriteOptions};

fn process() -> ProcessImage {
    let area = |start: u64, end: u64, prot: i32, name: &str, backing: Backing| Area {
        start,
        end,
        prot,
        growsdown: false,
        name: name.into(),
        backing,
    };
    let file = MappedFile {
        path: "/usr/bin/guest".into(),
        offset: 0,
        dev: 1,
        ino: 2,
        size: 8192,
        mtime_ns: 3,
    };
    let mut actions = vec![
        SigAction {
            handler: 0,
            flags: 0,
            restorer: 0,
            mask: 0
        };
        64
    ];
    actions[1] = SigAction {
        handler: 0x401000,
        flags: 0x0400_0000,
        restorer: 0x402000,
        mask: 0,
    };
    actions[12] = SigAction {
        handler: 1,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    ProcessImage {
        model_version: MODEL_VERSION,
        pid: 4242,
        comm: "guest".into(),
        exe: "/usr/bin/guest".into(),
        cmdline: b"guest\0--level\09\0".to_vec(),
        cwd: "/tmp".into(),
        umask: 0o022,
        cpu: CpuState {
            gregs: vec![0; 27],
            xsave: vec![0; 2432],
        },
        mm: MmState {
            start_code: 0x400000,
            end_code: 0x401000,
            start_data: 0,
            end_data: 0,
            start_brk: 0x600000,
            brk: 0x700000,
            start_stack: 0x7ffd_0000_0000,
            arg_start: 0,
            arg_end: 0,
            env_start: 0,
            env_end: 0,
            auxv: vec![0, 0],
        },
        areas: vec![
            area(0x400000, 0x402000, 5, "/usr/bin/guest", Backing::File(file)),
            area(0x600000, 0x700000, 3, "[heap]", Backing::Anon),
            area(
                0x7ffd_0000_0000,
                0x7ffd_0002_0000,
                3,
                "[stack]",
                Backing::Anon,
            ),
        ],
        vdso: None,
        files: Files {
            descriptions: vec![
                OpenFile {
                    flags: 2,
                    pos: 0,
                    kind: FileKind::Inherit {
                        stdio: 0,
                        what: "tty".into(),
                    },
                },
                OpenFile {
                    flags: 0o101,
                    pos: 77,
                    kind: FileKind::Path {
                        path: "/tmp/out.txt".into(),
                        dev: 1,
                        ino: 9,
                        mode: 0o100644,
                    },
                },
                OpenFile {
                    flags: 2,
                    pos: 0,
                    kind: FileKind::Deleted {
                        path: "/tmp/scratch".into(),
                        blob: 7,
                        size: 5000,
                        mode: 0o100600,
                    },
                },
            ],
            fds: vec![
                Fd {
                    fd: 0,
                    cloexec: false,
                    description: 0,
                },
                Fd {
                    fd: 3,
                    cloexec: true,
                    description: 1,
                },
                Fd {
                    fd: 4,
                    cloexec: false,
                    description: 1,
                },
                Fd {
                    fd: 5,
                    cloexec: false,
                    description: 2,
                },
            ],
            pipes: vec![],
        },
        signals: SignalState {
            actions,
            blocked: 1 << 9,
            pending: vec![PendingSignal {
                signo: 10,
                shared: false,
                siginfo: vec![0; 128],
            }],
            altstack: AltStack {
                sp: 0x7000_0000,
                flags: 0,
                size: 65536,
            },
        },
        itimers: [ITimer::default(); 3],
        rlimits: vec![
            Rlimit {
                soft: 1024,
                hard: 4096
            };
            16
        ],
        rseq: None,
        taken_at_ns: 1_763_721_296_000_000_000,
        hostname: "node1".into(),
        nice: 0,
    }
}

fn image() -> Vec<u8> {
    let mut w = ImageWriter::new(
        Vec::new(),
        &WriteOptions {
            compression: Compression::Lz4,
            adaptive: false,
            ..Default::default()
        },
    )
    .unwrap();
    w.write_meta(&process()).unwrap();
    w.write_pages(0x400000, &common::mixed_pages(5, 1)).unwrap();
    // Heap: 16 pages of text-like content, then 32 zero pages.
    let mut heap = vec![0u8; 48 * 4096];
    for (i, b) in heap[..16 * 4096].iter_mut().enumerate() {
        *b = b"heap data "[i % 10];
    }
    w.write_pages(0x600000, &heap).unwrap();
    w.write_pages(0x7ffd_0001_f000, &common::mixed_pages(6, 1))
        .unwrap();
    w.write_blob(7, &[b'x'; 5000]).unwrap();
    w.finish().unwrap().0
}

#[test]
fn valid_image_summary() {
    let b = image();
    let i = inspect(&b[..]).unwrap();
    assert!(i.valid, "{:?}", i.problem);
    assert_eq!(i.stats.stored_bytes, b.len() as u64);
    let p = i.process.as_ref().unwrap();
    assert_eq!(p.pid, 4242);
    assert_eq!(p.cmdline, "guest --level 9");
    assert_eq!(p.areas.len(), 3);
    assert_eq!(p.areas[0].prot, "r-xp");
    assert_eq!(p.areas[1].stored_bytes, 16 * 4096);
    assert_eq!(p.areas[1].zero_bytes, 32 * 4096);
    assert_eq!(p.areas[1].size, 0x100000);
    assert_eq!(p.files.len(), 4);
    assert_eq!(p.files[2].what, "/tmp/out.txt");
    assert_eq!(p.files[2].pos, 77);
    assert!(p.files[3].what.contains("deleted"));
    assert_eq!(p.signals.blocked, vec![10]);
    assert_eq!(p.signals.pending, vec![10]);
    assert_eq!(
        p.signals.handled,
        vec![(2, "0x401000".to_string()), (13, "ignore".to_string())]
    );
    assert_eq!(p.signals.altstack, Some((0x7000_0000, 65536)));
    assert_eq!(i.blobs, vec![(7, 5000)]);
    assert!(i.stats.compressed_records > 0);

    let text = i.to_text();
    assert!(text.starts_with("status     valid"), "{text}");
    for needle in [
        "guest --level 9",
        "[heap]",
        "/tmp/out.txt",
        "pid 4242",
        "raw ->",
        "handled 2:0x401000 13:ignore",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let json: serde_json::Value = serde_json::from_str(&i.to_json()).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["header"]["format_version"], wend_image::FORMAT_VERSION);
    assert_eq!(json["process"]["areas"][1]["zero_bytes"], 32 * 4096);
    assert_eq!(json["stats"]["raw_bytes"], i.stats.raw_bytes);
}

#[test]
fn damaged_image_is_reported_invalid_with_what_was_read() {
    let mut b = image();
    let at = b.len() - 200;
    b[at] ^= 0xff;
    let i = inspect(&b[..]).unwrap();
    assert!(!i.valid);
    assert!(
        i.problem.as_deref().unwrap().contains("corrupt"),
        "{:?}",
        i.problem
    );
    assert!(
        i.process.is_some(),
        "the metadata was fine and is still shown"
    );
    assert!(i
        .to_text()
        .starts_with("status     INVALID: image is corrupt"));
    let clean = image();
    let t = inspect(&clean[..clean.len() - 10]).unwrap();
    assert!(!t.valid);
    assert!(t.problem.unwrap().contains("truncated"));
}

#[test]
fn foreign_metadata_still_verifies_the_container() {
    // An image whose metadata is not a ProcessImage (another model version): the container is
    // still checked end to end.
    let b = common::sample_image(Compression::Lz4, 8, false);
    let i = inspect(&b[..]).unwrap();
    assert!(i.valid);
    assert!(i.process.is_none());
    assert!(i.meta_problem.is_some());
}

#[test]
fn not_an_image_fails_outright() {
    assert!(inspect(&b"#!/bin/sh\necho hi\n"[..]).is_err());
}
