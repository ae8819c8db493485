//! The Lambda event parser never panics, whatever the payload.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cloudfront_sg_sync_fuzz::notification(data));
