//! The data model of a process image (owned by the engine; see docs/agents/IMAGE_API.md).
