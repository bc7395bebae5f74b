//! See `memd::fuzzing::import_line`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memd::fuzzing::import_line(data));
