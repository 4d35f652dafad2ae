//! The node's parameters, declared once in the table below. The struct [`Params`], its
//! defaults, reading and writing a parameter from a `ParameterValue` (type and range
//! checks), the list of names and the help text all come from that table; the shipped
//! `configs/lbebm_node.yaml` is checked against it by a unit test.

use super::error::ParamError;
use super::kinds::{ParamType, Rule};
use ros2_client::ParameterValue;

/// The shipped parameter file, compiled in as the defaults.
pub(crate) const DEFAULT_PARAMS_YAML: &str = include_str!("../../../../configs/lbebm_node.yaml");
/// The node's name unless `-r __node:=NAME` renames it.
pub(crate) const DEFAULT_NODE_NAME: &str = "lbebm_node";

/// One declared parameter, as the table gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamSpec {
    /// The ROS name (and the field of [`Params`]).
    pub(crate) name: &'static str,
    /// `string`, `integer`, `double` or `bool`.
    pub(crate) kind: &'static str,
    /// The default as written in the table.
    pub(crate) default: &'static str,
    /// The values accepted.
    pub(crate) rule: Rule,
    /// When a new value takes effect: at run time (`ros2 param set`) or at start only.
    pub(crate) change: Change,
    /// What it does.
    pub(crate) description: &'static str,
}

/// When a parameter's new value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// `ros2 param set` works while the node runs; the next scene uses the value.
    Runtime,
    /// Read once at start (the model, the device, frames and topics cannot change
    /// under a running pipeline): setting it at run time is refused.
    Restart,
}

