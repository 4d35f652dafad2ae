//! Command line and parameters: the node's own flags, the ROS 2 `--ros-args` section
//! (`-p name:=value`, `-r from:=to`, `--params-file FILE`, `__node`/`__ns`), and ROS 2
//! parameter files (`<node>: ros__parameters: {...}`).
//!
//! ros2-client parses none of these itself. Precedence, lowest first: the defaults
//! compiled in (the shipped `configs/lbebm_node.yaml`), each `--params-file` in order,
//! each `-p` in order.

use ros2_client::ParameterValue;
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// The shipped parameter file, compiled in as the defaults.
pub const DEFAULT_PARAMS_YAML: &str = include_str!("../../../configs/lbebm_node.yaml");
pub const DEFAULT_NODE_NAME: &str = "lbebm_node";

#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("command line: {0}")]
    Args(String),
    #[error("{file}: {msg}")]
    File { file: String, msg: String },
    #[error("parameter {name}: {msg}")]
    Value { name: String, msg: String },
}

fn arg_err(msg: impl Into<String>) -> ParamError {
    ParamError::Args(msg.into())
}

/// Everything found in `--ros-args ... [--]` sections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosArgs {
    pub params_files: Vec<PathBuf>,
    /// `-p name:=value`, in order.
    pub params: Vec<(String, ParameterValue)>,
    /// `-r from:=to`, in order (`__node` and `__ns` are taken out).
    pub remaps: Vec<(String, String)>,
    pub node_name: Option<String>,
    pub namespace: Option<String>,
    pub log_level: Option<String>,
}

/// The node's command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliArgs {
    /// `--model DIR` (same as `-p model:=DIR`).
    pub model: Option<PathBuf>,
    pub help: bool,
    pub version: bool,
    /// Load everything, print the resolved parameters and exit, without DDS.
    pub check: bool,
    pub ros: RosArgs,
}

pub const USAGE: &str = "\
lbebm_node: LB-EBM pedestrian trajectory prediction as a ROS 2 node (pure Rust over DDS).

usage: lbebm_node [--model DIR] [--check] [--ros-args [-p NAME:=VALUE] [-r FROM:=TO]
                  [--params-file FILE] [--log-level LEVEL] ...]

  --model DIR     checkpoint folder (config.toml + model.safetensors); default: the
                  model compiled into the binary (models/default)
  --check         load parameters and model, print the parameters, exit (no network)
  --ros-args ...  standard ROS 2 arguments: -p/--param, -r/--remap (topics, __node,
                  __ns), --params-file, --log-level; `--` ends the section
Topics: subscribes people (people_msgs/People), /tf, /tf_static; publishes
predictions (lbebm_msgs/PredictionArray) and prediction_markers
(visualization_msgs/MarkerArray). ROS_DOMAIN_ID selects the DDS domain.
Log filter: RUST_LOG (e.g. RUST_LOG=lbebm_ros=debug).";

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

/// Parses a `-p` value the way ROS does: as a YAML scalar or flow sequence.
pub fn parse_value(text: &str) -> Result<ParameterValue, ParamError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ParamError::Value {
        name: text.to_string(),
        msg: format!("not a YAML value: {e}"),
    })?;
    match docs.into_iter().next() {
        None => Ok(ParameterValue::String(String::new())),
        Some(y) => yaml_to_value(&y).map_err(|msg| ParamError::Value {
            name: text.to_string(),
            msg,
        }),
    }
}

