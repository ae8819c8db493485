//! The Lambda event parser never panics, whatever the payload.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::notification(data));
