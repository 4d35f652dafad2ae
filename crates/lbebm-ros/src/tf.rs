//! A minimal transform buffer: the latest transform of every frame from `/tf` and
//! `/tf_static`, and look-ups between any two frames of one tree.

use crate::msgs::TransformStamped;
use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};
use std::collections::HashMap;

/// Frame ids as tf2 compares them (without a leading slash).
pub fn normalize_frame(f: &str) -> &str {
    f.trim().trim_start_matches('/')
}

/// A transform that cannot be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TfError {
    #[error("transform with an empty frame id")]
    /// A frame id is empty.
    EmptyFrame,
    #[error("transform from frame {0:?} to itself")]
    /// Parent and child are the same frame.
    SelfLoop(String),
    #[error("transform {parent} -> {child} has non-finite numbers")]
    /// A translation or rotation is NaN or infinite.
    NonFinite {
        /// The parent frame.
        parent: String,
        /// The child frame.
        child: String,
    },
    #[error("transform {parent} -> {child} has a zero quaternion")]
    /// The rotation is the zero quaternion.
    ZeroQuaternion {
        /// The parent frame.
        parent: String,
        /// The child frame.
        child: String,
    },
}

#[derive(Debug, Clone)]
struct Edge {
    parent: String,
    /// Maps points in the child frame into the parent frame.
    parent_from_child: Isometry3<f64>,
}

/// The latest transform of every child frame.
#[derive(Debug, Clone, Default)]
pub struct TfBuffer {
    edges: HashMap<String, Edge>,
}

/// Longest chain of frames followed before giving up (guards against cycles).
const MAX_DEPTH: usize = 64;

