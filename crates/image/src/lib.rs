//! wend-image: the image model and its codec.
#![forbid(unsafe_code)]

pub mod model;
