//! The bundled real `ip-ranges.json` snapshots (gzip, the exact bytes AWS served). Shared by the tests and the
//! criterion benchmarks (`bench/`), which include this file.

use std::io::Read;
use std::path::PathBuf;

/// The exact bytes of a bundled real snapshot, by its file name without `.gz`.
pub fn fixture(name: &str) -> Vec<u8> {
    // The main crate, or `bench/` one level below it.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = [manifest.join("tests/fixtures"), manifest.join("../tests/fixtures")]
        .into_iter()
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no tests/fixtures at or above {}", manifest.display()))
        .join(format!("{name}.gz"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut out).unwrap();
    out
}
