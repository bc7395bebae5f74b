//! See `memd::fuzzing::fts_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memd::fuzzing::fts_query(data));
