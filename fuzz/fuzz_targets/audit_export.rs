#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| seliq_gateway::fuzzing::audit_export(data));
