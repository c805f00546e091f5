//! One module per subcommand. Each exposes `Args` (or `Command`) and `run`, returning the
//! process exit code; errors are printed once by `main`.

pub mod checkpoint;
pub mod daemon;
pub mod image;
pub mod keygen;
pub mod lab;
pub mod nodes;
pub mod restore;
pub mod top;

/// The exit status for a failed command: 2 for bad usage or input the user can fix, 1 otherwise.
pub fn exit_code_for(_err: &anyhow::Error) -> u8 {
    1
}