fn yaml_to_value(y: &Yaml) -> Result<ParameterValue, String> {
    Ok(match y {
        Yaml::Boolean(b) => ParameterValue::Boolean(*b),
        Yaml::Integer(i) => ParameterValue::Integer(*i),
        Yaml::Real(_) => ParameterValue::Double(
            y.as_f64()
                .ok_or_else(|| format!("bad number {:?}", y.as_str()))?,
        ),
        Yaml::String(s) => ParameterValue::String(s.clone()),
        Yaml::Null => ParameterValue::NotSet,
        Yaml::Array(a) => {
            if a.is_empty() {
                return Ok(ParameterValue::StringArray(vec![]));
            }
            let v: Vec<ParameterValue> = a.iter().map(yaml_to_value).collect::<Result<_, _>>()?;
            if let Some(b) = all(&v, |x| match x {
                ParameterValue::Boolean(b) => Some(*b),
                _ => None,
            }) {
                ParameterValue::BooleanArray(b)
            } else if let Some(i) = all(&v, |x| match x {
                ParameterValue::Integer(i) => Some(*i),
                _ => None,
            }) {
                ParameterValue::IntegerArray(i)
            } else if let Some(d) = all(&v, |x| match x {
                ParameterValue::Double(d) => Some(*d),
                ParameterValue::Integer(i) => Some(*i as f64),
                _ => None,
            }) {
                ParameterValue::DoubleArray(d)
            } else if let Some(s) = all(&v, |x| match x {
                ParameterValue::String(s) => Some(s.clone()),
                _ => None,
            }) {
                ParameterValue::StringArray(s)
            } else {
                return Err("arrays must hold values of one type".into());
            }
        }
        Yaml::Hash(_) => return Err("a mapping is not a parameter value".into()),
        _ => return Err("unsupported YAML value".into()),
    })
}

fn all<T>(v: &[ParameterValue], f: impl Fn(&ParameterValue) -> Option<T>) -> Option<Vec<T>> {
    v.iter().map(f).collect()
}

/// Whether a parameter-file key (`lbebm_node`, `/lbebm_node`, `/ns/lbebm_node`, `/**`,
/// `/**/lbebm_node`, `lbe*`) selects this node.
pub fn node_key_matches(key: &str, namespace: &str, node: &str) -> bool {
    let fq = fully_qualified(namespace, node);
    let key = key.trim();
    if key == "/**" || key == "**" {
        return true;
    }
    if key == node || key == fq {
        return true;
    }
    let pattern = if key.starts_with('/') {
        key.to_string()
    } else {
        // relative keys are taken relative to the node's namespace
        fully_qualified(namespace, key)
    };
    glob_match(&pattern, &fq)
}

/// `*` matches within one name token, `**` matches any number of tokens.
fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    let n: Vec<&str> = name.trim_start_matches('/').split('/').collect();
    fn go(p: &[&str], n: &[&str]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(&"**") => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some(tok) => !n.is_empty() && token_match(tok, n[0]) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

fn token_match(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            (0..=s.len())
                .filter(|&k| s.is_char_boundary(k))
                .any(|k| token_match(rest, &s[k..]))
        }
    }
}

pub fn fully_qualified(namespace: &str, node: &str) -> String {
    let ns = namespace.trim_end_matches('/');
    let ns = if ns.is_empty() || ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("/{ns}")
    };
    format!("{ns}/{node}")
}

/// Reads the parameters a ROS 2 parameter file gives this node, in file order.
/// Nested mappings under `ros__parameters` become dotted names.
pub fn params_from_yaml(
    text: &str,
    origin: &str,
    namespace: &str,
    node: &str,
) -> Result<Vec<(String, ParameterValue)>, ParamError> {
    let ferr = |msg: String| ParamError::File {
        file: origin.to_string(),
        msg,
    };
    let docs = YamlLoader::load_from_str(text).map_err(|e| ferr(format!("not YAML: {e}")))?;
    let mut out = Vec::new();
    for doc in &docs {
        let Yaml::Hash(top) = doc else {
            if matches!(doc, Yaml::Null) {
                continue;
            }
            return Err(ferr("expected a mapping of node names".into()));
        };
        for (k, v) in top {
            let Some(key) = k.as_str() else {
                return Err(ferr("node names must be strings".into()));
            };
            if !node_key_matches(key, namespace, node) {
                continue;
            }
            let Yaml::Hash(inner) = v else {
                return Err(ferr(format!(
                    "{key}: expected a mapping with ros__parameters"
                )));
            };
            for (ik, iv) in inner {
                if ik.as_str() != Some("ros__parameters") {
                    return Err(ferr(format!(
                        "{key}: expected ros__parameters, found {:?}",
                        ik.as_str().unwrap_or("?")
                    )));
                }
                flatten("", iv, &mut out).map_err(ferr)?;
            }
        }
    }
    Ok(out)
}

