"""Is scenenb's `GQN` torch-gqn's network? Same weights, same noise, same images: compare every output.

torch-gqn (iShohei220/torch-gqn, an extracted checkout given as `--torch-gqn PATH`, run from its own source) builds
`GQN(representation, L, shared_core)` with PyTorch's initialisation. Its state is saved as its `train.py` saves
checkpoints (`model-<step>.pt`, `state_dict()`) and loaded with `scenenb.models.gqn.load_torch_gqn`, which reads σ
from the file name along the paper's anneal. Both then run on the same random scenes (64×64, `--context` views, poses
N(0, 1)) with the same standard-normal draws: torch-gqn's `Normal.rsample` / `.sample` are replaced by a class that
hands out prepared draws in order (one (B, z, 16, 16) draw per step), ours gets them as `noise`; for `generate` ours
draws its own noise after `torch.manual_seed`, and torch-gqn gets the same tensor.

Compared: the ELBO per scene (torch-gqn's `forward`), the KL (`kl_divergence`), the posterior reconstruction
(`reconstruct`), the rendering from the prior (`generate`), and the gradient of the training loss (−mean ELBO, as its
`train.py`) with respect to the five inputs and to every parameter. Parameter gradients are compared through the
same port as the weights (a rearrangement, so the gradients rearrange the same way), except the query-image columns of
the inference cores' gates: those are torch-gqn's per-step downsampling composed with its gate weights (see nbs/62,
"Loading a torch-gqn checkpoint"), a product, whose gradient is not a rearrangement of torch-gqn's; the query image's
own gradient checks that path instead.

`--way-back` starts from our model instead (`vector_upsample="learned"`, `query_downsample="conv"`, PyTorch's
initialisation), writes it with `torch_gqn_state_dict`, loads that strictly into torch-gqn's model and compares the same
outputs and input gradients (parameter gradients are not compared that way).

`--check` exits with an error unless every output agrees to a relative 1e-4 and the gradients to a relative 1e-4.

usage: python benchmarks/gqn_parity.py [--torch-gqn .refs/torch_gqn] [--representation pool|tower|pyramid]
       [--steps 12] [--shared] [--batch 2] [--context 5] [--step 100000] [--way-back] [--check]
"""
import argparse
import os
import sys
import tempfile
import time

import torch


