//! wend-ckpt
#![forbid(unsafe_code)]
