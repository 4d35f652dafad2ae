"""Starts lbebm_node (the LB-EBM pedestrian predictor) with configs/lbebm_node.yaml.

    ros2 launch launch/lbebm_node.launch.py
    ros2 launch launch/lbebm_node.launch.py people_topic:=/tracker/people fixed_frame:=odom

    ros2 launch lbebm_ros lbebm_node.launch.py      # after `colcon build` (installed copy)

lbebm_node is a plain Rust binary (ros2-client, no ROS build needed), started as a process.
`node_binary` defaults to, in this order: the colcon install's lib/lbebm_ros/lbebm_node
(when this file is the installed share/lbebm_ros/launch copy), `lbebm_node` on PATH, then
target/release/lbebm_node of this repository (`cargo build --release -p lbebm-ros`). The
parameters file is the installed share/lbebm_ros/config copy, else configs/ here.
"""
import os
import shutil

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# installed by colcon: <prefix>/share/lbebm_ros/launch/this file
SHARE = os.path.dirname(HERE)
PREFIX = os.path.dirname(os.path.dirname(SHARE))


def default_binary():
    installed = os.path.join(PREFIX, "lib", "lbebm_ros", "lbebm_node")
    if os.path.basename(SHARE) == "lbebm_ros" and os.path.exists(installed):
        return installed
    on_path = shutil.which("lbebm_node")
    if on_path:
        return on_path
    for profile in ("release", "debug"):
        p = os.path.join(REPO, "target", profile, "lbebm_node")
        if os.path.exists(p):
            return p
    return "lbebm_node"


def default_params():
    installed = os.path.join(SHARE, "config", "lbebm_node.yaml")
    if os.path.exists(installed):
        return installed
    return os.path.join(REPO, "configs", "lbebm_node.yaml")


def generate_launch_description():
    args = [
        DeclareLaunchArgument("node_binary", default_value=default_binary(),
                              description="path of the lbebm_node executable"),
        DeclareLaunchArgument("params_file", default_value=default_params(),
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
