//! One module per page; each reads through the store's traits and the
//! engines the JSON API uses, and writes HTML only through `Html`.

pub mod dream;
pub mod facts;
pub mod overview;
pub mod recall;
pub mod sessions;
pub mod time;
