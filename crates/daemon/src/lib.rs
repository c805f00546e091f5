//! wend-daemon
#![forbid(unsafe_code)]
