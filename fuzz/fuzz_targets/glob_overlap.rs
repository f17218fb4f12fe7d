#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| seliq_connectors::fuzzing::glob_overlap(data));
