//! wend-cluster
#![forbid(unsafe_code)]
