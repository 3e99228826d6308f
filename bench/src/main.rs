use clap::Parser;
use ruvector_bench::cli::Args;

fn main() {
    let args = Args::parse();
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
