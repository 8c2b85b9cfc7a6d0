"""Lesson 11: generative models -- a variational autoencoder and a GAN that draw new digits.

What you will learn
  * the difference between a classifier (image -> label) and a generative model (random
    numbers -> a new image that looks like the data);
  * the variational autoencoder (VAE): an encoder that outputs a Normal distribution over a
    small "latent" code, the reparameterisation trick z = mu + sigma * eps that lets gradients
    flow through a random draw, and the loss = reconstruction + KL divergence to N(0, I);
  * a 2-D latent space you can look at: where the encoder puts each digit, and what the
    decoder draws at every point of a grid;
  * the generative adversarial network (GAN): a generator (ConvTranspose2d upsampling noise
    to an 8x8 image) and a discriminator (Conv2d + LeakyReLU) trained against each other with
    BCELoss, the "non-saturating" generator loss, and why GAN losses do not go down;
  * how to judge samples without a human: a classifier trained on real digits, the fraction
    of samples it recognises with confidence > 0.9, and its class histogram (a check for
    "mode collapse", when a GAN draws only a few kinds of digit).

The data: the 8x8 digits of lessons 3 and 4, pixel values in [0, 1], the same fixed 80/20
split. All three models (judge, VAE, GAN) train on the 80%; the 20% test the VAE and the judge.

Run it:
    python lessons/11_generative_models.py                           # full run: ~2.5 min on 2 CPU cores
    python lessons/11_generative_models.py --epochs 40 --steps 2000  # VAE epochs, GAN steps
    python lessons/11_generative_models.py --quick                   # what CI runs (tiny, seconds)
"""
import math

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.distributions as D
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.data import DataLoader, TensorDataset, digits
from tinygrad_edu.vision.utils import make_grid

CONFIDENT = 0.9   # a sample "looks like a digit" when the judge gives one class more than this probability


def split(images, labels, test_fraction=0.2, seed=0):
    """The same fixed 80/20 split as lessons 3 and 4 (the seed is not --seed: the test set never changes)."""
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