fn flatten(prefix: &str, y: &Yaml, out: &mut Vec<(String, ParameterValue)>) -> Result<(), String> {
    match y {
        Yaml::Hash(h) => {
            for (k, v) in h {
                let name = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    _ => return Err("parameter names must be strings".into()),
                };
                let full = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&full, v, out)?;
            }
            Ok(())
        }
        Yaml::Null if prefix.is_empty() => Ok(()),
        _ => {
            let v = yaml_to_value(y).map_err(|e| format!("{prefix}: {e}"))?;
            out.push((prefix.to_string(), v));
            Ok(())
        }
    }
}

/// The node's parameters, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Checkpoint folder; empty: the model compiled into the binary.
    pub model: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// K: sampled futures per person.
    pub num_samples: usize,
    pub seed: u64,
    /// Most predictions per second (a new scene is predicted at most this often).
    pub rate_hz: f64,
    /// Frame histories are kept in and predictions are published in.
    pub fixed_frame: String,
    /// Seconds without an observation after which a track is dropped.
    pub track_timeout: f64,
    /// Most people per scene (and per input message); the rest are clipped.
    pub max_agents: usize,
    /// A jump faster than this (m/s) means the id was reused: the track restarts.
    pub max_speed: f64,
    pub publish_markers: bool,
    /// Seconds before RViz removes a marker that was not refreshed.
    pub marker_lifetime: f64,
}

/// Names, defaults and descriptions, in declaration order.
pub const PARAM_NAMES: [&str; 11] = [
    "model",
    "device",
    "num_samples",
    "seed",
    "rate_hz",
    "fixed_frame",
    "track_timeout",
    "max_agents",
    "max_speed",
    "publish_markers",
    "marker_lifetime",
];

impl Default for Params {
    fn default() -> Self {
        Params {
            model: String::new(),
            device: "cpu".into(),
            num_samples: 20,
            seed: 0,
            rate_hz: 10.0,
            fixed_frame: "map".into(),
            track_timeout: 1.0,
            max_agents: 64,
            max_speed: 10.0,
            publish_markers: true,
            marker_lifetime: 1.0,
        }
    }
}

fn as_f64(name: &str, v: &ParameterValue) -> Result<f64, ParamError> {
    match v {
        ParameterValue::Double(d) => Ok(*d),
        ParameterValue::Integer(i) => Ok(*i as f64),
        _ => Err(type_err(name, "a number", v)),
    }
}

fn as_int(name: &str, v: &ParameterValue) -> Result<i64, ParamError> {
    match v {
        ParameterValue::Integer(i) => Ok(*i),
        _ => Err(type_err(name, "an integer", v)),
    }
}

fn as_str(name: &str, v: &ParameterValue) -> Result<String, ParamError> {
    match v {
        ParameterValue::String(s) => Ok(s.clone()),
        _ => Err(type_err(name, "a string", v)),
    }
}

fn as_bool(name: &str, v: &ParameterValue) -> Result<bool, ParamError> {
    match v {
        ParameterValue::Boolean(b) => Ok(*b),
        _ => Err(type_err(name, "true or false", v)),
    }
}

fn type_err(name: &str, want: &str, got: &ParameterValue) -> ParamError {
    ParamError::Value {
        name: name.to_string(),
        msg: format!("expected {want}, got {got:?}"),
    }
}

fn vbad(name: &str, msg: impl Into<String>) -> ParamError {
    ParamError::Value {
        name: name.to_string(),
        msg: msg.into(),
    }
}

