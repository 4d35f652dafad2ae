#!/usr/bin/env python3
"""Writes crossing.csv: a synthetic plaza scene made for this project (no recorded data).

Six pedestrians over 6 s sampled at 10 Hz (so `lbebm predict` resamples to 0.4 s):
two walking towards each other, a pair walking side by side, one turning a corner,
one slowing down, and one who appears late (a short history).
"""
import math

def walker(pid, x0, y0, vx, vy, t0=0.0, t1=6.0, turn=0.0, decel=0.0):
    rows, x, y, t = [], x0, y0, t0
    while t <= t1 + 1e-9:
        rows.append((round(t, 2), pid, round(x, 3), round(y, 3)))
        c, s = math.cos(turn * 0.1), math.sin(turn * 0.1)
        vx, vy = c * vx - s * vy, s * vx + c * vy
        k = max(0.0, 1.0 - decel * 0.1)
        vx, vy = vx * k, vy * k
        x, y, t = x + vx * 0.1, y + vy * 0.1, t + 0.1
    return rows

rows = []
rows += walker("anna", -6.0, 0.2, 1.3, 0.0)
rows += walker("ben", 6.5, -0.3, -1.2, 0.05)
rows += walker("chloe", -5.0, 3.0, 1.1, -0.1)
rows += walker("dev", -5.0, 3.6, 1.1, -0.1)
rows += walker("emil", 1.0, -6.0, 0.0, 1.2, turn=0.25)
rows += walker("fay", 3.0, 4.0, -0.9, -0.6, decel=0.08)
rows += walker("gus", -2.0, -4.0, 0.8, 0.8, t0=5.4)
rows.sort(key=lambda r: (r[0], r[1]))
with open("crossing.csv", "w") as f:
    f.write("t,id,x,y\n")
    for t, pid, x, y in rows:
        f.write(f"{t:.1f},{pid},{x},{y}\n")
