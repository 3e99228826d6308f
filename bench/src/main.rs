use clap::Parser;
use ruvector_bench::cli::{Args, Command};

fn main() {
    let args = Args::parse();
    if let Some(Command::Derive(d)) = &args.command {
        // Without argv[0] (a path that depends on how the tool was started), so that the
        // README written with the data is the same for the same arguments.
        let command = std::iter::once("ruvector-bench".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" ");
        match ruvector_bench::derive::run(d, &command) {
            Ok(s) => {
                println!(
                    "derived {} base rows and {} queries of {} dimensions in {:.1} s: {}",
                    s.rows,
                    s.queries,
                    s.dims,
                    s.seconds,
                    s.out.display()
                );
                println!("noise σ = {:.6e}", s.sigma);
                println!(
                    "recall@10 of the source's exact top-10 in the new exact top-10: \
                     cosine {:.4}, L2 {:.4} (source truth: {})",
                    s.sanity.cos_at_10, s.sanity.l2_at_10, s.sanity.source_truth
                );
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Some(png) = &args.chart {
        let merged = ruvector_bench::report::merge(&args.merge).and_then(|r| {
            if r.filtered.is_some() {
                ruvector_bench::chart::write_filter_png(&r, png)?;
            } else {
                ruvector_bench::chart::write_png(&r, png)?;
            }
            Ok(r)
        });
        match merged {
            Ok(r) => {
                println!("{}", table(&r));
                println!("chart:   {}", png.display());
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(1);
            }
        }
        return;
    }
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match ruvector_bench::run::run(&args, command) {
        Ok((results, json, png)) => {
            println!("{}", table(&results));
            println!("results: {}\nchart:   {}", json.display(), png.display());
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// The console table of a sweep or of a filtered run.
fn table(results: &ruvector_bench::report::Results) -> String {
    if results.filtered.is_some() {
        ruvector_bench::filter_report::table(results)
    } else {
        ruvector_bench::report::table(results)
    }
}
