//! Node settings: the DDS domain id and the QoS profiles of the topic table.

use crate::topics::Topic;
use crate::NodeError;
use ros2_client::qos::{Durability, History, QosProfile, WhenFull};

/// Parses `ROS_DOMAIN_ID` (unset or empty: 0).
pub(crate) fn parse_domain_id(v: Option<&str>) -> Result<u16, NodeError> {
    match v.map(str::trim) {
        None | Some("") => Ok(0),
        Some(s) => s
            .parse::<u16>()
            .ok()
            .filter(|d| *d <= 232)
            .ok_or_else(|| NodeError::DomainId(s.to_string())),
    }
}

/// The QoS of ROS 2's defaults: reliable, keep-last `depth`, volatile.
pub(crate) fn ros_default_qos(depth: usize) -> QosProfile {
    QosProfile::publisher_default()
        .reliability_reliable(WhenFull::DEFAULT)
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth })
}

/// The QoS of a topic of the table: [`ros_default_qos`] with its depth, transient-local
/// where the table says so.
pub(crate) fn topic_qos(t: &Topic) -> QosProfile {
    let q = ros_default_qos(t.depth);
    if t.transient_local {
        q.durability(Durability::TransientLocal)
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_ids() {
        assert_eq!(parse_domain_id(None).unwrap(), 0);
        assert_eq!(parse_domain_id(Some("")).unwrap(), 0);
        assert_eq!(parse_domain_id(Some(" 42 ")).unwrap(), 42);
        assert!(parse_domain_id(Some("233")).is_err());
        assert!(parse_domain_id(Some("x")).is_err());
    }

    #[test]
    fn qos_is_reliable_keep_last_volatile() {
        let q = ros_default_qos(10);
        assert!(matches!(
            q.reliability,
            ros2_client::qos::Reliability::Reliable { .. }
        ));
        assert_eq!(q.history, History::KeepLast { depth: 10 });
        assert_eq!(q.durability, Durability::Volatile);
    }
}
