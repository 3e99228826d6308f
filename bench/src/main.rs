use clap::Parser;
use ruvector_bench::cli::Args;

fn main() {
    let args = Args::parse();
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
