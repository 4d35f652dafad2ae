//! Rust mirrors of the ROS 2 (Jazzy) messages the node reads and writes.
//!
//! On the wire a ROS 2 message is CDR with its fields in exactly the order of its
//! `.msg` file, so every struct here lists its fields in that order: reordering a
//! field breaks interoperability silently. `lbebm_msgs` mirrors the `.msg` files in
//! `ros/lbebm_msgs/msg/` of this repository.
//!
//! Each type names its message; the fields are that message's fields (documented in its
//! `.msg` file), so they carry no doc comments of their own.
#![allow(missing_docs)]

use serde::{Deserialize, Serialize};

/// `builtin_interfaces/Time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

impl Time {
    /// Seconds as f64, or `None` for a stamp that is not a valid ROS time
    /// (`nanosec` must stay below one second).
    pub fn to_secs(self) -> Option<f64> {
        if self.nanosec >= 1_000_000_000 {
            return None;
        }
        Some(self.sec as f64 + self.nanosec as f64 * 1e-9)
    }

    /// The nearest representable time (clamped to the `i32` seconds range).
    pub fn from_secs(t: f64) -> Time {
        if !t.is_finite() {
            return Time::default();
        }
        let t = t.clamp(i32::MIN as f64, i32::MAX as f64);
        let mut sec = t.floor();
        let mut ns = ((t - sec) * 1e9).round();
        if ns >= 1e9 {
            sec += 1.0;
            ns -= 1e9;
        }
        Time {
            sec: sec as i32,
            nanosec: ns as u32,
        }
    }
}

/// `builtin_interfaces/Duration`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub sec: i32,
    pub nanosec: u32,
}

impl Duration {
    pub fn from_secs(t: f64) -> Duration {
        let t = Time::from_secs(t.max(0.0));
        Duration {
            sec: t.sec,
            nanosec: t.nanosec,
        }
    }
}

/// `std_msgs/Header`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub stamp: Time,
    pub frame_id: String,
}

/// `std_msgs/ColorRGBA`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ColorRgba {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

/// `geometry_msgs/Point`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/Vector3`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Vector3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/Quaternion` (the identity has `w = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Quaternion {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        }
    }
}

/// `geometry_msgs/Pose`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub position: Point,
    pub orientation: Quaternion,
}

/// `geometry_msgs/Transform`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    pub translation: Vector3,
    pub rotation: Quaternion,
}

/// `geometry_msgs/TransformStamped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransformStamped {
    pub header: Header,
    pub child_frame_id: String,
    pub transform: Transform,
}

/// `tf2_msgs/TFMessage` (topics `/tf` and `/tf_static`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TfMessage {
    pub transforms: Vec<TransformStamped>,
}

/// `people_msgs/Person`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub position: Point,
    pub velocity: Point,
    pub reliability: f64,
    pub tagnames: Vec<String>,
    pub tags: Vec<String>,
}

/// `people_msgs/People`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct People {
    pub header: Header,
    pub people: Vec<Person>,
}

/// `sensor_msgs/CompressedImage` (only inside a Jazzy `Marker`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressedImage {
    pub header: Header,
    pub format: String,
    pub data: Vec<u8>,
}

/// `visualization_msgs/UVCoordinate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UvCoordinate {
    pub u: f32,
    pub v: f32,
}

/// `visualization_msgs/MeshFile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeshFile {
    pub filename: String,
    pub data: Vec<u8>,
}

/// `visualization_msgs/Marker`, Jazzy layout (with the texture and mesh fields that
/// older distributions lack).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub header: Header,
    pub ns: String,
    pub id: i32,
    pub type_: i32,
    pub action: i32,
    pub pose: Pose,
    pub scale: Vector3,
    pub color: ColorRgba,
    pub lifetime: Duration,
    pub frame_locked: bool,
    pub points: Vec<Point>,
    pub colors: Vec<ColorRgba>,
    pub texture_resource: String,
    pub texture: CompressedImage,
    pub uv_coordinates: Vec<UvCoordinate>,
    pub text: String,
    pub mesh_resource: String,
    pub mesh_file: MeshFile,
    pub mesh_use_embedded_materials: bool,
}

impl Marker {
    pub const SPHERE: i32 = 2;
    pub const LINE_STRIP: i32 = 4;
    pub const ADD: i32 = 0;
    pub const DELETE: i32 = 2;
    pub const DELETEALL: i32 = 3;
}

/// `visualization_msgs/MarkerArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MarkerArray {
    pub markers: Vec<Marker>,
}

/// `lbebm_msgs/TrajectorySample`: one sampled future.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrajectorySample {
    pub positions: Vec<Point>,
    pub energy: f32,
    pub weight: f32,
}

/// `lbebm_msgs/AgentPrediction`: the K futures of one tracked person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentPrediction {
    pub id: String,
    pub stamp: Time,
    pub position: Point,
    pub time_step: f64,
    pub observed_steps: u32,
    pub samples: Vec<TrajectorySample>,
}

/// `lbebm_msgs/PredictionArray`: every prediction made from one scene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PredictionArray {
    pub header: Header,
    pub agents: Vec<AgentPrediction>,
}

/// `diagnostic_msgs/KeyValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `diagnostic_msgs/DiagnosticStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiagnosticStatus {
    pub level: u8,
    pub name: String,
    pub message: String,
    pub hardware_id: String,
    pub values: Vec<KeyValue>,
}

impl DiagnosticStatus {
    pub const OK: u8 = 0;
    pub const WARN: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const STALE: u8 = 3;
}

/// `diagnostic_msgs/DiagnosticArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticArray {
    pub header: Header,
    pub status: Vec<DiagnosticStatus>,
}

macro_rules! ros_message {
    ($($t:ty),* $(,)?) => {
        $(impl ros2_client::Message for $t {})*
    };
}

ros_message!(
    Time,
    Duration,
    Header,
    ColorRgba,
    Point,
    Vector3,
    Quaternion,
    Pose,
    Transform,
    TransformStamped,
    TfMessage,
    Person,
    People,
    CompressedImage,
    UvCoordinate,
    MeshFile,
    Marker,
    MarkerArray,
    TrajectorySample,
    AgentPrediction,
    PredictionArray,
    KeyValue,
    DiagnosticStatus,
    DiagnosticArray,
);
