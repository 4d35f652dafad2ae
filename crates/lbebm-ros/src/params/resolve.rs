//! Resolving the node's name, namespace, remappings and parameters from the command
//! line. Precedence, lowest first: the defaults compiled in (the shipped
//! `configs/lbebm_node.yaml`), each `--params-file` in order, each `-p` in order, then
//! `--model`.

use super::args::CliArgs;
use super::error::{arg_err, ParamError};
use super::file::params_from_yaml;
use super::remap::Remaps;
use super::table::{Params, DEFAULT_NODE_NAME, DEFAULT_PARAMS_YAML};
use std::path::Path;

/// Where the node's names and parameters came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The parameters after defaults, files and `-p`.
    pub params: Params,
    /// The node's name (`-r __node:=NAME`, else `lbebm_node`).
    pub node_name: String,
    /// The node's namespace: `/` or `/ns`.
    pub namespace: String,
    /// The `-r` rules, with the node's name and namespace.
    pub remaps: Remaps,
    /// Parameters given that this node does not have (warned about, ignored).
    pub unknown: Vec<String>,
}

/// Applies the shipped defaults, the parameter files and the `-p` overrides.
pub fn resolve(cli: &CliArgs) -> Result<Resolved, ParamError> {
    resolve_with(cli, DEFAULT_PARAMS_YAML, |p| std::fs::read_to_string(p))
}

/// [`resolve`] with the defaults text and the file reader given (for tests).
pub(crate) fn resolve_with(
    cli: &CliArgs,
    defaults_yaml: &str,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Resolved, ParamError> {
    let node = cli
        .ros
        .node_name
        .clone()
        .unwrap_or_else(|| DEFAULT_NODE_NAME.to_string());
    if node.is_empty() || node.contains('/') {
        return Err(arg_err(format!("bad node name {node:?}")));
    }
    let namespace = match cli.ros.namespace.as_deref() {
        None | Some("") => "/".to_string(),
        Some(ns) if ns.starts_with('/') => ns.to_string(),
        Some(ns) => format!("/{ns}"),
    };
    let mut params = Params::default();
    let mut unknown = Vec::new();
    // The shipped file names the default node; it applies whatever the node is called.
    let defaults = params_from_yaml(
        defaults_yaml,
        "configs/lbebm_node.yaml",
        "/",
        DEFAULT_NODE_NAME,
    )?;
    unknown.extend(params.apply(&defaults, &node)?);
    for f in &cli.ros.params_files {
        let text = read(f).map_err(|e| ParamError::File {
            file: f.display().to_string(),
            msg: format!("cannot read: {e}"),
        })?;
        let list = params_from_yaml(&text, &f.display().to_string(), &namespace, &node)?;
        unknown.extend(params.apply(&list, &node)?);
    }
    unknown.extend(params.apply(&cli.ros.params, &node)?);
    if let Some(m) = &cli.model {
        params.model = m.display().to_string();
    }
    unknown.dedup();
    Ok(Resolved {
        params,
        remaps: Remaps {
            rules: cli.ros.remaps.clone(),
            namespace: namespace.clone(),
            node: node.clone(),
        },
        node_name: node,
        namespace,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::super::args::parse_cli;
    use super::super::table::PARAM_NAMES;
    use super::*;

    fn cli(args: &[&str]) -> CliArgs {
        parse_cli(args.iter().copied()).expect("parses")
    }

    #[test]
    fn shipped_yaml_gives_the_documented_defaults() {
        let r = resolve(&CliArgs::default()).expect("resolves");
        assert_eq!(r.params, Params::default());
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.node_name, "lbebm_node");
        assert_eq!(r.namespace, "/");
        // every parameter is written out in the shipped file
        let listed = params_from_yaml(DEFAULT_PARAMS_YAML, "x", "/", DEFAULT_NODE_NAME).unwrap();
        for n in PARAM_NAMES {
            assert!(
                listed.iter().any(|(k, _)| k == n),
                "{n} missing from the yaml"
            );
        }
    }

    #[test]
    fn precedence_defaults_then_files_then_p() {
        let files = |p: &Path| -> std::io::Result<String> {
            match p.to_str() {
                Some("a.yaml") => Ok("lbebm_node:\n  ros__parameters:\n    num_samples: 7\n    rate_hz: 4.0\n    fixed_frame: odom\nother_node:\n  ros__parameters:\n    num_samples: 99\n".into()),
                Some("b.yaml") => Ok("/**:\n  ros__parameters:\n    rate_hz: 5\n    bogus: 1\n".into()),
                _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no")),
            }
        };
        let c = cli(&[
            "--ros-args",
            "--params-file",
            "a.yaml",
            "--params-file",
            "b.yaml",
            "-p",
            "fixed_frame:=/world",
        ]);
        let r = resolve_with(&c, DEFAULT_PARAMS_YAML, files).unwrap();
        assert_eq!(r.params.num_samples, 7);
        assert_eq!(r.params.rate_hz, 5.0);
        assert_eq!(r.params.fixed_frame, "world");
        assert_eq!(r.unknown, vec!["bogus".to_string()]);
        // a missing file is an error naming it
        let c = cli(&["--ros-args", "--params-file", "missing.yaml"]);
        let e = resolve_with(&c, DEFAULT_PARAMS_YAML, files).unwrap_err();
        assert!(e.to_string().contains("missing.yaml"), "{e}");
    }

    #[test]
    fn renamed_node_reads_its_own_section() {
        let files = |_: &Path| -> std::io::Result<String> {
            Ok("/robot/pred:\n  ros__parameters:\n    num_samples: 3\nlbebm_node:\n  ros__parameters:\n    num_samples: 9\n".into())
        };
        let c = cli(&[
            "--ros-args",
            "-r",
            "__node:=pred",
            "-r",
            "__ns:=robot",
            "--params-file",
            "f",
        ]);
        let r = resolve_with(&c, DEFAULT_PARAMS_YAML, files).unwrap();
        assert_eq!(r.namespace, "/robot");
        assert_eq!(r.node_name, "pred");
        assert_eq!(r.params.num_samples, 3);
    }

    #[test]
    fn bad_values_are_refused_with_the_name() {
        for (n, v) in [
            ("num_samples", "0"),
            ("num_samples", "2.5"),
            ("rate_hz", "-1"),
            ("rate_hz", "fast"),
            ("max_agents", "0"),
            ("publish_markers", "3"),
            ("track_timeout", ".nan"),
        ] {
            let c = cli(&["--ros-args", "-p", &format!("{n}:={v}")]);
            let e = resolve_with(&c, DEFAULT_PARAMS_YAML, |_| Ok(String::new())).unwrap_err();
            assert!(e.to_string().contains(n), "{n}={v}: {e}");
        }
        // integers are accepted for doubles
        let c = cli(&["--ros-args", "-p", "max_speed:=3"]);
        let r = resolve_with(&c, DEFAULT_PARAMS_YAML, |_| Ok(String::new())).unwrap();
        assert_eq!(r.params.max_speed, 3.0);
    }
}
