use clap::Parser;
use ruvector_bench::cli::Args;

fn main() {
    let args = Args::parse();
    if let Some(png) = &args.chart {
        let merged = ruvector_bench::report::merge(&args.merge)
            .and_then(|r| ruvector_bench::chart::write_png(&r, png).map(|_| r));
        match merged {
            Ok(r) => {
                println!("{}", ruvector_bench::report::table(&r));
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
            println!("{}", ruvector_bench::report::table(&results));
            println!("results: {}\nchart:   {}", json.display(), png.display());
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
