//! The ip-ranges.json parser, the selector and the planner never panic, whatever the document.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ip_ranges(data));