impl Params {
    /// Sets one parameter; unknown names are reported as `Ok(false)`.
    pub fn set(&mut self, name: &str, v: &ParameterValue) -> Result<bool, ParamError> {
        let positive = |x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(x)
            } else {
                Err(vbad(name, format!("must be a positive number, got {x}")))
            }
        };
        match name {
            "model" => self.model = as_str(name, v)?,
            "device" => self.device = as_str(name, v)?,
            "num_samples" => {
                let k = as_int(name, v)?;
                if !(1..=1000).contains(&k) {
                    return Err(vbad(name, format!("must be in 1..=1000, got {k}")));
                }
                self.num_samples = k as usize;
            }
            "seed" => {
                let s = as_int(name, v)?;
                if s < 0 {
                    return Err(vbad(name, "must not be negative"));
                }
                self.seed = s as u64;
            }
            "rate_hz" => self.rate_hz = positive(as_f64(name, v)?)?,
            "fixed_frame" => {
                let f = as_str(name, v)?;
                let f = f.trim_start_matches('/').to_string();
                if f.is_empty() {
                    return Err(vbad(name, "must not be empty"));
                }
                self.fixed_frame = f;
            }
            "track_timeout" => self.track_timeout = positive(as_f64(name, v)?)?,
            "max_agents" => {
                let n = as_int(name, v)?;
                if !(1..=10_000).contains(&n) {
                    return Err(vbad(name, format!("must be in 1..=10000, got {n}")));
                }
                self.max_agents = n as usize;
            }
            "max_speed" => self.max_speed = positive(as_f64(name, v)?)?,
            "publish_markers" => self.publish_markers = as_bool(name, v)?,
            "marker_lifetime" => {
                let x = as_f64(name, v)?;
                if !(x.is_finite() && x >= 0.0) {
                    return Err(vbad(name, "must be >= 0 (0: markers never expire)"));
                }
                self.marker_lifetime = x;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The current value of a parameter, as ROS sees it.
    pub fn get(&self, name: &str) -> Option<ParameterValue> {
        Some(match name {
            "model" => ParameterValue::String(self.model.clone()),
            "device" => ParameterValue::String(self.device.clone()),
            "num_samples" => ParameterValue::Integer(self.num_samples as i64),
            "seed" => ParameterValue::Integer(self.seed as i64),
            "rate_hz" => ParameterValue::Double(self.rate_hz),
            "fixed_frame" => ParameterValue::String(self.fixed_frame.clone()),
            "track_timeout" => ParameterValue::Double(self.track_timeout),
            "max_agents" => ParameterValue::Integer(self.max_agents as i64),
            "max_speed" => ParameterValue::Double(self.max_speed),
            "publish_markers" => ParameterValue::Boolean(self.publish_markers),
            "marker_lifetime" => ParameterValue::Double(self.marker_lifetime),
            _ => return None,
        })
    }

    /// Every parameter and its value, in declaration order.
    pub fn all(&self) -> Vec<(&'static str, ParameterValue)> {
        PARAM_NAMES
            .iter()
            .filter_map(|n| self.get(n).map(|v| (*n, v)))
            .collect()
    }

    fn apply(
        &mut self,
        list: &[(String, ParameterValue)],
        node: &str,
    ) -> Result<Vec<String>, ParamError> {
        let mut unknown = Vec::new();
        for (name, v) in list {
            // `-p node:name:=v` applies only to that node
            let name = match name.split_once(':') {
                Some((n, rest)) if n == node => rest,
                Some(_) => continue,
                None => name.as_str(),
            };
            if !self.set(name, v)? {
                unknown.push(name.to_string());
            }
        }
        Ok(unknown)
    }
}

/// Where the node's names and parameters came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub params: Params,
    pub node_name: String,
    pub namespace: String,
    pub remaps: Remaps,
    /// Parameters given that this node does not have (warned about, ignored).
    pub unknown: Vec<String>,
}

/// Applies the shipped defaults, the parameter files and the `-p` overrides.
pub fn resolve(cli: &CliArgs) -> Result<Resolved, ParamError> {
    resolve_with(cli, DEFAULT_PARAMS_YAML, |p| std::fs::read_to_string(p))
}

