//! The lab against the real kubectl.
