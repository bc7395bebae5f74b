//! One file per resource.

pub mod backup;
pub mod dream;
pub mod facts;
pub mod interactions;
pub mod quarantine;
pub mod recall;
pub mod sessions;
pub mod sources;
pub mod system;