class Reshape(nn.Module):
    """(N, features) -> (N, *shape): the bridge from a Linear layer to images (PyTorch calls it nn.Unflatten)."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


# =============================================================================================
# Part 0: a judge -- a small CNN classifier trained on the real digits
# =============================================================================================
# A generative model has no "accuracy". One practical check (the idea behind the Inception
# Score and FID used for big image models): show its samples to a classifier trained on real
# data. If the classifier is sure what digit a sample is, the sample looks like a digit; if its
# verdicts cover all ten classes, the model has not collapsed onto a few of them.
def make_judge():
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # (N, 16, 4, 4)
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # (N, 32, 2, 2)
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10),                                    # (N, 10) logits
    )


@tg.no_grad()
def judge_verdicts(judge, images):
    """(predicted class, its probability) for every image, as numpy arrays."""
    judge.eval()
    probs = F.softmax(judge(images), dim=1).numpy()
    return probs.argmax(axis=1), probs.max(axis=1)


def train_judge(x_train, y_train, x_test, y_test, epochs, seed):
    judge = make_judge()
    optimizer = tg.optim.Adam(judge.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True, seed=seed)
    bar = common.Progress(epochs * len(loader), desc="judge", unit="batch")
    for _ in range(epochs):
        judge.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(judge(xb), yb)
            loss.backward()
            optimizer.step()
            bar.update(loss=loss.item())
    bar.close()
    predicted, _ = judge_verdicts(judge, x_test)
    return judge, float((predicted == y_test.numpy()).mean())


# =============================================================================================
# Part 1: the variational autoencoder
# =============================================================================================
class VAE(nn.Module):
    """Encoder: image (64 pixels) -> mu, log sigma^2 of a Normal over a `latent`-D code z.
    Decoder: z -> 64 pixel probabilities (Sigmoid), reshaped to (1, 8, 8).

    A plain autoencoder maps each image to one point; the VAE maps it to a small cloud (a
    Normal) and is trained so that the clouds of all images together fill N(0, I). Then any
    z drawn from N(0, I) decodes to something digit-like: the decoder is a generator.
    """

    def __init__(self, latent=2, hidden=256):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.mu = nn.Linear(hidden // 2, latent)        # the centre of the code's cloud
        self.logvar = nn.Linear(hidden // 2, latent)    # log sigma^2: any real number, so no constraint needed
        self.decoder = nn.Sequential(nn.Linear(latent, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, hidden),
                                     nn.ReLU(), nn.Linear(hidden, 64), nn.Sigmoid(), Reshape(1, 8, 8))

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x):
        mu, logvar = self.encode(x)
        # The reparameterisation trick. Sampling z ~ N(mu, sigma^2) directly is not differentiable
        # in mu and sigma. Instead draw eps ~ N(0, 1), which does not depend on the network, and
        # shift and scale it: z = mu + sigma * eps has the same distribution, and is an ordinary
        # differentiable function of mu and sigma. (D.Normal(mu, std).rsample() does exactly this.)
        std = (0.5 * logvar).exp()
        eps = tg.randn_like(std)
        z = mu + std * eps
        return self.decoder(z), mu, logvar


def kl_to_standard_normal(mu, logvar):
    """KL( N(mu, sigma^2) || N(0, 1) ) summed over the latent dimensions, in closed form:
    0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2). It pulls every code cloud towards N(0, 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def vae_loss(recon, x, mu, logvar):
    """Per image: reconstruction (binary cross-entropy of the 64 pixels, summed) + KL.
    Their sum is the negative ELBO, an upper bound on -log p(x)."""
    n = x.shape[0]
    reconstruction = F.binary_cross_entropy(recon, x, reduction="sum") / n
    kl = kl_to_standard_normal(mu, logvar).sum() / n
    return reconstruction + kl, reconstruction, kl


def show_kl_check(vae, x):
    """The hand-written KL against the library's D.kl_divergence of two Normal distributions."""
    with tg.no_grad():
        mu, logvar = vae.encode(x)
        ours = kl_to_standard_normal(mu, logvar)
        library = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    diff = float(np.abs(ours.numpy() - library.numpy()).max())
    print(f"KL by hand vs D.kl_divergence(Normal(mu, sigma), Normal(0, 1)): max difference {diff:.1e}")
    assert diff < 1e-4, "the closed-form KL should match the library's"


@tg.no_grad()
def vae_test_losses(vae, x):
    """(reconstruction, KL) per test image. The reconstruction decodes z = mu, the most likely
    code, so the figure does not depend on the random draw."""
    vae.eval()
    mu, logvar = vae.encode(x)
    recon = vae.decoder(mu)
    n = x.shape[0]
    return (F.binary_cross_entropy(recon, x, reduction="sum").item() / n,
            kl_to_standard_normal(mu, logvar).sum().item() / n)


def train_vae(x_train, epochs, seed, hidden):
    vae = VAE(latent=2, hidden=hidden)
    optimizer = tg.optim.Adam(vae.parameters(), lr=2e-3)
    loader = DataLoader(TensorDataset(x_train), batch_size=64, shuffle=True, seed=seed)
    show_kl_check(vae, x_train[:16])
    history = {"reconstruction": [], "KL": []}
    bar = common.Progress(epochs * len(loader), desc="vae  ", unit="batch")
    for _ in range(epochs):
        vae.train()
        for (xb,) in loader:
            optimizer.zero_grad()
            recon, mu, logvar = vae(xb)
            loss, reconstruction, kl = vae_loss(recon, xb, mu, logvar)
            loss.backward()
            optimizer.step()
            history["reconstruction"].append(reconstruction.item())
            history["KL"].append(kl.item())
            bar.update(loss=loss.item(), kl=history["KL"][-1])
    bar.close()
    return vae, history


# =============================================================================================
# Part 2: the GAN
# =============================================================================================
def make_generator(z_dim, width):
    """DCGAN-style: noise -> Linear -> a 2x2 image with 2*width channels -> two ConvTranspose2d
    layers, each doubling the size (kernel 4, stride 2, padding 1: (H-1)*2 - 2 + 4 = 2H) -> 8x8.

    A transposed convolution is the backward pass of a convolution used forwards: each input
    pixel paints a weighted 4x4 patch into a twice-as-large output. BatchNorm + ReLU in between
    (the DCGAN recipe); a Sigmoid at the end gives pixel values in [0, 1] like the data.
    """
    return nn.Sequential(
        nn.Linear(z_dim, 2 * width * 2 * 2), nn.BatchNorm1d(2 * width * 2 * 2), nn.ReLU(),
        Reshape(2 * width, 2, 2),                                                   # (N, 2w, 2, 2)
        nn.ConvTranspose2d(2 * width, width, kernel_size=4, stride=2, padding=1),   # (N, w, 4, 4)
        nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, 1, kernel_size=4, stride=2, padding=1),           # (N, 1, 8, 8)
        nn.Sigmoid(),
    )


