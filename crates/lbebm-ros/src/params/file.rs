//! ROS 2 parameter files (`<node>: ros__parameters: {...}`), the node keys that select
//! a node (`/**`, `/ns/name`, globs), and parameter values written as YAML (also the
//! values of `-p name:=value`).

use super::error::ParamError;
use super::remap::fully_qualified;
use ros2_client::ParameterValue;
use yaml_rust2::{Yaml, YamlLoader};

/// Parses a `-p` value the way ROS does: as a YAML scalar or flow sequence.
pub(crate) fn parse_value(text: &str) -> Result<ParameterValue, ParamError> {
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
pub(crate) fn node_key_matches(key: &str, namespace: &str, node: &str) -> bool {
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

/// Reads the parameters a ROS 2 parameter file gives this node, in file order.
/// Nested mappings under `ros__parameters` become dotted names.
pub(crate) fn params_from_yaml(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
