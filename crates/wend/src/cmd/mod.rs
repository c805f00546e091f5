//! One module per subcommand. Each exposes `Args` (or `Command`) and `run`, returning the
//! process exit code; errors are printed once by `main`.

pub mod checkpoint;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod image;
pub mod keygen;
pub mod lab;
pub mod migrate;
pub mod nodes;
pub mod ps;
pub mod restore;
pub mod run;
pub mod top;

/// The exit status for a failed command: 3 when a process was refused for its stay reasons,
/// 2 for input the user can fix (a damaged or foreign image, a bad config, wrong usage),
/// 1 for every other failure.
pub fn exit_code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<wend_ckpt::CkptError>() {
            if e.stay_reasons().is_some() {
                return 3;
            }
            if let wend_ckpt::CkptError::Image(e) = e {
                if e.is_bad_input() {
                    return 2;
                }
            }
        }
        if let Some(e) = cause.downcast_ref::<wend_image::ImageError>() {
            if e.is_bad_input() {
                return 2;
            }
        }
        if let Some(e) = cause.downcast_ref::<wend_lab::LabError>() {
            if e.is_usage() {
                return 2;
            }
        }
        if cause.is::<wend_daemon::ConfigError>() {
            return 2;
        }
        if let Some(wend_daemon::client::ClientError::Daemon(e)) =
            cause.downcast_ref::<wend_daemon::client::ClientError>()
        {
            match e.code {
                wend_proto::ErrorCode::Stay => return 3,
                wend_proto::ErrorCode::NoSuchProcess | wend_proto::ErrorCode::PermissionDenied => {
                    return 2
                }
                _ => {}
            }
        }
    }
    1
}
