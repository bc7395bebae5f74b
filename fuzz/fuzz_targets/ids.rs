//! See `memd::fuzzing::ids`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memd::fuzzing::ids(data));
