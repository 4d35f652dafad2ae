#!/usr/bin/env python3
"""rclpy (ROS 2 Jazzy) peer that uses the lbebm_msgs package built by ROS 2's own
generators (.ci/ros-tests builds ros/lbebm_msgs into the test venv).

Against a running lbebm_node (fed People by another peer) it checks:
  1. /predictions decoded with the generated lbebm_msgs/msg/PredictionArray: K samples of
     12 positions per person, weights decreasing and summing to 1, time_step 0.4, the
     header's frame and stamp (stamp = the newest agent's stamp);
  2. /diagnostics (diagnostic_msgs/DiagnosticArray): one status named after the node, with
     its key-values;
  3. run-time parameters: `num_samples` set through the standard SetParameters service
     changes K in the next PredictionArrays; out-of-range and start-only parameters are
     refused with a reason.
Prints a JSON summary; exit 0 when all of it worked.
"""
import argparse
import json
import sys
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lbebm_msgs.msg import PredictionArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def stamp(t):
    return t.sec + t.nanosec * 1e-9


def check_array(msg, k, frame):
    """Problems with one PredictionArray (empty list: fine)."""
    out = []
    if msg.header.frame_id != frame:
        out.append(f"frame {msg.header.frame_id!r}, expected {frame!r}")
    if msg.agents and abs(stamp(msg.header.stamp) - max(stamp(a.stamp) for a in msg.agents)) > 1e-6:
        out.append("header stamp is not the newest agent's stamp")
    for a in msg.agents:
        if len(a.samples) != k:
            out.append(f"{a.id}: {len(a.samples)} samples, expected {k}")
        if abs(a.time_step - 0.4) > 1e-9:
            out.append(f"{a.id}: time_step {a.time_step}")
        if any(len(s.positions) != 12 for s in a.samples):
            out.append(f"{a.id}: a sample without 12 positions")
        w = [s.weight for s in a.samples]
        if w and abs(sum(w) - 1.0) > 1e-3:
            out.append(f"{a.id}: weights sum to {sum(w)}")
        if any(x < y - 1e-6 for x, y in zip(w, w[1:])):
            out.append(f"{a.id}: weights not decreasing {w}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", default="/lbebm_node")
    ap.add_argument("--k", type=int, default=8, help="K the node starts with")
    ap.add_argument("--new-k", type=int, default=5, help="K to set at run time")
    ap.add_argument("--frame", default="map")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    rclpy.init()
    node = Node("lbebm_interop_msgs")
    qos = QoSProfile(
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
        history=HistoryPolicy.KEEP_LAST,
        depth=10,
    )
    arrays, diags = [], []
    node.create_subscription(PredictionArray, "/predictions", lambda m: arrays.append((time.time(), m)), qos)
    node.create_subscription(DiagnosticArray, "/diagnostics", diags.append, qos)
    out = {"problems": []}
    problems = out["problems"]
    t_end = time.time() + args.timeout

    def spin_until(cond):
        while time.time() < t_end and not cond():
            rclpy.spin_once(node, timeout_sec=0.05)
        return cond()

    def with_people(after=0.0):
        return [m for (t, m) in arrays if t > after and m.agents]

    # 1. predictions with the start K
    if not spin_until(lambda: len(with_people()) >= 3):
        problems.append(f"only {len(with_people())} PredictionArrays with people")
    for m in with_people()[:3]:
        problems += check_array(m, args.k, args.frame)
    out["arrays_before"] = len(with_people())

    # 2. diagnostics
    def reports_predictions(d):
        return any(kv.key == "scenes predicted" and kv.value.isdigit() and int(kv.value) >= 1
                   for s in d.status for kv in s.values)

    if not spin_until(lambda: any(d.status for d in diags)):
        problems.append("no DiagnosticArray on /diagnostics")
    else:
        # A status sent before the worker's first prediction rightly says 0 (on a loaded
        # machine the first PredictionArrays can overtake it): judge one sent after, and
        # the latest received if none comes before the timeout.
        spin_until(lambda: any(reports_predictions(d) for d in diags))
        st = [s for d in diags for s in d.status][-1]
        values = {kv.key: kv.value for kv in st.values}
        out["diagnostics"] = {"level": int.from_bytes(st.level, "little") if isinstance(st.level, bytes) else int(st.level),
                              "name": st.name, "message": st.message, "values": values}
        if args.node.lstrip("/") not in st.name:
            problems.append(f"diagnostic status named {st.name!r}")
        for key in ["inference p50 ms", "inference p99 ms", "scenes received", "scenes predicted",
                    "scenes dropped", "tracked people", "model", "model size bytes", "device"]:
            if key not in values:
                problems.append(f"diagnostics lack {key!r}")
        if values.get("device") != "cpu" or int(values.get("scenes predicted", "0")) < 1:
            problems.append(f"diagnostic values {values}")

    # 3. run-time parameters through the standard service
    cli = node.create_client(SetParameters, f"{args.node}/set_parameters")
    if not cli.wait_for_service(timeout_sec=max(0.1, t_end - time.time())):
        problems.append("set_parameters service not available")
    else:
        def set_param(name, value):
            v = ParameterValue()
            if isinstance(value, int):
                v.type, v.integer_value = ParameterType.PARAMETER_INTEGER, value
            else:
                v.type, v.string_value = ParameterType.PARAMETER_STRING, value
            fut = cli.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=v)]))
            if not spin_until(fut.done):
                problems.append(f"set {name}: no reply")
                return None
            return fut.result().results[0]

        r = set_param("num_samples", args.new_k)
        out["set_num_samples"] = r and {"successful": r.successful, "reason": r.reason}
        if r is None or not r.successful:
            problems.append(f"num_samples := {args.new_k} refused: {r and r.reason}")
        else:
            t_set = time.time()
            # scenes handed over before the reply may still come with the old K
            if not spin_until(lambda: len(with_people(t_set + 0.5)) >= 2):
                problems.append("no predictions after the change")
            for m in with_people(t_set + 0.5)[:2]:
                problems += check_array(m, args.new_k, args.frame)
        for name, value, why in [("num_samples", 0, "must be in 1..=1000"),
                                 ("model", "/elsewhere", "read at start only")]:
            r = set_param(name, value)
            out[f"refused_{name}"] = r and {"successful": r.successful, "reason": r.reason}
            if r is not None and (r.successful or why not in r.reason):
                problems.append(f"{name} := {value!r}: {r.successful} {r.reason!r}")
    out["ok"] = not problems
    print(json.dumps(out))
    node.destroy_node()
    rclpy.shutdown()
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
