//! Command line and parameters: the node's own flags, the ROS 2 `--ros-args` section
//! (`-p name:=value`, `-r from:=to`, `--params-file FILE`, `__node`/`__ns`), ROS 2
//! parameter files (`<node>: ros__parameters: {...}`) and the typed parameters.
//!
//! ros2-client parses none of these itself. Precedence, lowest first: the defaults
//! compiled in (the shipped `configs/lbebm_node.yaml`), each `--params-file` in order,
//! each `-p` in order.
//!
//! Modules (each uses only those listed before it): `error` (the error type), `remap`
//! (names and `-r` remapping), `kinds` (parameter types and value rules), `file`
//! (parameter files and YAML values), `table` (the declared parameters: [`Params`]),
//! `args` (the command line and `--help`), `resolve` (everything combined), `live` (the
//! parameters while the node runs: `ros2 param set`).

mod args;
mod error;
mod file;
mod kinds;
mod live;
mod remap;
mod resolve;
mod table;

pub use args::{parse_cli, usage, CliArgs, RosArgs};
pub use error::ParamError;
pub use live::LiveParams;
pub use remap::{fully_qualified, Remaps};
pub use resolve::{resolve, Resolved};
pub use table::Params;
