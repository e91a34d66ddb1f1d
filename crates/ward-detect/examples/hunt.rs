//! Offline hunt, as `ward hunt` runs it:
//!
//! ```text
//! cargo run -p ward-detect --example hunt -- RULES_DIR FORMAT FILES...
//! ```

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: hunt RULES_DIR table|json|jsonl|csv FILES...");
        std::process::exit(2);
    }
    let report = ward_detect::Engine::load_dir(&PathBuf::from(&args[0]), &Default::default());
    for e in &report.errors {
        eprintln!("{e}");
    }
    let format: ward_detect::HuntFormat = match args[1].parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let files: Vec<PathBuf> = args[2..].iter().map(PathBuf::from).collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let summary = ward_detect::hunt(&report.engine, &files, format, &mut out, &mut |p| {
        eprint!(
            "\r{}/{} files, {} events, {} detections",
            p.files_done, p.files_total, p.events, p.detections
        )
    });
    eprintln!();
    match summary {
        Ok(s) => {
            for e in &s.errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{} files, {} events, {} detections",
                s.files, s.events, s.detections
            );
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
