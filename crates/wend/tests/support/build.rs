//! Unique temporary directories, C guests compiled with gcc, and the Rust guests of the
//! `wend-guests` crate built with cargo.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// A directory unique to this test process and call, removed (with its content) on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("wend-corpus-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Where the C guests and guest.h live.
pub fn guests_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guests")
}

/// Compiles tests/guests/NAME.c into `dir/NAME` with gcc and returns the executable.
pub fn compile_c(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let src = guests_src().join(format!("{name}.c"));
    let out = dir.join(name);
    let res = Command::new("gcc")
        .args([
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fno-strict-aliasing",
            "-I",
        ])
        .arg(guests_src())
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("running gcc (install gcc: scripts/install-deps): {e}"));
    assert!(
        res.status.success(),
        "gcc failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// The target directory this test binary was built in (`<target>/<profile>/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the `wend-guests` crate once per test process (release, its own target directory
/// below ours, so the running `cargo test` holds no lock on it) and returns the path of the
/// binary NAME.
pub fn rust_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let cell = BUILT.get_or_init(|| Mutex::new(None));
    let mut g = cell.lock().unwrap();
    if g.is_none() {
        let target = target_dir().join("wend-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guests/Cargo.toml");
        let res = Command::new(cargo)
            .args(["build", "--release", "--quiet", "--bins", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("running cargo to build wend-guests");
        assert!(
            res.status.success(),
            "building wend-guests failed:\n{}",
            String::from_utf8_lossy(&res.stderr)
        );
        *g = Some(target.join("release"));
    }
    let exe = g.as_ref().unwrap().join(name);
    assert!(exe.exists(), "wend-guests has no binary {name}");
    exe
}
