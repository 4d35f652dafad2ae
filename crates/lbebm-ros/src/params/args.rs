//! The node's command line: its own flags and the ROS 2 `--ros-args` sections
//! (`-p name:=value`, `-r from:=to`, `--params-file FILE`, `--log-level`), and the help
//! text.

use super::error::{arg_err, ParamError};
use super::file::parse_value;
use super::table::{Change, PARAMS};
use crate::topics::{self, Direction};
use ros2_client::ParameterValue;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Everything found in `--ros-args ... [--]` sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosArgs {
    /// `--params-file FILE`, in order.
    pub(crate) params_files: Vec<PathBuf>,
    /// `-p name:=value`, in order.
    pub(crate) params: Vec<(String, ParameterValue)>,
    /// `-r from:=to`, in order (`__node` and `__ns` are taken out).
    pub(crate) remaps: Vec<(String, String)>,
    /// `-r __node:=NAME` (or `__name`).
    pub(crate) node_name: Option<String>,
    /// `-r __ns:=NS`.
    pub(crate) namespace: Option<String>,
    /// `--log-level LEVEL` (or `logger:=LEVEL`).
    pub log_level: Option<String>,
}

/// The node's command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliArgs {
    /// `--model DIR` (same as `-p model:=DIR`).
    pub(crate) model: Option<PathBuf>,
    /// `-h`, `--help`.
    pub help: bool,
    /// `-V`, `--version`.
    pub version: bool,
    /// Load everything, print the resolved parameters and exit, without DDS.
    pub check: bool,
    /// The `--ros-args` sections.
    pub ros: RosArgs,
}

const USAGE_HEAD: &str = "\
lbebm_node: LB-EBM pedestrian trajectory prediction as a ROS 2 node (pure Rust over DDS).

usage: lbebm_node [--model DIR] [--check] [--ros-args [-p NAME:=VALUE] [-r FROM:=TO]
                  [--params-file FILE] [--log-level LEVEL] ...]

  --model DIR     checkpoint folder (config.toml + model.safetensors); default: the
                  model compiled into the binary (models/default)
  --check         load parameters and model, print the parameters, exit (no network)
  --ros-args ...  standard ROS 2 arguments: -p/--param, -r/--remap (topics, __node,
                  __ns), --params-file, --log-level; `--` ends the section";

/// The `--help` text: the flags, then the topics and the parameters (from their tables).
pub fn usage() -> String {
    let mut s = String::from(USAGE_HEAD);
    s.push_str("\nTopics (remappable with -r NAME:=NEW):");
    for t in &topics::ALL {
        let dir = match t.direction {
            Direction::In => "in ",
            Direction::Out => "out",
        };
        let _ = write!(s, "\n  {dir} {:<20} {}", t.name, t.message_type());
    }
    s.push_str(
        "\nParameters (-p NAME:=VALUE or --params-file; defaults: configs/lbebm_node.yaml,\n\
         compiled in):",
    );
    for p in PARAMS {
        let rule = p.rule.describe();
        let rule = if rule.is_empty() {
            String::new()
        } else {
            format!(", {rule}")
        };
        let when = match p.change {
            Change::Runtime => "; runtime",
            Change::Restart => "",
        };
        let _ = write!(
            s,
            "\n  {} ({}{rule}; default {}{when})",
            p.name, p.kind, p.default
        );
        let mut line = String::new();
        for word in p.description.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > 80 {
                let _ = write!(s, "\n{line}");
                line.clear();
            }
            if line.is_empty() {
                line.push_str("      ");
            } else {
                line.push(' ');
            }
            line.push_str(word);
        }
        let _ = write!(s, "\n{line}");
    }
    s.push_str(
        "\nROS_DOMAIN_ID selects the DDS domain.\n\
         Log filter: RUST_LOG (e.g. RUST_LOG=lbebm_ros=debug).",
    );
    s
}

