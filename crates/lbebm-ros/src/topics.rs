//! The node's topics, named once: the name it uses before remapping, the message
//! package and type, the direction and the QoS history depth and durability. The node,
//! `--check` and `--help` all read this table.

/// Whether the node reads or writes a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The node subscribes.
    In,
    /// The node publishes.
    Out,
}

/// One topic of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic {
    /// The name before remapping: relative (under the node's namespace) or absolute.
    pub name: &'static str,
    /// The message package, e.g. `people_msgs`.
    pub package: &'static str,
    /// The message type in that package, e.g. `People`.
    pub type_name: &'static str,
    /// Subscribed or published.
    pub direction: Direction,
    /// QoS keep-last depth (reliable everywhere).
    pub depth: usize,
    /// QoS transient-local durability (latched, as `/tf_static`); else volatile.
    pub transient_local: bool,
}

impl Topic {
    /// `package/msg/Type`, as `ros2 topic info` writes it.
    pub fn message_type(&self) -> String {
        format!("{}/msg/{}", self.package, self.type_name)
    }
}

/// Tracked people in: `people_msgs/People` (`Person.name` is the track id).
pub const PEOPLE: Topic = Topic {
    name: "people",
    package: "people_msgs",
    type_name: "People",
    direction: Direction::In,
    depth: 10,
    transient_local: false,
};

/// Transforms in.
pub const TF: Topic = Topic {
    name: "/tf",
    package: "tf2_msgs",
    type_name: "TFMessage",
    direction: Direction::In,
    depth: 100,
    transient_local: false,
};

/// Static transforms in (transient-local).
pub const TF_STATIC: Topic = Topic {
    name: "/tf_static",
    package: "tf2_msgs",
    type_name: "TFMessage",
    direction: Direction::In,
    depth: 100,
    transient_local: true,
};

/// Predictions out: `lbebm_msgs/PredictionArray`.
pub const PREDICTIONS: Topic = Topic {
    name: "predictions",
    package: "lbebm_msgs",
    type_name: "PredictionArray",
    direction: Direction::Out,
    depth: 10,
    transient_local: false,
};

/// RViz markers out: `visualization_msgs/MarkerArray`.
pub const PREDICTION_MARKERS: Topic = Topic {
    name: "prediction_markers",
    package: "visualization_msgs",
    type_name: "MarkerArray",
    direction: Direction::Out,
    depth: 10,
    transient_local: false,
};

/// The node's health at 1 Hz: `diagnostic_msgs/DiagnosticArray` (absolute, as ROS 2's
/// diagnostic aggregator expects).
pub const DIAGNOSTICS: Topic = Topic {
    name: "/diagnostics",
    package: "diagnostic_msgs",
    type_name: "DiagnosticArray",
    direction: Direction::Out,
    depth: 10,
    transient_local: false,
};

/// Every topic of the node: inputs first, then outputs.
pub const ALL: [Topic; 6] = [
    PEOPLE,
    TF,
    TF_STATIC,
    PREDICTIONS,
    PREDICTION_MARKERS,
    DIAGNOSTICS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_inputs_come_first() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(!(a.direction == Direction::Out && b.direction == Direction::In));
            }
        }
        assert_eq!(PEOPLE.message_type(), "people_msgs/msg/People");
    }
}
