//! `lbebm_node`: the LB-EBM ROS 2 node. See the crate README.

use anyhow::Context as _;
use lbebm_ros::params::{parse_cli, resolve, usage};
use tracing_subscriber::EnvFilter;

/// RustDDS warns about every UDP message above 8 kB (marker arrays are larger; they
/// are sent fine).
const QUIET: &str = "rustdds::network::udp_sender=error";

fn main() -> anyhow::Result<()> {
    let cli = parse_cli(std::env::args().skip(1))?;
    if cli.help {
        println!("{}", usage());
        return Ok(());
    }
    if cli.version {
        println!("lbebm_node {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    // RUST_LOG wins; else --log-level; else info for this crate, warnings from DDS.
    let filter = match (std::env::var("RUST_LOG").ok(), cli.ros.log_level.as_deref()) {
        (Some(f), _) if !f.is_empty() => f,
        (_, Some(l)) => {
            let l = match l.to_ascii_lowercase().as_str() {
                "fatal" => "error".to_string(),
                other => other.to_string(),
            };
            format!("lbebm_ros={l},lbebm_node={l},warn,{QUIET}")
        }
        _ => format!("lbebm_ros=info,lbebm_node=info,warn,{QUIET}"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let resolved = resolve(&cli)?;
    for u in &resolved.unknown {
        tracing::warn!("unknown parameter {u} ignored");
    }
    if cli.check {
        let src = lbebm_ros::worker::model_source(&resolved.params.model)?;
        lbebm_ros::worker::load_predictor(&src, &resolved.params.device, resolved.params.seed)
            .context("loading the model")?;
        println!(
            "node: {}",
            lbebm_ros::params::fully_qualified(&resolved.namespace, &resolved.node_name)
        );
        for t in &lbebm_ros::topics::ALL {
            println!("topic {} -> {}", t.name, resolved.remaps.resolve(t.name));
        }
        for (n, v) in resolved.params.all() {
            println!("{n} = {v:?}");
        }
        println!("model: {src:?} loads");
        return Ok(());
    }

    // SIGINT / SIGTERM: end the message loop; the node then shuts down cleanly.
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;

    lbebm_ros::node::run(&resolved, stop_rx)?;
    Ok(())
}
