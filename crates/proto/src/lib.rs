//! wend-proto
#![forbid(unsafe_code)]
