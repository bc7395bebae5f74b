//! One file per resource.

pub mod recall;
pub mod sessions;
pub mod system;