def make_discriminator(width):
    """A small CNN that says "real" (1) or "fake" (0): strided Conv2d halves the size (no pooling),
    LeakyReLU(0.2) lets some gradient through for negative inputs, so the generator always gets a
    signal. The output is a probability (Sigmoid) for BCELoss."""
    return nn.Sequential(
        nn.Conv2d(1, width, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2),                 # (N, w, 4, 4)
        nn.Conv2d(width, 2 * width, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(2 * width),
        nn.LeakyReLU(0.2),                                                                           # (N, 2w, 2, 2)
        nn.Flatten(), nn.Linear(2 * width * 2 * 2, 1), nn.Sigmoid(),                                 # (N, 1)
    )


def forever(loader):
    """Batches from the loader, epoch after epoch, without end (the GAN counts steps, not epochs)."""
    while True:
        yield from loader


def train_gan(x_train, steps, seed, z_dim, width, batch_size=64):
    # D gets half G's channels: judging is easier than drawing, and a discriminator that wins too
    # clearly leaves the generator little to learn from (and D's steps get cheaper).
    G, Dnet = make_generator(z_dim, width), make_discriminator(width // 2)
    # Adam with beta1 = 0.5, as in DCGAN: less momentum, because the "landscape" keeps changing
    # (each network's loss depends on the other network). DCGAN's lr 2e-4 is meant for large images
    # and long runs; in the 3,000 steps of this lesson 2e-3 gave the most recognisable digits.
    opt_g = tg.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = tg.optim.Adam(Dnet.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    batches = forever(DataLoader(TensorDataset(x_train), batch_size=batch_size, shuffle=True, drop_last=True,
                                 seed=seed))
    real_label, fake_label = tg.full((batch_size, 1), 0.9), tg.zeros(batch_size, 1)   # 0.9: "label smoothing"
    history = {"D loss": [], "G loss": [], "D(real)": [], "D(fake)": []}
    bar = common.Progress(steps, desc="gan  ", unit="step")
    for _ in range(steps):
        (real,) = next(batches)
        fake = G(tg.randn(batch_size, z_dim))

        # (1) the discriminator: push D(real) towards 1 and D(fake) towards 0. fake.detach():
        #     this step must not change the generator, so its graph is cut here.
        opt_d.zero_grad()
        d_real, d_fake = Dnet(real), Dnet(fake.detach())
        loss_d = bce(d_real, real_label) + bce(d_fake, fake_label)
        loss_d.backward()
        opt_d.step()

        # (2) the generator: make D call its fakes real. The "non-saturating" loss -log D(G(z))
        #     (BCE against label 1), rather than minimising log(1 - D(G(z))): early on D rejects
        #     every fake, and log(1 - D) is then flat, while -log D still has a steep slope.
        opt_g.zero_grad()
        loss_g = bce(Dnet(fake), tg.ones(batch_size, 1))
        loss_g.backward()
        opt_g.step()          # (D's gradients from this backward are cleared by opt_d.zero_grad() next step)

        for key, value in (("D loss", loss_d.item()), ("G loss", loss_g.item()),
                           ("D(real)", d_real.mean().item()), ("D(fake)", d_fake.mean().item())):
            history[key].append(value)
        bar.update(d_loss=history["D loss"][-1], g_loss=history["G loss"][-1])
    bar.close()
    return G, history


@tg.no_grad()
def gan_samples(G, n, z_dim):
    G.eval()          # BatchNorm with its running statistics: each sample no longer depends on the others
    return G(tg.randn(n, z_dim))


# =============================================================================================
# Pictures
# =============================================================================================
def verdict_titles(judge, images):
    """Titles "3 (0.99)" with the judge's class and confidence; red where it is not confident."""
    predicted, confidence = judge_verdicts(judge, images)
    titles = [f"{p} ({c:.2f})" for p, c in zip(predicted, confidence)]
    return titles, ["black" if c > CONFIDENT else "red" for c in confidence]


def plot_latent_space(path, vae, x_test, y_test, n=15, span=2.5):
    """Left: where the encoder puts each test digit (mu), coloured by its label.
    Right: what the decoder draws at each point of an n x n grid of codes over the same square."""
    with tg.no_grad():
        vae.eval()
        mu = vae.encode(x_test)[0].numpy()
        values = np.linspace(-span, span, n)
        # row 0 of the picture is the top, i.e. the largest z2; columns go left to right in z1
        codes = np.array([[z1, z2] for z2 in values[::-1] for z1 in values], dtype=np.float32)
        grid = make_grid(vae.decoder(tg.tensor(codes)), nrow=n, padding=1, pad_value=0.0).numpy()[0]
    labels = y_test.numpy()

    def draw(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        points = ax1.scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
        for digit in range(10):
            cx, cy = np.median(mu[labels == digit], axis=0)
            ax1.text(cx, cy, str(digit), fontsize=14, weight="bold", ha="center", va="center")
        fig.colorbar(points, ax=ax1, ticks=range(10), label="true digit")
        ax1.set(title="test digits encoded (mu of each)", xlabel="z1", ylabel="z2",
                xlim=(-span - 0.5, span + 0.5), ylim=(-span - 0.5, span + 0.5))
        ax1.grid(alpha=0.3)
        step = values[1] - values[0]
        ax2.imshow(grid, cmap="gray_r", interpolation="nearest",
                   extent=(-span - step / 2, span + step / 2, -span - step / 2, span + step / 2))
        ax2.set(title=f"decoder(z) on a {n}x{n} grid of codes", xlabel="z1", ylabel="z2")
    return common.save_plot(path, draw, figsize=(12, 5.5))


def plot_gan_losses(path, history, steps):
    def draw(fig):
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        k = max(1, min(50, steps // 10))
        for key in ("D loss", "G loss"):
            line, = ax1.plot(history[key], alpha=0.25)
            ax1.plot(common.smooth(history[key], k), color=line.get_color(), label=f"{key} (running mean)")
        ax1.axhline(2 * math.log(2), ls="--", color="gray", lw=1)
        ax1.axhline(math.log(2), ls=":", color="gray", lw=1)
        ax1.set(title="GAN losses: a game, not a descent (grey: 2 ln 2 and ln 2, D = 0.5)",
                xlabel="step", ylabel="binary cross-entropy")
        ax1.grid(alpha=0.3)
        ax1.legend()
        for key in ("D(real)", "D(fake)"):
            ax2.plot(common.smooth(history[key], k), label=f"mean {key}")
        ax2.axhline(0.5, ls="--", color="gray", lw=1)
        ax2.set(title="what the discriminator says", xlabel="step", ylabel="probability 'real'", ylim=(0, 1))
        ax2.grid(alpha=0.3)
        ax2.legend()
    return common.save_plot(path, draw, figsize=(12, 4.5))


def histogram_lines(predicted, confidence):
    """The class histogram of the confident verdicts, as text bars."""
    counts = np.bincount(predicted[confidence > CONFIDENT], minlength=10)
    total = max(int(counts.sum()), 1)
    return counts, [f"  {digit}: {count:4d} ({count / total:5.1%}) {'#' * int(round(40 * count / total))}"
                    for digit, count in enumerate(counts)]


def main():
    args = common.parse_args(__file__, __doc__, epochs=60, quick_epochs=2, steps=3000, quick_steps=30)
    tg.manual_seed(args.seed)
    judge_epochs = 2 if args.quick else 12
    n_samples = 128 if args.quick else 1000
    vae_hidden, gan_width, z_dim = (64, 16, 16) if args.quick else (256, 32, 32)

    # ---- data ---------------------------------------------------------------------------------
    images, labels = digits()                  # (1797, 1, 8, 8) floats in [0, 1], labels 0-9
    x_train, y_train, x_test, y_test = split(images, labels)
    print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}, pixels in "
          f"[{x_train.min().item():.0f}, {x_train.max().item():.0f}]")

    # ---- Part 0: the judge --------------------------------------------------------------------
    print("\n== Part 0: a judge -- a CNN classifier trained on real digits, to score the samples later")
    judge, judge_acc = train_judge(x_train, y_train, x_test, y_test, judge_epochs, args.seed)
    print(f"judge test accuracy: {judge_acc:.4f}")

    # ---- Part 1: the VAE ----------------------------------------------------------------------
    print(f"\n== Part 1: a variational autoencoder with a 2-D latent code ({args.epochs} epochs)")
    vae, vae_history = train_vae(x_train, args.epochs, args.seed, vae_hidden)
    recon_loss, test_kl = vae_test_losses(vae, x_test)
    # BCE against grey-level targets cannot reach 0: even a perfect copy scores the targets' own
    # entropy, -sum(x log x + (1 - x) log(1 - x)). That is the floor to compare with.
    p = x_test.numpy().clip(1e-7, 1 - 1e-7)
    floor = float(-(p * np.log(p) + (1 - p) * np.log(1 - p)).sum() / len(p))
    print(f"VAE on the test digits, per image: reconstruction {recon_loss:.2f} nats (a perfect copy would "
          f"score {floor:.2f}), KL {test_kl:.2f} nats, negative ELBO {recon_loss + test_kl:.2f}")

    shown = x_test[:16]
    with tg.no_grad():
        vae.eval()
        reconstructions = vae.decoder(vae.encode(shown)[0])
        vae_images = vae.decoder(tg.randn(n_samples, 2))    # z ~ N(0, I), the prior: new digits
    pairs, titles = [], []
    for row in range(2):                        # rows of 8 originals, each above its 8 reconstructions
        idx = range(8 * row, 8 * row + 8)
        pairs += [shown[i].numpy()[0] for i in idx] + [reconstructions[i].numpy()[0] for i in idx]
        titles += [f"test {int(y_test[i].item())}" for i in idx] + ["decoded"] * 8
    common.plot_images(args.out / "vae_reconstructions.png", pairs, titles,
                       title=f"VAE: test digits and their reconstructions (decoder(mu)); "
                             f"reconstruction loss {recon_loss:.1f}")
    vae_titles, vae_colors = verdict_titles(judge, vae_images[:64])
    common.plot_images(args.out / "vae_samples.png", [im[0] for im in vae_images[:64].numpy()], vae_titles,
                       colors=vae_colors,
                       title="VAE samples: decoder(z), z ~ N(0, I); the judge's verdict (red: confidence < 0.9)")
    plot_latent_space(args.out / "vae_latent_grid.png", vae, x_test, y_test)
    # The two terms pull against each other: the reconstruction wants codes far apart and precise,
    # the KL wants every code cloud to be N(0, 1). Training settles on a balance between them.
    common.plot_curves(args.out / "vae_losses.png",
                       {key: common.smooth(values, 20) for key, values in vae_history.items()},
                       title="VAE training: the two terms of the loss (running mean)",
                       xlabel="step (batch)", ylabel="nats per image")

    # ---- Part 2: the GAN ----------------------------------------------------------------------
    print(f"\n== Part 2: a DCGAN-style GAN ({args.steps} steps, noise of {z_dim} numbers)")
    G, gan_history = train_gan(x_train, args.steps, args.seed, z_dim, gan_width)
    last = max(1, args.steps // 10)
    means = {key: float(np.mean(values[-last:])) for key, values in gan_history.items()}
    print(f"last {last} steps, mean: D loss {means['D loss']:.3f}, G loss {means['G loss']:.3f}, "
          f"D(real) {means['D(real)']:.2f}, D(fake) {means['D(fake)']:.2f}")
    gan_images = gan_samples(G, n_samples, z_dim)
    gan_titles, gan_colors = verdict_titles(judge, gan_images[:64])
    common.plot_images(args.out / "gan_samples.png", [im[0] for im in gan_images[:64].numpy()], gan_titles,
                       colors=gan_colors,
                       title="GAN samples: G(z), z ~ N(0, I); the judge's verdict (red: confidence < 0.9)")
    plot_gan_losses(args.out / "gan_losses.png", gan_history, args.steps)

    # ---- Part 3: judging the samples ----------------------------------------------------------
    # The same judge scores real test digits (what a perfect generator would get), pure noise
    # (what no generator should get), and the two models' samples. Why the noise row: a classifier
    # only ever saw digits, and it can be sure of itself on inputs unlike anything it saw. A score
    # means something only beside these two references.
    print(f"\n== Part 3: how many samples does the judge recognise with confidence > {CONFIDENT}?")
    noise = tg.rand(n_samples, 1, 8, 8)
    rows = {"real test digits": x_test, "uniform noise": noise, "VAE samples": vae_images, "GAN samples": gan_images}
    fractions = {}
    for name, batch in rows.items():
        predicted, confidence = judge_verdicts(judge, batch)
        fractions[name] = float((confidence > CONFIDENT).mean())
        classes = len(set(predicted[confidence > CONFIDENT].tolist()))
        print(f"  {name:<17} {fractions[name]:.2f} confident, {classes:2d} of 10 classes among them")
    predicted, confidence = judge_verdicts(judge, gan_images)
    counts, lines = histogram_lines(predicted, confidence)
    print(f"class histogram of the {int(counts.sum())} confidently classified GAN samples "
          f"(about 10% each means no mode collapse):")
    print("\n".join(lines))

    common.summary(args.name, [
        "A generative model turns random numbers into data-like samples; its quality is judged by "
        "looking at samples (here: by a classifier trained on real data), not by an accuracy.",
        "The VAE's encoder gives a Normal over the code, z = mu + sigma * eps makes the draw "
        "differentiable (the reparameterisation trick), and the loss is reconstruction + KL(q(z|x) || N(0, I)).",
        "The KL term packs the codes of all images into N(0, I), so the decoder draws digits for any z from "
        "the prior, and nearby codes decode to similar digits (the latent grid).",
        "A GAN trains a generator (ConvTranspose2d upsampling) against a discriminator with BCELoss: "
        "D learns real vs fake on detached fakes, G learns to make D say real (the non-saturating loss).",
        "GAN losses hover instead of falling; check samples, and a class histogram for mode collapse. "
        "VAE samples are smooth but blurry, GAN samples sharper but the training is a delicate balance.",
    ], {"judge test accuracy": judge_acc,
        "vae test reconstruction loss": recon_loss,
        "vae test KL": test_kl,
        "vae samples classified confidently": f"{fractions['VAE samples']:.2f}",
        "gan samples classified confidently": f"{fractions['GAN samples']:.2f}",
        "gan classes among confident samples": f"{int((counts > 0).sum())} of 10",
        "real test digits classified confidently": f"{fractions['real test digits']:.2f}"})


if __name__ == "__main__":
    main()
