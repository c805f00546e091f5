//! wend-sys