/// [`resolve`] with the defaults text and the file reader given (for tests).
pub fn resolve_with(
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

/// Topic remapping rules (`-r from:=to`), applied to fully qualified names.
#[derive(Debug, Clone, PartialEq)]
pub struct Remaps {
    pub rules: Vec<(String, String)>,
    pub namespace: String,
    pub node: String,
}

impl Remaps {
    /// Expands a topic name: absolute stays, `~/x` is under the node, relative is under
    /// the namespace.
    pub fn expand(&self, name: &str) -> String {
        if name.starts_with('/') {
            name.to_string()
        } else if let Some(rest) = name.strip_prefix("~/") {
            format!("{}/{rest}", fully_qualified(&self.namespace, &self.node))
        } else {
            let ns = self.namespace.trim_end_matches('/');
            format!("{ns}/{name}")
        }
    }

    /// The fully qualified name `name` resolves to after remapping (first rule wins).
    pub fn resolve(&self, name: &str) -> String {
        let full = self.expand(name);
        for (from, to) in &self.rules {
            // node-specific rules `node:from:=to`
            let from = match from.split_once(':') {
                Some((n, f)) if n == self.node => f,
                Some(_) => continue,
                None => from.as_str(),
            };
            if self.expand(from) == full {
                return self.expand(to);
            }
        }
        full
    }
}

#[cfg(test)]
mod tests {
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
    fn values_parse_like_ros() {
        assert_eq!(parse_value("3").unwrap(), ParameterValue::Integer(3));
        assert_eq!(parse_value("3.5").unwrap(), ParameterValue::Double(3.5));
        assert_eq!(parse_value("true").unwrap(), ParameterValue::Boolean(true));
        assert_eq!(
            parse_value("odom").unwrap(),
            ParameterValue::String("odom".into())
        );
        assert_eq!(
            parse_value("'7'").unwrap(),
            ParameterValue::String("7".into())
        );
        assert_eq!(
            parse_value("[1, 2]").unwrap(),
            ParameterValue::IntegerArray(vec![1, 2])
        );
        assert_eq!(
            parse_value("[1, 2.5]").unwrap(),
            ParameterValue::DoubleArray(vec![1.0, 2.5])
        );
        assert_eq!(
            parse_value("[a, b]").unwrap(),
            ParameterValue::StringArray(vec!["a".into(), "b".into()])
        );
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

    #[test]
    fn nested_parameters_flatten_with_dots() {
        let l = params_from_yaml(
            "lbebm_node:\n  ros__parameters:\n    a:\n      b: 1\n      c: [x]\n",
            "f",
            "/",
            "lbebm_node",
        )
        .unwrap();
        assert_eq!(
            l,
            vec![
                ("a.b".into(), ParameterValue::Integer(1)),
                ("a.c".into(), ParameterValue::StringArray(vec!["x".into()]))
            ]
        );
        assert!(params_from_yaml("lbebm_node: 3\n", "f", "/", "lbebm_node").is_err());
        assert!(params_from_yaml("lbebm_node:\n  params: {}\n", "f", "/", "lbebm_node").is_err());
        assert!(params_from_yaml(": : :\n\t- [", "f", "/", "lbebm_node").is_err());
    }

    #[test]
    fn node_keys_match_like_ros() {
        assert!(node_key_matches("lbebm_node", "/", "lbebm_node"));
        assert!(node_key_matches("/lbebm_node", "/", "lbebm_node"));
        assert!(node_key_matches("/**", "/a", "lbebm_node"));
        assert!(node_key_matches("/**/lbebm_node", "/a/b", "lbebm_node"));
        assert!(node_key_matches("/a/lbebm_*", "/a", "lbebm_node"));
        assert!(!node_key_matches("/b/lbebm_node", "/a", "lbebm_node"));
        assert!(!node_key_matches("other", "/", "lbebm_node"));
    }

    #[test]
    fn remapping_resolves_names() {
        let r = Remaps {
            rules: vec![
                ("people".into(), "/tracker/people".into()),
                ("/prediction_markers".into(), "viz".into()),
                ("other_node:predictions".into(), "/nope".into()),
            ],
            namespace: "/".into(),
            node: "lbebm_node".into(),
        };
        assert_eq!(r.resolve("people"), "/tracker/people");
        assert_eq!(r.resolve("/people"), "/tracker/people");
        assert_eq!(r.resolve("prediction_markers"), "/viz");
        assert_eq!(r.resolve("predictions"), "/predictions");
        assert_eq!(r.resolve("/tf"), "/tf");
        let r = Remaps {
            rules: vec![],
            namespace: "/robot".into(),
            node: "n".into(),
        };
        assert_eq!(r.resolve("people"), "/robot/people");
        assert_eq!(r.resolve("~/debug"), "/robot/n/debug");
        assert_eq!(r.resolve("/tf"), "/tf");
    }
}
