"""Starts lbebm_node (the LB-EBM pedestrian predictor) with configs/lbebm_node.yaml.

    ros2 launch launch/lbebm_node.launch.py
    ros2 launch launch/lbebm_node.launch.py people_topic:=/tracker/people fixed_frame:=odom

lbebm_node is a plain Rust binary (ros2-client, no ROS build needed), so it is started as
a process rather than from an ament package: `node_binary` defaults to `lbebm_node` on
PATH, else target/release/lbebm_node of this repository (`cargo build --release -p lbebm-ros`).
"""
import os
import shutil

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def default_binary():
    on_path = shutil.which("lbebm_node")
    if on_path:
        return on_path
    for profile in ("release", "debug"):
        p = os.path.join(REPO, "target", profile, "lbebm_node")
        if os.path.exists(p):
            return p
    return "lbebm_node"


def generate_launch_description():
    args = [
        DeclareLaunchArgument("node_binary", default_value=default_binary(),
                              description="path of the lbebm_node executable"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(REPO, "configs", "lbebm_node.yaml"),
                              description="ROS 2 parameters file"),
        DeclareLaunchArgument("people_topic", default_value="/people",
                              description="people_msgs/People input"),
        DeclareLaunchArgument("predictions_topic", default_value="/predictions"),
        DeclareLaunchArgument("markers_topic", default_value="/prediction_markers"),
        DeclareLaunchArgument("fixed_frame", default_value="map"),
        DeclareLaunchArgument("num_samples", default_value="20"),
        DeclareLaunchArgument("node_name", default_value="lbebm_node"),
    ]
    lc = LaunchConfiguration
    node = ExecuteProcess(
        cmd=[
            lc("node_binary"), "--ros-args",
            "-r", ["__node:=", lc("node_name")],
            "--params-file", lc("params_file"),
            "-p", ["fixed_frame:=", lc("fixed_frame")],
            "-p", ["num_samples:=", lc("num_samples")],
            "-r", ["people:=", lc("people_topic")],
            "-r", ["predictions:=", lc("predictions_topic")],
            "-r", ["prediction_markers:=", lc("markers_topic")],
        ],
        output="screen",
        # SIGINT first; the node exits within a second
        sigterm_timeout="5",
    )
    return LaunchDescription(args + [node])