/// Declares the parameters: each row is
/// `name: RustType = default, rule, change; "description";` and becomes a field of
/// [`Params`], its default, its arms in `Params::set` and `Params::get`, and an entry
/// of [`PARAMS`] (names, help text, whether it can change at run time).
macro_rules! declare_params {
    ($($name:ident: $ty:ty = $default:expr, $rule:expr, $change:ident; $desc:literal;)*) => {
        /// The node's parameters, typed (declared in `params/table.rs`).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Params {
            $(#[doc = $desc] pub $name: $ty,)*
        }

        impl Default for Params {
            fn default() -> Self {
                Params {
                    $($name: <$ty as ParamType>::from_literal($default),)*
                }
            }
        }

        /// Every declared parameter, in declaration order.
        pub(crate) const PARAMS: &[ParamSpec] = &[$(ParamSpec {
            name: stringify!($name),
            kind: <$ty as ParamType>::KIND,
            default: stringify!($default),
            rule: $rule,
            change: Change::$change,
            description: $desc,
        }),*];

        impl Params {
            /// Sets one parameter (type and range checked); unknown names are reported
            /// as `Ok(false)`.
            pub(crate) fn set(
                &mut self,
                name: &str,
                v: &ParameterValue,
            ) -> Result<bool, ParamError> {
                match name {
                    $(stringify!($name) => {
                        self.$name = <$ty as ParamType>::from_value(name, v, &$rule)?
                    })*
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// The current value of a parameter, as ROS sees it.
            pub(crate) fn get(&self, name: &str) -> Option<ParameterValue> {
                match name {
                    $(stringify!($name) => Some(self.$name.to_value()),)*
                    _ => None,
                }
            }
        }
    };
}

declare_params! {
    model: String = "", Rule::Any, Restart;
        "Checkpoint folder (config.toml + model.safetensors); empty: the compiled-in models/default.";
    device: String = "cpu", Rule::Any, Restart;
        "`cpu` or `cuda:N` (cuda needs a build with --features cuda).";
    num_samples: usize = 20, Rule::Range(1, 1000), Runtime;
        "K: sampled futures per person, published from the most to the least likely.";
    seed: u64 = 0, Rule::NotNegative, Restart;
        "Seed of the sampler's noise.";
    rate_hz: f64 = 10.0, Rule::Positive, Runtime;
        "Most predictions per second (a new scene is predicted at most this often).";
    fixed_frame: String = "map", Rule::FrameId, Restart;
        "Frame histories are kept in and predictions are published in.";
    track_timeout: f64 = 1.0, Rule::Positive, Runtime;
        "Seconds without an observation after which a track is dropped.";
    max_agents: usize = 64, Rule::Range(1, 10_000), Runtime;
        "Most people per scene (and per input message); the rest are clipped.";
    max_speed: f64 = 10.0, Rule::Positive, Runtime;
        "A jump faster than this (m/s) means the id was reused: the track restarts.";
    publish_markers: bool = true, Rule::Any, Runtime;
        "Publish the visualization_msgs/MarkerArray.";
    marker_lifetime: f64 = 1.0, Rule::AtLeastZero { zero: "markers never expire" }, Runtime;
        "Seconds before RViz removes a marker that was not refreshed.";
    robot_frame: String = "", Rule::FrameIdOrEmpty { empty: "off" }, Restart;
        "The robot's own frame: its pose in fixed_frame (from /tf) joins every scene as a neighbour the model sees but that is never published; empty: off.";
}

/// The declared parameters' names, in declaration order.
pub(crate) const PARAM_NAMES: [&str; PARAMS.len()] = {
    let mut names = [""; PARAMS.len()];
    let mut i = 0;
    while i < PARAMS.len() {
        names[i] = PARAMS[i].name;
        i += 1;
    }
    names
};

impl Params {
    /// Every parameter and its value, in declaration order.
    pub fn all(&self) -> Vec<(&'static str, ParameterValue)> {
        PARAM_NAMES
            .iter()
            .filter_map(|n| self.get(n).map(|v| (*n, v)))
            .collect()
    }

    /// Sets the parameters of `list` in order; `node:name` entries only when `node`
    /// is this node. Returns the names this node does not have.
    pub(crate) fn apply(
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

#[cfg(test)]
mod tests {
    use super::super::file::params_from_yaml;
    use super::*;

    #[test]
    fn every_default_passes_its_own_rule() {
        let d = Params::default();
        for spec in PARAMS {
            let v = d.get(spec.name).expect(spec.name);
            let mut p = Params::default();
            assert!(p.set(spec.name, &v).expect(spec.name), "{}", spec.name);
            assert_eq!(p, d, "{}", spec.name);
        }
        assert_eq!(d.all().len(), PARAMS.len());
        assert!(d.get("nope").is_none());
    }

    #[test]
    fn shipped_yaml_matches_the_table() {
        let listed = params_from_yaml(DEFAULT_PARAMS_YAML, "x", "/", DEFAULT_NODE_NAME).unwrap();
        let d = Params::default();
        for (k, v) in &listed {
            let mut p = Params::default();
            assert!(p.set(k, v).unwrap(), "{k} in the yaml is not declared");
            assert_eq!(p.get(k), d.get(k), "{k}: the yaml and the table disagree");
        }
        for n in PARAM_NAMES {
            assert!(
                listed.iter().any(|(k, _)| k == n),
                "{n} missing from the yaml"
            );
        }
    }

    #[test]
    fn readme_lists_every_parameter_with_its_default() {
        let readme = include_str!("../../README.md");
        for spec in PARAMS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", spec.name)))
                .unwrap_or_else(|| panic!("{} missing from the README", spec.name));
            let default = match spec.default {
                "\"\"" => "\"\"",
                d => d.trim_matches('"'),
            };
            let cell = row.split('|').nth(2).unwrap_or("").trim().trim_matches('`');
            assert_eq!(cell, default, "{}: README default", spec.name);
            let runtime = row.split('|').nth(3).unwrap_or("").trim();
            let expected = match spec.change {
                Change::Runtime => "yes",
                Change::Restart => "no",
            };
            assert_eq!(runtime, expected, "{}: README run-time column", spec.name);
        }
    }

    #[test]
    fn error_messages() {
        for (n, v, msg) in [
            (
                "num_samples",
                ParameterValue::Integer(0),
                "must be in 1..=1000, got 0",
            ),
            (
                "max_agents",
                ParameterValue::Integer(10_001),
                "must be in 1..=10000, got 10001",
            ),
            ("seed", ParameterValue::Integer(-1), "must not be negative"),
            (
                "rate_hz",
                ParameterValue::Double(-1.0),
                "must be a positive number, got -1",
            ),
            (
                "fixed_frame",
                ParameterValue::String("/".into()),
                "must not be empty",
            ),
            (
                "marker_lifetime",
                ParameterValue::Double(-0.5),
                "must be >= 0 (0: markers never expire)",
            ),
            (
                "publish_markers",
                ParameterValue::Integer(3),
                "expected true or false, got Integer(3)",
            ),
            (
                "num_samples",
                ParameterValue::Double(2.5),
                "expected an integer, got Double(2.5)",
            ),
            (
                "model",
                ParameterValue::Boolean(true),
                "expected a string, got Boolean(true)",
            ),
            (
                "max_speed",
                ParameterValue::Boolean(true),
                "expected a number, got Boolean(true)",
            ),
        ] {
            let e = Params::default().set(n, &v).unwrap_err();
            assert_eq!(e.to_string(), format!("parameter {n}: {msg}"));
        }
        let mut p = Params::default();
        p.set("fixed_frame", &ParameterValue::String("/odom".into()))
            .unwrap();
        assert_eq!(p.fixed_frame, "odom");
    }
}
