#!/usr/bin/env python3
"""rclpy (ROS 2 Jazzy, Fast DDS) peer for the lbebm_node interop tests.

Subscribes to visualization_msgs/MarkerArray on /prediction_markers, waits until the
node shows up in the ROS graph, reads one of its parameters through the standard
parameter service, and prints a JSON summary. Exit 0 when all of it worked.
"""
import argparse
import json
import sys
import time

import rclpy
from rcl_interfaces.srv import GetParameters, ListParameters
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy
from visualization_msgs.msg import Marker, MarkerArray


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", default="/lbebm_node")
    ap.add_argument("--param", default="num_samples")
    ap.add_argument("--expect", default="", help="expected value (as text)")
    ap.add_argument("--timeout", type=float, default=40.0)
    ap.add_argument("--min-arrays", type=int, default=3)
    args = ap.parse_args()

    rclpy.init()
    node = Node("lbebm_interop_rclpy")
    arrays = []
    qos = QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=10,
    )
    node.create_subscription(MarkerArray, "/prediction_markers", arrays.append, qos)
    ns, _, name = args.node.rpartition("/")
    ns = ns or "/"
    out = {"in_graph": False, "param": None, "param_list": None, "marker_arrays": 0, "problems": []}
    t_end = time.time() + args.timeout

    # 1. the node in the ROS graph
    while time.time() < t_end and not out["in_graph"]:
        rclpy.spin_once(node, timeout_sec=0.1)
        out["in_graph"] = (name, ns) in node.get_node_names_and_namespaces()
    if not out["in_graph"]:
        out["problems"].append(f"{args.node} not in the graph: {node.get_node_names_and_namespaces()}")

    # 2. a parameter through the parameter services
    def call(srv_type, srv, req):
        cli = node.create_client(srv_type, f"{args.node}/{srv}")
        if not cli.wait_for_service(timeout_sec=max(0.1, t_end - time.time())):
            out["problems"].append(f"service {args.node}/{srv} not available")
            return None
        fut = cli.call_async(req)
        while time.time() < t_end and not fut.done():
            rclpy.spin_once(node, timeout_sec=0.1)
        if not fut.done():
            out["problems"].append(f"service {args.node}/{srv}: no reply")
            return None
        return fut.result()

    res = call(GetParameters, "get_parameters", GetParameters.Request(names=[args.param]))
    if res is not None and res.values:
        v = res.values[0]
        # ParameterValue: type 1 bool, 2 integer, 3 double, 4 string
        val = {1: v.bool_value, 2: v.integer_value, 3: v.double_value, 4: v.string_value}.get(v.type)
        out["param"] = val
        if args.expect and str(val) != args.expect:
            out["problems"].append(f"{args.param} = {val!r}, expected {args.expect}")
    elif res is not None:
        out["problems"].append(f"{args.param}: empty reply")
    res = call(ListParameters, "list_parameters", ListParameters.Request())
    if res is not None:
        out["param_list"] = sorted(res.result.names)

    # 3. marker arrays with line strips
    while time.time() < t_end and len(arrays) < args.min_arrays:
        rclpy.spin_once(node, timeout_sec=0.1)
    out["marker_arrays"] = len(arrays)
    strips = [m for a in arrays for m in a.markers if m.type == Marker.LINE_STRIP]
    out["line_strips"] = len(strips)
    if len(arrays) < args.min_arrays:
        out["problems"].append(f"only {len(arrays)} MarkerArrays received")
    elif not strips:
        out["problems"].append("no LINE_STRIP markers")
    else:
        m = strips[-1]
        if m.header.frame_id != "map" or len(m.points) != 13 or m.action != Marker.ADD:
            out["problems"].append(
                f"unexpected marker: frame {m.header.frame_id} points {len(m.points)} action {m.action}"
            )
        if not any(a.markers and a.markers[0].action == Marker.DELETEALL for a in arrays):
            out["problems"].append("no DELETEALL marker")
    out["ok"] = not out["problems"]
    print(json.dumps(out))
    node.destroy_node()
    rclpy.shutdown()
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
