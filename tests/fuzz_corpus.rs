//! Replays every committed fuzz corpus file and crash artifact (`fuzz/corpus/<target>/`,
//! `fuzz/artifacts/<target>/`) through the same harness functions the cargo-fuzz targets call,
//! so `cargo test` keeps every fixed crash fixed without libFuzzer or a nightly toolchain.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use seliq_gateway::fuzzing::{TARGETS, audit_export, golden_exports, golden_signer};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("readable fuzz dir").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_has_a_harness_a_fuzz_target_file_and_seeds() {
    let fuzz = fuzz_dir();
    for (name, _) in TARGETS {
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
        assert!(
            !files(&fuzz.join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name}/ has no seeds"
        );
    }
    // A corpus or target nobody replays would rot silently.
    for dir in ["corpus", "artifacts", "fuzz_targets"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(dir)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(n, _)| *n == stem),
                "{} belongs to no target in seliq_gateway::fuzzing::TARGETS",
                p.display()
            );
        }
    }
}

#[test]
fn replays_every_committed_corpus_file_and_crash_artifact() {
    let fuzz = fuzz_dir();
    let mut failed = Vec::new();
    let mut replayed = 0;
    for (name, harness) in TARGETS {
        for sub in ["corpus", "artifacts"] {
            for path in files(&fuzz.join(sub).join(name)) {
                let data = std::fs::read(&path).unwrap();
                replayed += 1;
                if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
                    failed.push(path.display().to_string());
                }
            }
        }
    }
    assert!(failed.is_empty(), "harness panicked on: {failed:#?}");
    eprintln!("replayed {replayed} fuzz inputs");
}

/// The audit seeds are the golden exports, byte for byte: the harness's "nothing else
/// verifies" property is only as good as the goldens themselves verifying. Set
/// `SELIQ_WRITE_FUZZ_GOLDEN=1` to rewrite them after a deliberate format change.
#[test]
fn audit_seeds_are_the_golden_exports_and_only_they_verify() {
    let dir = fuzz_dir().join("corpus").join("audit_export");
    let goldens = golden_exports();
    for (name, text) in ["golden_full", "golden_filtered"].iter().zip(&goldens) {
        let path = dir.join(name);
        if std::env::var_os("SELIQ_WRITE_FUZZ_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        assert_eq!(
            std::fs::read_to_string(&path).ok().as_deref(),
            Some(text.as_str()),
            "{} is stale",
            path.display()
        );
        let bundle = seliq_gateway::audit::parse_bundle(text).unwrap();
        seliq_gateway::audit::verify::verify_bundle(&bundle, &golden_signer())
            .unwrap_or_else(|b| panic!("{name} must verify: {b}"));
        // Every single-byte change either fails or is one the parser treats as layout.
        for i in 0..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            audit_export(&bytes);
        }
    }
}
