//! See `memd::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memd::fuzzing::config(data));