from parity import Draws, rel  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torch-gqn", default=".refs/torch_gqn")
    p.add_argument("--representation", default="tower", choices=("pool", "tower", "pyramid"))
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--shared", action="store_true")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--context", type=int, default=5)
    p.add_argument("--step", type=int, default=100_000, help="training step in the checkpoint's name (sets σ)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--way-back", action="store_true", help="start from our model (learned upsampling, conv downsampling) and "
                   "load torch_gqn_state_dict of it into torch-gqn")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    sys.path.insert(0, os.path.abspath(a.torch_gqn))
    import model as torch_gqn                                   # torch-gqn's model.py
    from scenenb.models.gqn import (GQN, GQNConfig, count_parameters, load_torch_gqn, pixel_sigma, port_torch_gqn_state,
                                    torch_gqn_state_dict)

    class DrawnNormal(torch.distributions.Normal):
        "torch-gqn's Normal, with its samples taken from `DrawnNormal.draws`."
        draws = None
        def rsample(self, sample_shape=torch.Size()): return self.loc + self.scale * DrawnNormal.draws.take(self.loc.shape)
        def sample(self, sample_shape=torch.Size()):
            with torch.no_grad(): return self.rsample()
    torch_gqn.Normal = DrawnNormal

    t0 = time.time()
    torch.manual_seed(0)
    if a.way_back:                                              # ours -> torch_gqn_state_dict -> torch-gqn, loaded strictly
        ours = GQN(GQNConfig(representation=a.representation, steps=a.steps, shared_cores=a.shared, vector_upsample="learned"))
        ours.sigma = pixel_sigma(ours.config, a.step)
        theirs = torch_gqn.GQN(representation=a.representation, L=a.steps, shared_core=a.shared)
        theirs.load_state_dict(torch_gqn_state_dict(ours), strict=True)
    else:
        theirs = torch_gqn.GQN(representation=a.representation, L=a.steps, shared_core=a.shared)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"model-{a.step}.pt")
            torch.save(theirs.state_dict(), path)
            ours = load_torch_gqn(path, None if a.representation == "pyramid" else a.representation, steps=a.steps if a.shared else None)
    ours.train()
    sigma = ours.sigma
    B, M, L = a.batch, a.context, a.steps
    g = torch.Generator().manual_seed(1)
    ctx, cp = torch.rand(B, M, 3, 64, 64, generator=g), torch.randn(B, M, 7, generator=g)
    qp, qi = torch.randn(B, 7, generator=g), torch.rand(B, 3, 64, 64, generator=g)
    noise = torch.randn(L, B, 3, 16, 16, generator=g)
    print(f"{'ours -> torch-gqn (the way back)' if a.way_back else 'torch-gqn -> ours'}: {a.representation}, L {L}, {'shared' if a.shared else 'unshared'} cores, batch {B}, {M} context views, "
          f"64x64, sigma {sigma:.4f} (step {a.step}); parameters: torch-gqn {count_parameters(theirs):,}, ours {count_parameters(ours):,}")

    inputs_t = [t.clone().requires_grad_() for t in (ctx, cp, qp, qi)]
    inputs_o = [t.clone().requires_grad_() for t in (ctx, cp, qp, qi)]
    DrawnNormal.draws = Draws(noise)
    elbo_t = theirs(inputs_t[0], inputs_t[1], inputs_t[2], inputs_t[3], sigma)
    out = ours(*inputs_o, noise=noise)
    elbo_o = -(out.nll + out.kl)
    (-elbo_t.mean()).backward(); (-elbo_o.mean()).backward()
    with torch.no_grad():
        DrawnNormal.draws = Draws(noise); kl_t = theirs.kl_divergence(ctx, cp, qp, qi)
        DrawnNormal.draws = Draws(noise); recon_t = theirs.reconstruct(ctx, cp, qp, qi)
        torch.manual_seed(7); render_o = ours.generate(ctx, cp, qp)[:, 0]
        torch.manual_seed(7); prior_noise = torch.empty(L, B, 3, 16, 16).normal_()
        DrawnNormal.draws = Draws(prior_noise); render_t = theirs.generate(ctx, cp, qp)
    used = DrawnNormal.draws.used
    rows = {"ELBO per scene": rel(elbo_o, elbo_t), "KL per scene": rel(out.kl, kl_t),
            "posterior reconstruction": rel(out.recon.clamp(0, 1), recon_t), "rendering from the prior": rel(render_o, render_t)}
    print(f"ELBO (nats): torch-gqn {[round(float(x), 3) for x in elbo_t.detach()]}, ours {[round(float(x), 3) for x in elbo_o.detach()]}; "
          f"KL: torch-gqn {[round(float(x), 4) for x in kl_t]}, ours {[round(float(x), 4) for x in out.kl.detach()]}")
    for name, r in rows.items(): print(f"  {name}: relative difference {r:.2e}")
    for name, ti, oi in zip(("context images", "context poses", "query pose", "query image"), inputs_t, inputs_o):
        rows[f"gradient wrt {name}"] = rel(oi.grad, ti.grad)
        print(f"  gradient wrt {name}: relative difference {rows[f'gradient wrt {name}']:.2e}")

    grad_rel = 0.0
    if a.way_back: print("  parameter gradients: not compared on the way back (the inputs' gradients are)")
    else:
        grads_t = {n: (q.grad if q.grad is not None else torch.zeros_like(q)) for n, q in theirs.named_parameters()}
        expected, diff2, ref2, per = port_torch_gqn_state(grads_t, ours.config), 0.0, 0.0, []
        for n, q in ours.named_parameters():
            got, want = (q.grad if q.grad is not None else torch.zeros_like(q)), expected[n]
            if n == "generator.inference_static.spatial_weight":   # its first 16·C columns are the composed query-image weights
                x_columns = 16 * ours.config.image_channels
                got, want = got[:, x_columns:], want[:, x_columns:]
                if not got.numel(): continue
            d, w = float((got - want).double().norm()), float(want.double().norm())
            diff2, ref2 = diff2 + d * d, ref2 + w * w
            per.append((d / max(w, 1e-30), w, n))
        grad_rel = (diff2 ** 0.5) / max(ref2 ** 0.5, 1e-30)
        print(f"  parameter gradients: |Δ| / |g| over all compared parameters {grad_rel:.2e}; worst tensors (relative |Δ|, |g|): "
              + "; ".join(f"{n} {r:.1e}, {w:.1e}" for r, w, n in sorted(per, reverse=True)[:3]))
    worst_out = max(v for k, v in rows.items() if not k.startswith("gradient"))
    worst_grad = max([grad_rel] + [v for k, v in rows.items() if k.startswith("gradient")])
    print(f"draws used: torch-gqn {used} of {L} per pass; largest output difference {worst_out:.2e}, "
          f"gradient difference {worst_grad:.2e}; {time.time() - t0:.0f} s")
    if a.check and (worst_out > 1e-4 or worst_grad > 1e-4):
        raise SystemExit(f"outputs differ by up to {worst_out:.2e}, gradients by {worst_grad:.2e}")


if __name__ == "__main__":
    main()
