//! The regression inputs of a fuzz target, for the stable tests that replay them: every file of
//! `fuzz/seeds/<target>` (a small seed corpus) and `fuzz/regressions/<target>` (each input that
//! once found a defect, named after it).

use std::fs;
use std::path::Path;

/// Runs `run` on each regression input of `target`; the number of inputs run.
pub fn replay(target: &str, run: fn(&[u8])) -> usize {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries
            .map(|e| e.expect("a readable folder").path())
            .collect();
        paths.sort();
        for path in paths {
            let data = fs::read(&path).expect("a readable input");
            // Printed before the run, so that a failing test names its input.
            eprintln!("replaying {}", path.display());
            run(&data);
            count += 1;
        }
    }
    count
}
