//! See `memd::fuzzing::route_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memd::fuzzing::route_bodies(data));
