//! The certdeck binary: the console, the CLI and the scheduler daemon.

use clap::Parser;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = color_eyre::install();
    let cli = certdeck::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(certdeck::cli::run(cli));
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    std::process::exit(code);
}
