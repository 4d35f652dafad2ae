#!/usr/bin/env python3
"""PyTorch eager reference of the LB-EBM network at the reference sizes, for side-by-side
timing against `lbebm bench`. Written for this project; not part of the test suite.

    python lbebm_ref.py --threads 2 [--agents 32] [--samples 20] [--batch 70] [--reps 30]

Prints one JSON object shaped like `lbebm bench --json`.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OBS, PRED, SUB = 8, 12, [2, 5, 8, 11]


def mlp(i, hidden, o):
    dims = [i, *hidden, o]
    layers = []
    for k in range(len(dims) - 1):
        layers.append(nn.Linear(dims[k], dims[k + 1]))
        if k + 2 < len(dims):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Lbebm(nn.Module):
    def __init__(self, fdim=16, zdim=16, nl_dim=128, rounds=3):
        super().__init__()
        self.fdim, self.zdim, self.rounds = fdim, zdim, rounds
        self.enc_past = mlp(OBS * 2, [512, 256], fdim)
        self.theta = mlp(fdim, [256, 128, 64], nl_dim)
        self.phi = mlp(fdim, [256, 128, 64], nl_dim)
        self.g = mlp(fdim, [256, 128, 64], fdim)
        self.enc_plan = mlp(len(SUB) * 2, [8, 16], fdim)
        self.enc_latent = mlp(2 * fdim, [8, 50], 2 * zdim)
        self.dec_plan = mlp(fdim + zdim, [1024, 512, 1024], len(SUB) * 2)
        self.dec_traj = mlp(2 * fdim, [1024, 512, 256], PRED * 2)
        self.ebm = nn.Sequential(nn.Linear(zdim + fdim, 200), nn.GELU(), nn.Linear(200, 200), nn.GELU(), nn.Linear(200, 1))
        self.s, self.sigma, self.steps = 0.4, 2.0, 20

    def encode(self, obs, mask):
        c = self.enc_past(obs)
        for _ in range(self.rounds):
            a = torch.softmax(self.theta(c) @ self.phi(c).t() + mask, dim=-1)
            c = c + a @ self.g(c)
        return c

    def energy(self, z, c):
        return self.ebm(torch.cat([z, c.detach()], 1)).squeeze(1)

    def langevin(self, z, c):
        z = z.detach()
        for _ in range(self.steps):
            z.requires_grad_(True)
            gz = torch.autograd.grad(self.energy(z, c).sum(), z)[0]
            z = (z - 0.5 * self.s ** 2 * (gz + z / self.sigma ** 2) + self.s * torch.randn_like(z)).detach()
        return z

    def decode(self, c, z):
        plan = self.dec_plan(torch.cat([c, z], 1))
        return plan, self.dec_traj(torch.cat([c, self.enc_plan(plan)], 1))

    def sample(self, obs, mask, k):
        with torch.no_grad():
            c = self.encode(obs, mask)
        ck = c.repeat_interleave(k, 0)
        z = self.langevin(torch.randn(ck.shape[0], self.zdim) * self.sigma, ck)
        with torch.no_grad():
            e = self.energy(z, ck)
            return self.decode(ck, z)[1], e

    def loss(self, obs, mask, fut):
        c = self.encode(obs, mask)
        z_neg = self.langevin(torch.randn(c.shape[0], self.zdim) * self.sigma, c)
        plan_gt = fut.view(-1, PRED, 2)[:, SUB].reshape(-1, len(SUB) * 2)
        lat = self.enc_latent(torch.cat([c, self.enc_plan(plan_gt)], 1))
        mu, logvar = lat[:, : self.zdim], lat[:, self.zdim:]
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        plan, pred = self.decode(c, z)
        kld = (0.5 * (logvar.exp() + mu ** 2 - logvar - 1).sum(1)).mean()
        cd = self.energy(z, c).mean() - self.energy(z_neg, c).mean()
        sub = F.mse_loss(plan, pred.view(-1, PRED, 2)[:, SUB].reshape(-1, len(SUB) * 2))
        return 2 * F.mse_loss(plan, plan_gt) + F.mse_loss(pred, fut) + 5 * kld + cd + sub


def scene(n_scenes, per):
    n = n_scenes * per
    obs = torch.randn(n, OBS * 2) * 30
    fut = torch.randn(n, PRED * 2) * 60
    mask = torch.full((n, n), -1e9)
    for s in range(n_scenes):
        mask[s * per:(s + 1) * per, s * per:(s + 1) * per] = 0
    return obs, mask, fut


def timed(fn, reps, warm=3):
    out = []
    for i in range(warm + reps):
        t0 = time.perf_counter()
        fn()
        if i >= warm:
            out.append((time.perf_counter() - t0) * 1e3)
    out.sort()
    q = lambda p: out[round((len(out) - 1) * p)]
    return q(0.5), q(0.9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--agents", type=int, default=32)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--batch", type=int, default=70)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-train", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Lbebm()
    obs, mask, _ = scene(1, a.agents)
    pm, p90 = timed(lambda: m.sample(obs, mask, a.samples), a.reps)
    rep = {"predict": {"agents": a.agents, "samples": a.samples, "threads": a.threads, "median_ms": pm, "p90_ms": p90}}
    if not a.no_train:
        opt = torch.optim.Adam(m.parameters(), lr=1e-4)
        per = min(7, a.batch)
        tobs, tmask, tfut = scene(a.batch // per, per)

        def step():
            opt.zero_grad()
            m.loss(tobs, tmask, tfut).backward()
            opt.step()

        tm, t90 = timed(step, a.reps)
        rep["train_step"] = {"batch": tobs.shape[0], "threads": a.threads, "median_ms": tm, "p90_ms": t90}
    print(json.dumps(rep))


if __name__ == "__main__":
    main()
