"""REINFORCE on CartPole, with the cart-pole physics written here (no gym), in plain PyTorch.

Runs unchanged on PyTorch and on tinygrad_edu (`python -m tinygrad_edu.torch_compat reinforce_cartpole.py`).
"""
import argparse
import math
import random

import torch
import torch.nn as nn
from torch.distributions import Categorical

parser = argparse.ArgumentParser()
parser.add_argument("--episodes", type=int, default=300)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
torch.manual_seed(args.seed)
random.seed(args.seed)


class CartPole:
    """The classic control problem (Barto, Sutton & Anderson, 1983), Euler-integrated at 50 Hz."""
    gravity, cart_mass, pole_mass, half_length, force_mag, dt = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02

    def reset(self):
        self.state = [random.uniform(-0.05, 0.05) for _ in range(4)]
        return list(self.state)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        total = self.cart_mass + self.pole_mass
        temp = (force + self.pole_mass * self.half_length * theta_dot ** 2 * math.sin(theta)) / total
        theta_acc = (self.gravity * math.sin(theta) - math.cos(theta) * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * math.cos(theta) ** 2 / total))
        x_acc = temp - self.pole_mass * self.half_length * theta_acc * math.cos(theta) / total
        self.state = [x + self.dt * x_dot, x_dot + self.dt * x_acc, theta + self.dt * theta_dot,
                      theta_dot + self.dt * theta_acc]
        done = abs(self.state[0]) > 2.4 or abs(self.state[2]) > 12 * math.pi / 180
        return list(self.state), 1.0, done


policy = nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 2))
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
env, gamma, lengths = CartPole(), 0.99, []
for episode in range(args.episodes):
    state, log_probs, rewards = env.reset(), [], []
    for t in range(500):
        dist = Categorical(logits=policy(torch.tensor(state, dtype=torch.float32)))
        action = dist.sample()
        log_probs.append(dist.log_prob(action))
        state, reward, done = env.step(action.item())
        rewards.append(reward)
        if done:
            break
    returns, g = [], 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        returns.insert(0, g)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + 1e-8) if len(returns) > 1 else returns * 0
    loss = -(torch.stack(log_probs) * returns).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    lengths.append(len(rewards))
first, last = sum(lengths[:20]) / 20, sum(lengths[-20:]) / 20
print(f"average episode length: first 20 {first:.1f}, last 20 {last:.1f}")
