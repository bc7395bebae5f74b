//! The `[sources]` configuration types and their shape checks live in
//! [`crate::config::sources`] (the configuration depends on no other module);
//! they are re-exported here under their old paths.

pub use crate::config::sources::{
    FilesSource, KeyError, PostgresSource, SourcesConfig, SqliteSource, TableConfig,
    default_include, is_identifier,
};
