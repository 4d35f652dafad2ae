//! `People` messages → checked observations: non-finite numbers, empty or repeated
//! names, invalid stamps and oversized messages are counted and skipped or clipped.

use crate::msgs::People;
use std::collections::HashSet;

/// A `People` message after checking: stamp in seconds, frame, people in message order.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedPeople {
    /// Header stamp in seconds (the receive time if it was zero).
    pub stamp: f64,
    /// Header frame id (may be empty).
    pub frame: String,
    /// (name, position in `frame`)
    pub people: Vec<(String, [f64; 3])>,
    /// What was skipped.
    pub report: CheckReport,
}

/// What was wrong with a message (all counts of skipped people).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// People with a NaN or infinite position.
    pub non_finite: usize,
    /// People without a name (no track id).
    pub unnamed: usize,
    /// People whose name came earlier in the message.
    pub repeated_name: usize,
    /// People past `max_agents`, not even looked at.
    pub clipped: usize,
    /// The stamp was zero and replaced by the receive time.
    pub zero_stamp: bool,
}

/// A message that is skipped whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("invalid header stamp (nanosec {0} is not below one second)")]
    /// `nanosec` of the header stamp is one second or more.
    BadStamp(u32),
}

/// Checks a message. `max_agents` clips the people list; `now` (seconds, same clock as
/// the stamps) replaces a zero stamp.
pub fn check_people(
    msg: &People,
    max_agents: usize,
    now: f64,
) -> Result<CheckedPeople, MessageError> {
    let mut report = CheckReport::default();
    let stamp = msg
        .header
        .stamp
        .to_secs()
        .ok_or(MessageError::BadStamp(msg.header.stamp.nanosec))?;
    let stamp = if msg.header.stamp.sec == 0 && msg.header.stamp.nanosec == 0 {
        report.zero_stamp = true;
        now
    } else {
        stamp
    };
    let n = msg.people.len();
    if n > max_agents {
        report.clipped = n - max_agents;
    }
    let mut seen = HashSet::new();
    let mut people = Vec::with_capacity(n.min(max_agents));
    for p in msg.people.iter().take(max_agents) {
        let name = p.name.trim();
        if name.is_empty() {
            report.unnamed += 1;
            continue;
        }
        let pos = [p.position.x, p.position.y, p.position.z];
        if !pos.iter().all(|v| v.is_finite()) {
            report.non_finite += 1;
            continue;
        }
        if !seen.insert(name) {
            report.repeated_name += 1;
            continue;
        }
        people.push((name.to_string(), pos));
    }
    Ok(CheckedPeople {
        stamp,
        frame: crate::tf::normalize_frame(&msg.header.frame_id).to_string(),
        people,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Header, Person, Point, Time};

    fn person(name: &str, x: f64, y: f64) -> Person {
        Person {
            name: name.into(),
            position: Point { x, y, z: 0.0 },
            ..Default::default()
        }
    }

    fn people(sec: i32, nanosec: u32, ps: Vec<Person>) -> People {
        People {
            header: Header {
                stamp: Time { sec, nanosec },
                frame_id: "/map".into(),
            },
            people: ps,
        }
    }

    #[test]
    fn check_skips_and_clips_bad_people() {
        let m = people(
            10,
            500_000_000,
            vec![
                person("a", 1.0, 2.0),
                person("", 0.0, 0.0),
                person("b", f64::NAN, 0.0),
                person("c", f64::INFINITY, 0.0),
                person("a", 5.0, 5.0),
                person("d", 3.0, 4.0),
                person("e", 0.0, 0.0),
            ],
        );
        let c = check_people(&m, 6, 0.0).unwrap();
        assert_eq!(c.stamp, 10.5);
        assert_eq!(c.frame, "map");
        assert_eq!(
            c.people,
            vec![("a".into(), [1.0, 2.0, 0.0]), ("d".into(), [3.0, 4.0, 0.0])]
        );
        assert_eq!(
            c.report,
            CheckReport {
                non_finite: 2,
                unnamed: 1,
                repeated_name: 1,
                clipped: 1,
                zero_stamp: false
            }
        );
    }

    #[test]
    fn ten_thousand_people_are_clipped() {
        let ps = (0..10_000)
            .map(|i| person(&i.to_string(), i as f64, 0.0))
            .collect();
        let c = check_people(&people(1, 0, ps), 64, 0.0).unwrap();
        assert_eq!(c.people.len(), 64);
        assert_eq!(c.report.clipped, 10_000 - 64);
    }

    #[test]
    fn bad_and_zero_stamps() {
        assert_eq!(
            check_people(&people(1, 1_000_000_000, vec![]), 4, 0.0),
            Err(MessageError::BadStamp(1_000_000_000))
        );
        let c = check_people(&people(0, 0, vec![]), 4, 42.0).unwrap();
        assert_eq!(c.stamp, 42.0);
        assert!(c.report.zero_stamp);
        // an empty message is fine
        assert!(check_people(&people(3, 0, vec![]), 4, 0.0)
            .unwrap()
            .people
            .is_empty());
    }
}
