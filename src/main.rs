//! `lbebm`: data statistics, evaluation, training, prediction and benchmarks for the
//! LB-EBM pedestrian trajectory predictor.

mod cmd_bench;
mod cmd_data;
mod cmd_eval;
mod cmd_figure;
mod cmd_predict;
mod cmd_train;
mod common;
mod plot;

use clap::{Parser, Subcommand};

// Every tensor operation allocates its output; glibc's malloc hands large buffers back to
// the OS each time and takes page faults to get them again (measured: see the README's
// performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;

/// `lbebm --version`: the version and whether this build can run on a GPU.
const VERSION: &str = if cfg!(feature = "cuda") {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (CUDA backend: --device cuda:N)"
    )
} else {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (CPU only: --device cuda:N needs a build with --features cuda)"
    )
};

#[derive(Parser)]
#[command(
    name = "lbebm",
    version = VERSION,
    about = "Pedestrian trajectory prediction with the Latent Belief Energy-Based Model"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Dataset utilities.
    #[command(subcommand)]
    Data(cmd_data::DataCmd),
    /// Best-of-K ADE/FDE on the ETH/UCY test splits.
    Eval(cmd_eval::EvalArgs),
    /// Train LB-EBM on one split (or on train+val of every scene).
    Train(cmd_train::TrainArgs),
    /// Predict futures for the agents of a track file (Social-GAN text or CSV).
    Predict(cmd_predict::PredictArgs),
    /// Draw a few test scenes with observed, true and sampled futures.
    Figure(cmd_figure::FigureArgs),
    /// Latency of prediction and of a training step (synthetic inputs).
    Bench(cmd_bench::BenchArgs),
}

/// mimalloc's `purge_delay` option (its index in `mi_option_t`, the same in mimalloc 2
/// and 3; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // RUST_LOG, as for the ROS node (e.g. RUST_LOG=lbebm_model=debug); warnings by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // candle runs its element-wise operations on its own pool of spinning workers, one
    // caller at a time. Our parallelism is coarser (parts of a training batch side by
    // side, the matrix products, groups of scenes), and with those workers spinning
    // next to it a 2-core machine got slower with 2 threads (training step at batch 70:
    // 21.8 ms with them, 11.3 ms without; prediction 36.6 / 34.1 ms). So candle's pool
    // is off unless asked for. Set before any candle operation, while single-threaded.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if matches!(cli.cmd, Cmd::Train(_) | Cmd::Bench(_)) {
        // By default mimalloc returns freed memory to the OS after a short delay. A
        // training step frees and re-allocates the same multi-megabyte buffers every few
        // milliseconds, so each return cost a page fault and the zeroing of a 2 MiB page
        // on the next use (about 23 per step, measured with `perf stat -e page-faults`;
        // a delay of 1000 ms still gave them all). Training never purges: it stays at its
        // peak footprint, which for it is the steady working set. Prediction keeps the
        // default, so its memory follows what it holds.
        // SAFETY: sets a plain integer option; no allocation depends on it being atomic.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    if let Cmd::Bench(b) = &cli.cmd {
        if let Some(t) = b.threads {
            // Read by candle and its matmul thread pool when they first start.
            std::env::set_var("RAYON_NUM_THREADS", t.max(1).to_string());
        }
    }
    let r = match cli.cmd {
        Cmd::Data(c) => cmd_data::run(c),
        Cmd::Eval(a) => cmd_eval::run(a),
        Cmd::Train(a) => cmd_train::run(a),
        Cmd::Predict(a) => cmd_predict::run(a),
        Cmd::Figure(a) => cmd_figure::run(a),
        Cmd::Bench(a) => cmd_bench::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(common::exit_code(&e))
        }
    }
}
