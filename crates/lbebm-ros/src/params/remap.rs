//! Names: fully qualified node names and topic remapping (`-r from:=to`).

/// `/ns/node` from a namespace (`/`, `/ns`, `ns` or `/ns/`) and a node name.
pub fn fully_qualified(namespace: &str, node: &str) -> String {
    let ns = namespace.trim_end_matches('/');
    let ns = if ns.is_empty() || ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("/{ns}")
    };
    format!("{ns}/{node}")
}

/// Topic remapping rules (`-r from:=to`), applied to fully qualified names.
#[derive(Debug, Clone, PartialEq)]
pub struct Remaps {
    /// `(from, to)` in command-line order; `node:from` applies to that node only.
    pub(crate) rules: Vec<(String, String)>,
    /// The node's namespace (`/` or `/ns`).
    pub(crate) namespace: String,
    /// The node's name.
    pub(crate) node: String,
}

impl Remaps {
    /// Expands a topic name: absolute stays, `~/x` is under the node, relative is under
    /// the namespace.
    pub(crate) fn expand(&self, name: &str) -> String {
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
