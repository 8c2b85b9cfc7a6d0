"""Lesson 11's claims, beyond the --quick run of tests/test_lessons.py.

* The VAE's pieces are right (in-process, milliseconds): the hand-written KL is 0 at N(0, 1) and agrees
  with D.kl_divergence, and the reparameterisation z = mu + sigma * eps lets gradients reach both the
  encoder's mu and log-variance heads.
* The GAN's networks have the shapes the lesson states: noise -> (N, 1, 8, 8) images in [0, 1], and
  images -> (N, 1) probabilities.
* The figures the lesson promises are printed on their own lines and are sane: `vae test
  reconstruction loss: X` (finite, positive) and `gan samples classified confidently: 0.xx` (a
  fraction), with `judge test accuracy: X` for the judge that gives it; and the VAE's loss curves
  (vae_losses.png, a sixth plot) are written.
"""
import importlib.util
import math
import re
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.distributions as D
from test_lessons import LESSONS, run_lesson

pytestmark = pytest.mark.lessons

NAME = "11_generative_models"


@pytest.fixture(scope="module")
def lesson():
    sys.path.insert(0, str(LESSONS))          # the lesson imports its neighbour common.py
    try:
        spec = importlib.util.spec_from_file_location("lesson11", LESSONS / f"{NAME}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(LESSONS))


def test_kl_is_zero_at_the_prior_and_matches_the_library(lesson):
    zeros = tg.zeros(4, 2)
    assert np.allclose(lesson.kl_to_standard_normal(zeros, zeros).numpy(), 0.0, atol=1e-7)
    tg.manual_seed(0)
    mu, logvar = tg.randn(5, 3), tg.randn(5, 3)
    library = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    assert np.allclose(lesson.kl_to_standard_normal(mu, logvar).numpy(), library.numpy(), atol=1e-5)


def test_reparameterisation_lets_gradients_reach_mu_and_logvar(lesson):
    tg.manual_seed(0)
    vae = lesson.VAE(latent=2, hidden=32)
    x = tg.rand(8, 1, 8, 8)
    recon, mu, logvar = vae(x)
    assert recon.shape == (8, 1, 8, 8) and mu.shape == logvar.shape == (8, 2)
    loss, reconstruction, kl = lesson.vae_loss(recon, x, mu, logvar)
    assert math.isclose(loss.item(), reconstruction.item() + kl.item(), rel_tol=1e-5)
    reconstruction.backward()                 # the reconstruction term alone reaches log-variance only through z
    for head in (vae.mu, vae.logvar):
        assert head.weight.grad is not None and float(np.abs(head.weight.grad.numpy()).max()) > 0


def test_gan_networks_have_the_stated_shapes(lesson):
    tg.manual_seed(0)
    G, Dnet = lesson.make_generator(z_dim=16, width=8), lesson.make_discriminator(width=8)
    with tg.no_grad():
        G.eval()
        Dnet.eval()
        fake = G(tg.randn(5, 16))
        verdict = Dnet(fake)
    assert fake.shape == (5, 1, 8, 8) and verdict.shape == (5, 1)
    for t in (fake, verdict):
        values = t.numpy()
        assert values.min() >= 0.0 and values.max() <= 1.0


def test_quick_run_prints_its_figures(tmp_path):
    out = run_lesson(NAME, tmp_path).stdout
    recon = re.search(r"^vae test reconstruction loss: ([0-9.]+)$", out, re.MULTILINE)
    confident = re.search(r"^gan samples classified confidently: (0\.[0-9]{2}|1\.00)$", out, re.MULTILINE)
    judge = re.search(r"^judge test accuracy: ([0-9.]+)$", out, re.MULTILINE)
    assert recon and confident and judge, out[-3000:]
    assert 0 < float(recon.group(1)) < 64 * math.log(2) * 2, "per-image BCE over 64 pixels should be modest"
    assert 0.0 <= float(confident.group(1)) <= 1.0
    assert float(judge.group(1)) > 0.5       # even the quick judge (2 epochs) is far above chance
    assert "class histogram of the" in out and "KL by hand vs D.kl_divergence" in out
    if "plot skipped" not in out:             # the one plot beyond the five that test_lessons.py checks
        assert (tmp_path / "vae_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
