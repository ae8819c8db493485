//! The Lambda event parser never panics, whatever the payload.
#![no_main]

use cloudfront_sg_sync::event::Trigger;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Trigger::Notification(n)) = Trigger::from_slice(data) {
        // What it accepts is well-formed.
        assert_eq!(n.md5.len(), 32);
        assert!(n.md5.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }
});
