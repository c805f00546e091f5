//! wend-lab
#![forbid(unsafe_code)]
