#!/usr/bin/env python3
"""One JSON summary of a benches/gpu/run.sh run: its steps, their outputs, device/CPU ratios.

usage: summarize.py WORK_DIR SUMMARY_JSON DEVICE BINARY START_EPOCH_S
Standard library only (the GPU machine has no network).
"""

import json
import os
import platform
import sys
import time


def read(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


def read_json(path):
    text = read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def last_json_line(text):
    """The last line of a step's stdout that parses as a JSON object (bench --json)."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return round(a / b, 3)
    return None


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    work, summary_path, device, binary, start = sys.argv[1:]
    steps = []
    for line in (read(os.path.join(work, "steps.tsv"), "") or "").splitlines():
        name, status, rc, wall, limit_or_why = (line.split("\t") + [""] * 5)[:5]
        s = {"name": name, "status": status}
        if status == "skipped":
            s["why"] = limit_or_why
        else:
            s.update(rc=int(rc), wall_s=float(wall), limit_s=int(limit_or_why))
            if status != "ok":
                err = read(os.path.join(work, "steps", name + ".err"), "") or ""
                s["stderr_tail"] = err.strip().splitlines()[-5:]
        steps.append(s)
    by_name = {s["name"]: s for s in steps}

    def out_of(name):
        if by_name.get(name, {}).get("status") != "ok":
            return None
        return last_json_line(read(os.path.join(work, "steps", name + ".out")))

    # Evaluation: ADE/FDE and time on the device and on the CPU.
    evals = {}
    for side in ("dev", "cpu"):
        rep = read_json(os.path.join(work, f"eval-{side}.json"))
        st = by_name.get(f"eval-{side}", {})
        if rep and rep.get("splits"):
            sp = rep["splits"][0]
            evals[side] = {
                "split": sp.get("split"),
                "windows": sp.get("windows"),
                "ade": sp.get("ade"),
                "fde": sp.get("fde"),
                "top1": sp.get("top1"),
                "wall_s": st.get("wall_s"),
            }
    if "dev" in evals and "cpu" in evals:
        evals["ade_diff"] = abs(evals["dev"]["ade"] - evals["cpu"]["ade"])
        evals["fde_diff"] = abs(evals["dev"]["fde"] - evals["cpu"]["fde"])
        evals["cpu_over_dev_time"] = ratio(evals["cpu"]["wall_s"], evals["dev"]["wall_s"])

    # Prediction throughput per size.
    predict = []
    names = [s["name"] for s in steps if s["name"].startswith("predict-")]
    sizes = sorted(
        {int(n.split("-")[2]) for n in names if n.split("-")[2].isdigit()}
    )
    for n in sizes:
        row = {"agents": n, "samples": 20}
        for side in ("dev", "cpu"):
            o = out_of(f"predict-{side}-{n}")
            if o and "predict" in o:
                p = o["predict"]
                row[side] = {
                    k: p.get(k)
                    for k in ("median_ms", "p90_ms", "agent_samples_per_s", "threads",
                              "scenes", "batches", "reps", "fast_path", "device_noise")
                }
        for variant in ("devnoise", "batch4096"):
            o = out_of(f"predict-dev-{n}-{variant}")
            if o and "predict" in o:
                p = o["predict"]
                row[f"dev_{variant}"] = {
                    k: p.get(k)
                    for k in ("median_ms", "agent_samples_per_s", "batches", "device_noise")
                }
        if "dev" in row and "cpu" in row:
            row["dev_over_cpu_throughput"] = ratio(
                row["dev"]["agent_samples_per_s"], row["cpu"]["agent_samples_per_s"]
            )
        predict.append(row)

    # Training steps.
    train_steps = []
    for s in steps:
        if s["name"].startswith("train-step-"):
            o = out_of(s["name"])
            if o and "train_step" in o:
                t = o["train_step"]
                train_steps.append(
                    {
                        "name": s["name"],
                        "device": (o.get("device") or {}).get("device"),
                        "batch": t.get("batch"),
                        "parts": t.get("parts"),
                        "threads": t.get("threads"),
                        "median_ms": t.get("median_ms"),
                        "p90_ms": t.get("p90_ms"),
                    }
                )

    dev_steps = [t["median_ms"] for t in train_steps if t["name"].startswith("train-step-dev-")]
    cpu_steps = [t for t in train_steps if t["name"] == "train-step-cpu-parts2"]
    # The CPU at the configs' batch_parts (2) over the device's faster setting.
    train_step_ratio = None
    if dev_steps and cpu_steps:
        train_step_ratio = ratio(cpu_steps[0]["median_ms"], min(dev_steps))

    # One ETH epoch: wall time and validation scores from the checkpoint's meta.json.
    epochs = {}
    for side, folder in (("dev", "train-eth"), ("cpu", "train-eth-cpu")):
        st = by_name.get(f"epoch-{side}")
        if not st or st.get("status") == "skipped":
            continue
        meta = read_json(os.path.join(work, folder, "meta.json")) or {}
        epochs[side] = {
            "status": st.get("status"),
            "wall_s": st.get("wall_s"),
            "train_seconds": meta.get("train_seconds"),
            "val_ade": meta.get("val_ade"),
            "val_fde": meta.get("val_fde"),
            "val_windows": meta.get("val_windows"),
        }
    if "dev" in epochs and "cpu" in epochs:
        epochs["cpu_over_dev_time"] = ratio(epochs["cpu"]["wall_s"], epochs["dev"]["wall_s"])

    probe = out_of("probe")
    summary = {
        "device": device,
        "dry_run": device == "cpu",
        "binary": binary,
        "version": (read(os.path.join(work, "version.txt"), "") or "").strip(),
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
        "device_report": (probe or {}).get("device"),
        "nvidia_smi": read(os.path.join(work, "nvidia-smi.txt")),
        "cuda_lib_dirs": [d for d in (read(os.path.join(work, "lib_dirs.txt"), "") or "").split(":") if d],
        "missing_libs": (read(os.path.join(work, "missing_libs.txt"), "") or "").split(),
        "wall_s": round(time.time() - float(start), 1),
        "steps": steps,
        "eval_eth": evals,
        "predict": predict,
        "train_step": train_steps,
        "train_step_cpu_parts2_over_dev_best": train_step_ratio,
        "epoch_eth": epochs,
        "probe": probe,
    }
    tmp = summary_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    os.replace(tmp, summary_path)
    failed = [s["name"] for s in steps if s["status"] in ("failed", "timeout")]
    if not steps:
        failed = ["(the binary did not start)"]
    print(f"summary: {len(steps)} steps, {len(failed)} failed or timed out {failed if failed else ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
