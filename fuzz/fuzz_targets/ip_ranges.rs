//! The ip-ranges.json parser, the selector and the planner never panic, whatever the document.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cloudfront_sg_sync_fuzz::ip_ranges(data));