/// Parses the process arguments (without the program name).
pub fn parse_cli<I, S>(args: I) -> Result<CliArgs, ParamError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut out = CliArgs::default();
    let mut i = 0;
    let mut in_ros = false;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--ros-args" {
            in_ros = true;
            continue;
        }
        if in_ros {
            if a == "--" {
                in_ros = false;
                continue;
            }
            let mut value = |flag: &str| -> Result<String, ParamError> {
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| arg_err(format!("{flag} needs a value")))?;
                i += 1;
                Ok(v)
            };
            match a {
                "-p" | "--param" => {
                    let v = value(a)?;
                    let (name, val) = split_assign(&v, a)?;
                    // `node:name:=value` (node-specific) is kept whole, see Params::apply
                    out.ros.params.push((name.to_string(), parse_value(val)?));
                }
                "-r" | "--remap" => {
                    let v = value(a)?;
                    let (from, to) = split_assign(&v, a)?;
                    match from {
                        "__node" | "__name" => out.ros.node_name = Some(to.to_string()),
                        "__ns" => out.ros.namespace = Some(to.to_string()),
                        _ => out.ros.remaps.push((from.to_string(), to.to_string())),
                    }
                }
                "--params-file" => out.ros.params_files.push(PathBuf::from(value(a)?)),
                "--log-level" => {
                    let v = value(a)?;
                    // `--log-level LEVEL` or `--log-level logger:=LEVEL`
                    let lvl = v.rsplit_once(":=").map(|(_, l)| l).unwrap_or(&v);
                    out.ros.log_level = Some(lvl.to_string());
                }
                "-e" | "--enclave" | "--log-config-file" | "--log-file-name" => {
                    let v = value(a)?;
                    tracing::debug!("ignoring ROS argument {a} {v}");
                }
                "--enable-rosout-logs"
                | "--disable-rosout-logs"
                | "--enable-stdout-logs"
                | "--disable-stdout-logs"
                | "--enable-external-lib-logs"
                | "--disable-external-lib-logs" => {
                    tracing::debug!("ignoring ROS argument {a}");
                }
                _ => return Err(arg_err(format!("unknown ROS argument {a:?}"))),
            }
            continue;
        }
        match a {
            "-h" | "--help" => out.help = true,
            "-V" | "--version" => out.version = true,
            "--check" => out.check = true,
            "--model" => {
                let v = args
                    .get(i)
                    .ok_or_else(|| arg_err("--model needs a folder"))?;
                i += 1;
                out.model = Some(PathBuf::from(v));
            }
            _ => {
                if let Some(v) = a.strip_prefix("--model=") {
                    out.model = Some(PathBuf::from(v));
                } else {
                    return Err(arg_err(format!(
                        "unknown argument {a:?} (ROS arguments go after --ros-args; see --help)"
                    )));
                }
            }
        }
    }
    Ok(out)
}

fn split_assign<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str), ParamError> {
    match s.split_once(":=") {
        Some((a, b)) if !a.is_empty() => Ok((a, b)),
        _ => Err(arg_err(format!("{flag} expects NAME:=VALUE, got {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> CliArgs {
        parse_cli(args.iter().copied()).expect("parses")
    }

    #[test]
    fn ros_args_are_parsed() {
        let c = cli(&[
            "--model",
            "/m",
            "--ros-args",
            "-p",
            "num_samples:=5",
            "--param",
            "rate_hz:=2",
            "-r",
            "people:=/tracks",
            "--remap",
            "__node:=pred",
            "-r",
            "__ns:=/robot",
            "--params-file",
            "/tmp/p.yaml",
            "--log-level",
            "debug",
            "--",
            "--check",
        ]);
        assert_eq!(c.model, Some(PathBuf::from("/m")));
        assert!(c.check);
        assert_eq!(
            c.ros.params,
            vec![
                ("num_samples".into(), ParameterValue::Integer(5)),
                ("rate_hz".into(), ParameterValue::Integer(2)),
            ]
        );
        assert_eq!(c.ros.remaps, vec![("people".into(), "/tracks".into())]);
        assert_eq!(c.ros.node_name.as_deref(), Some("pred"));
        assert_eq!(c.ros.namespace.as_deref(), Some("/robot"));
        assert_eq!(c.ros.params_files, vec![PathBuf::from("/tmp/p.yaml")]);
        assert_eq!(c.ros.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in [
            &["--frobnicate"][..],
            &["--ros-args", "-p"],
            &["--ros-args", "-p", "novalue"],
            &["--ros-args", "-r", ":=x"],
            &["--ros-args", "--bogus"],
            &["--model"],
        ] {
            assert!(parse_cli(bad.iter().copied()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_lists_every_topic_and_parameter() {
        let u = usage();
        for t in &topics::ALL {
            assert!(
                u.contains(t.name) && u.contains(&t.message_type()),
                "{}",
                t.name
            );
        }
        for p in PARAMS {
            assert!(u.contains(&format!("\n  {} (", p.name)), "{}", p.name);
        }
        assert!(u.lines().all(|l| l.len() <= 90), "{u}");
    }
}