impl TfBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Child frames with a transform.
    pub fn len(&self) -> usize {
        self.edges.len()
    }

    /// No transform stored yet.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Stores one transform (replacing the frame's previous parent and transform).
    pub fn insert(&mut self, t: &TransformStamped) -> Result<(), TfError> {
        let parent = normalize_frame(&t.header.frame_id);
        let child = normalize_frame(&t.child_frame_id);
        if parent.is_empty() || child.is_empty() {
            return Err(TfError::EmptyFrame);
        }
        if parent == child {
            return Err(TfError::SelfLoop(child.to_string()));
        }
        let tr = &t.transform.translation;
        let r = &t.transform.rotation;
        let names = || (parent.to_string(), child.to_string());
        if ![tr.x, tr.y, tr.z, r.x, r.y, r.z, r.w]
            .iter()
            .all(|v| v.is_finite())
        {
            let (parent, child) = names();
            return Err(TfError::NonFinite { parent, child });
        }
        let q = Quaternion::new(r.w, r.x, r.y, r.z);
        if q.norm() < 1e-9 {
            let (parent, child) = names();
            return Err(TfError::ZeroQuaternion { parent, child });
        }
        let iso = Isometry3::from_parts(
            Translation3::new(tr.x, tr.y, tr.z),
            UnitQuaternion::from_quaternion(q),
        );
        self.edges.insert(
            child.to_string(),
            Edge {
                parent: parent.to_string(),
                parent_from_child: iso,
            },
        );
        Ok(())
    }

    /// `root_from_frame` and the root's name (None on a cycle).
    fn to_root(&self, frame: &str) -> Option<(String, Isometry3<f64>)> {
        let mut acc = Isometry3::identity();
        let mut cur = frame.to_string();
        for _ in 0..MAX_DEPTH {
            match self.edges.get(&cur) {
                None => return Some((cur, acc)),
                Some(e) => {
                    acc = e.parent_from_child * acc;
                    cur = e.parent.clone();
                }
            }
        }
        None
    }

    /// The transform that maps points in `source` into `target` (`target_from_source`),
    /// if both frames are in one tree.
    pub fn lookup(&self, target: &str, source: &str) -> Option<Isometry3<f64>> {
        let (target, source) = (normalize_frame(target), normalize_frame(source));
        if target == source {
            return Some(Isometry3::identity());
        }
        let (rs, root_from_source) = self.to_root(source)?;
        let (rt, root_from_target) = self.to_root(target)?;
        if rs != rt {
            return None;
        }
        Some(root_from_target.inverse() * root_from_source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msgs::{Header, Quaternion as Q, Transform, Vector3};
    use nalgebra::Point3;

    fn tf(parent: &str, child: &str, x: f64, y: f64, yaw: f64) -> TransformStamped {
        TransformStamped {
            header: Header {
                frame_id: parent.into(),
                ..Default::default()
            },
            child_frame_id: child.into(),
            transform: Transform {
                translation: Vector3 { x, y, z: 0.0 },
                rotation: Q {
                    x: 0.0,
                    y: 0.0,
                    z: (yaw / 2.0).sin(),
                    w: (yaw / 2.0).cos(),
                },
            },
        }
    }

    fn close(a: Point3<f64>, b: [f64; 2]) -> bool {
        (a.x - b[0]).abs() < 1e-9 && (a.y - b[1]).abs() < 1e-9
    }

    #[test]
    fn chains_compose_and_invert() {
        let mut b = TfBuffer::new();
        // map -> odom: shifted by (10, 0); odom -> base_link: at (1, 2) turned 90°;
        // base_link -> laser: 0.5 m forward (static).
        b.insert(&tf("map", "odom", 10.0, 0.0, 0.0)).unwrap();
        b.insert(&tf(
            "odom",
            "base_link",
            1.0,
            2.0,
            std::f64::consts::FRAC_PI_2,
        ))
        .unwrap();
        b.insert(&tf("/base_link", "laser", 0.5, 0.0, 0.0)).unwrap();
        // a person 1 m ahead of the laser: 1.5 m ahead of the robot, which faces +y in odom
        let m = b.lookup("map", "laser").unwrap();
        assert!(close(m * Point3::new(1.0, 0.0, 0.0), [11.0, 3.5]));
        // and back
        let l = b.lookup("laser", "map").unwrap();
        assert!(close(l * Point3::new(11.0, 3.5, 0.0), [1.0, 0.0]));
        // between two branches of the tree
        b.insert(&tf("map", "camera", 0.0, 0.0, 0.0)).unwrap();
        let c = b.lookup("camera", "laser").unwrap();
        assert!(close(c * Point3::new(1.0, 0.0, 0.0), [11.0, 3.5]));
        assert!(b.lookup("map", "map").is_some());
    }

    #[test]
    fn latest_transform_wins() {
        let mut b = TfBuffer::new();
        b.insert(&tf("map", "odom", 1.0, 0.0, 0.0)).unwrap();
        b.insert(&tf("map", "odom", 2.0, 0.0, 0.0)).unwrap();
        let m = b.lookup("map", "odom").unwrap();
        assert!(close(m * Point3::origin(), [2.0, 0.0]));
    }

    #[test]
    fn unknown_frames_and_separate_trees_give_none() {
        let mut b = TfBuffer::new();
        b.insert(&tf("map", "odom", 1.0, 0.0, 0.0)).unwrap();
        b.insert(&tf("world", "other", 1.0, 0.0, 0.0)).unwrap();
        assert!(b.lookup("map", "base_link").is_none());
        assert!(b.lookup("map", "other").is_none());
    }

    #[test]
    fn cycles_do_not_hang() {
        let mut b = TfBuffer::new();
        b.insert(&tf("a", "b", 1.0, 0.0, 0.0)).unwrap();
        b.insert(&tf("b", "a", 1.0, 0.0, 0.0)).unwrap();
        assert!(b.lookup("map", "a").is_none());
    }

    #[test]
    fn bad_transforms_are_refused() {
        let mut b = TfBuffer::new();
        assert_eq!(
            b.insert(&tf("", "x", 0.0, 0.0, 0.0)),
            Err(TfError::EmptyFrame)
        );
        assert!(matches!(
            b.insert(&tf("x", "/x", 0.0, 0.0, 0.0)),
            Err(TfError::SelfLoop(_))
        ));
        assert!(matches!(
            b.insert(&tf("m", "x", f64::NAN, 0.0, 0.0)),
            Err(TfError::NonFinite { .. })
        ));
        let mut z = tf("m", "x", 0.0, 0.0, 0.0);
        z.transform.rotation.w = 0.0;
        assert!(matches!(b.insert(&z), Err(TfError::ZeroQuaternion { .. })));
        assert!(b.is_empty());
    }
}
