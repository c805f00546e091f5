//! wend-image
#![forbid(unsafe_code)]
