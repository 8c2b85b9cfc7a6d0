"""Lesson 12: reinforcement learning on CartPole -- REINFORCE with a baseline, and DQN.

What you will learn
  * the reinforcement-learning loop: an agent sees a state, picks an action, gets a
    reward and the next state, and learns from whole episodes of such steps -- there
    are no labels, only rewards;
  * an environment written by hand: the classic cart-pole physics (Barto, Sutton &
    Anderson 1983), four numbers of state, Euler-integrated at 50 Hz;
  * the discounted return G_t = r_t + gamma r_{t+1} + gamma^2 r_{t+2} + ...;
  * policy gradients (REINFORCE): a network outputs a distribution over actions
    (tinygrad_edu.distributions.Categorical); make the actions that were followed by
    high returns more likely, by ascending  log pi(a_t | s_t) * (G_t - V(s_t));
  * a baseline V(s) (a second network, trained by regression on G_t) that cuts the
    variance of that gradient without biasing it;
  * value-based learning (DQN): a network estimates Q(s, a), the return of taking a in s;
    it is trained towards r + gamma max_a' Q_target(s', a') with a Huber loss, on random
    minibatches from an experience-replay buffer, with a target network copied from the
    online one every few hundred steps, and epsilon-greedy exploration (and Double DQN's
    one-line fix to the target's over-optimism).

The task (gym's CartPole-v0): push a cart left or right so that the pole hinged on it stays
up. Every step it stays up earns +1; the episode ends when the pole leans past 12 degrees,
the cart leaves the track (|x| > 2.4), or after 200 steps (v0's cap; v1 caps at 500 and asks
for 475). v0 counts as *solved* when the average return over 100 consecutive episodes
reaches 195. Both methods train until then, and the lesson prints the episode.

What to expect (2 CPU cores): a random policy lasts ~19 steps. With seed 0, REINFORCE is solved
at episode 350 (~10 s) and DQN at episode 726 (~1 min: one minibatch update per step); seeds 1
and 2 gave 528 and 456 for REINFORCE, 596 and 423 for DQN. DQN's curve shows its famous
instability: it balances for a while, forgets, sinks back for a hundred episodes or more, then
climbs again -- the very thing the replay buffer and the target network are there to damp.

Run it:
    python lessons/12_reinforcement_learning.py               # full run: each method well under 5 minutes
    python lessons/12_reinforcement_learning.py --episodes 3000   # allow more episodes
    python lessons/12_reinforcement_learning.py --quick       # what CI runs (a handful of episodes of each)
"""
import math
import random
import time

import numpy as np

import common
import tinygrad_edu as tg
import tinygrad_edu.nn as nn
import tinygrad_edu.nn.functional as F
from tinygrad_edu.distributions import Categorical

SOLVED_AT = 195.0   # CartPole-v0: average return over 100 consecutive episodes
WINDOW = 100


# =============================================================================================
# The environment: cart-pole physics, written out
# =============================================================================================
class CartPole:
    """The cart-pole of Barto, Sutton & Anderson (1983), as in gym's CartPole-v0.

    State (x, x_dot, theta, theta_dot): the cart's position and velocity, the pole's angle
    from upright (radians) and its angular velocity. Action 0 pushes the cart left with
    10 N, action 1 right. The equations of motion of a pole (mass m, half-length l) on a cart
    (mass M), frictionless, pushed by a force F:

        temp       = (F + m l theta_dot^2 sin theta) / (M + m)
        theta_acc  = (g sin theta - cos theta * temp) / (l (4/3 - m cos^2 theta / (M + m)))
        x_acc      = temp - m l theta_acc cos theta / (M + m)

    integrated with one explicit Euler step of tau = 0.02 s (50 Hz). Reward +1 for every step,
    the last one included. Plain Python floats: for four numbers, `math` is much faster than numpy.
    """
    gravity, cart_mass, pole_mass, half_length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x_limit, theta_limit = 2.4, 12 * 2 * math.pi / 360
    max_steps = 200   # CartPole-v0 (v1: 500)

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def reset(self):
        """Start near upright and at rest: every state variable uniform in [-0.05, 0.05]."""
        self.state = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.t = 0
        return np.array(self.state, dtype=np.float32)

    def step(self, action):
        """Returns (next state, reward, terminated, truncated).

        `terminated`: the pole fell or the cart left the track -- a real end, there is no future.
        `truncated`: the 200-step clock ran out -- the episode stops, but the state was fine and
        the future would have gone on; learning algorithms must tell the two apart (see DQN below).
        """
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        total_mass = self.cart_mass + self.pole_mass
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + self.pole_mass * self.half_length * theta_dot ** 2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.half_length * (4.0 / 3.0 - self.pole_mass * cos ** 2 / total_mass))
        x_acc = temp - self.pole_mass * self.half_length * theta_acc * cos / total_mass
        # explicit Euler: positions move with the *old* velocities, then the velocities change
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * x_acc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc
        self.state = [x, x_dot, theta, theta_dot]
        self.t += 1
        terminated = abs(x) > self.x_limit or abs(theta) > self.theta_limit
        truncated = self.t >= self.max_steps and not terminated
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated


def solved_check(returns):
    """The average of the last 100 returns (or of all of them, before there are 100)."""
    return float(np.mean(returns[-WINDOW:]))


def moving_average(values, k=WINDOW):
    return [float(np.mean(values[max(0, i + 1 - k):i + 1])) for i in range(len(values))]


def report(method, returns, best, seconds):
    """Print the result line the lesson promises, and return (solved episode or None, average)."""
    average = solved_check(returns)
    if len(returns) >= WINDOW and average >= SOLVED_AT:
        print(f"{method}: solved at episode {len(returns)} (average return {average:.1f} over {WINDOW} episodes)")
        solved = len(returns)
    else:
        over = min(WINDOW, len(returns))
        print(f"{method}: not solved in {len(returns)} episodes (best average return {best:.1f} "
              f"over {over} episodes)")
        solved = None
    print(f"{method}: {len(returns)} episodes, {seconds:.1f} s")
    return solved, average


# =============================================================================================
# Method 1: REINFORCE with a learned baseline (a policy gradient method)
# =============================================================================================
def discounted_returns(rewards, gamma):
    """G_t = r_t + gamma * G_{t+1}, computed backwards from the end of the episode."""
    returns, g = np.zeros(len(rewards), dtype=np.float32), 0.0
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g
        returns[t] = g
    return returns


def train_reinforce(args, max_episodes, time_limit):
    """Monte-Carlo policy gradient (Williams, 1992) with a state-value baseline.

    The policy pi(a | s) is a network that outputs two logits; Categorical turns them into
    probabilities, samples the action and gives log pi(a | s). After each episode:

        policy loss = -mean_t log pi(a_t | s_t) * A_t,   A_t = G_t - V(s_t)   (the advantage)
        value loss  =  mean_t (V(s_t) - G_t)^2

    Gradient *descent* on the policy loss is ascent on the expected return: an action that did
    better than V expected (A_t > 0) is made more likely, one that did worse less likely. Without
    the baseline every action of a long episode would be pushed up, good and bad alike, and only
    the noise of many episodes would sort them out.
    """
    gamma = 0.99
    policy = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 2))   # state -> 2 action logits
    value = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 1))    # state -> V(s), the baseline
    policy_opt = tg.optim.Adam(policy.parameters(), lr=3e-3)
    value_opt = tg.optim.Adam(value.parameters(), lr=1e-2)
    env = CartPole(seed=args.seed)

    returns, best, start = [], 0.0, time.perf_counter()
    bar = common.Progress(max_episodes, desc="reinforce", unit="episode")
    for episode in range(max_episodes):
        # ---- play one episode with the current policy. No gradients needed while acting: -----
        # we keep the states and actions and recompute log pi for all of them at once afterwards,
        # one batched forward pass instead of 200 small graphs (the policy did not change meanwhile).
        states, actions, rewards = [], [], []
        state, done = env.reset(), False
        while not done:
            with tg.no_grad():
                action = Categorical(logits=policy(tg.from_numpy(state))).sample().item()
            next_state, reward, terminated, truncated = env.step(action)
            states.append(state)
            actions.append(action)
            rewards.append(reward)
            state, done = next_state, terminated or truncated

        # ---- learn from it ----------------------------------------------------------------------
        S = tg.from_numpy(np.stack(states))                       # (T, 4)
        A = tg.tensor(actions)                                    # (T,) int64
        G = tg.from_numpy(discounted_returns(rewards, gamma))     # (T,)
        V = value(S).squeeze(1)                                   # (T,)
        advantage = (G - V).detach()                              # the baseline is not trained by the policy loss
        # Standardise the advantages within the episode (mean 0, std 1): the step size then no longer
        # depends on how long the episode was or how good V already is -- a common, cheap stabiliser.
        advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8) if len(rewards) > 1 else advantage
        log_prob = Categorical(logits=policy(S)).log_prob(A)      # (T,) log pi(a_t | s_t), with gradients
        policy_loss = -(log_prob * advantage).mean()
        value_loss = F.mse_loss(V, G)
        policy_opt.zero_grad()
        value_opt.zero_grad()
        (policy_loss + value_loss).backward()    # the two networks share nothing: one backward fills both
        policy_opt.step()
        value_opt.step()

        returns.append(sum(rewards))
        if len(returns) >= WINDOW or episode == max_episodes - 1:
            best = max(best, solved_check(returns))
        bar.update(ret=f"{returns[-1]:.0f}", avg100=f"{solved_check(returns):.1f}")
        if len(returns) >= WINDOW and solved_check(returns) >= SOLVED_AT:
            break
        if time.perf_counter() - start > time_limit:
            print(f"\nreinforce: stopped by the time limit ({time_limit:.0f} s)")
            break
    bar.close()
    return returns, best, time.perf_counter() - start


# =============================================================================================
# Method 2: DQN (a value-based method) with experience replay and a target network
# =============================================================================================
class ReplayBuffer:
    """A ring buffer of transitions (s, a, r, s', terminated) in preallocated numpy arrays.

    Once full, the oldest transition is overwritten. Training on random minibatches drawn from
    it breaks the strong correlation between consecutive steps (which would make the network
    chase its latest few hundred states), and reuses every transition many times.
    """

    def __init__(self, capacity, state_dim, rng):
        self.states = np.zeros((capacity, state_dim), dtype=np.float32)
        self.next_states = np.zeros((capacity, state_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.capacity, self.size, self.next, self.rng = capacity, 0, 0, rng

    def push(self, state, action, reward, next_state, terminated):
        i = self.next
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.terminated[i] = next_state, terminated
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        idx = self.rng.integers(0, self.size, size=batch_size)
        return (tg.from_numpy(self.states[idx]), tg.from_numpy(self.actions[idx]), tg.from_numpy(self.rewards[idx]),
                tg.from_numpy(self.next_states[idx]), tg.from_numpy(self.terminated[idx]))


def make_q_network():
    """state (4) -> Q(s, left), Q(s, right): one output per action, so one forward pass values both."""
    return nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))


def train_dqn(args, max_episodes, time_limit, gamma=0.99, lr=5e-4, batch_size=64, buffer_size=50_000,
              warmup=1_000, sync_every=500, eps_end=0.01, eps_decay_steps=5_000, double=True):
    """Deep Q-learning (Mnih et al., 2015), on a 4-number state instead of Atari pixels.

    Q(s, a) estimates the discounted return of taking action a in state s and acting well after.
    The Bellman equation says Q(s, a) = r + gamma * max_a' Q(s', a') (just r if s' is terminal):
    regress Q(s, a) towards that target. Two things keep this from chasing its own tail:
      * the target uses a *target network*, a frozen copy of Q refreshed every `sync_every`
        steps, so the target does not move with every update;
      * updates use random minibatches from the replay buffer, not the last few steps.
    The loss is Huber (F.smooth_l1_loss): squared for small errors, linear for large ones, so one
    surprising transition cannot produce a huge gradient.

    `double=True` is Double DQN (van Hasselt et al., 2016), a one-line change to the target:
    the online network *chooses* a' = argmax_a' Q(s', a'), the target network *values* it,
    Q_target(s', a'). The plain max of noisy estimates is biased upwards (it picks whichever
    estimate happens to be too high); separating choosing from valuing removes most of that bias.
    Here it makes the last stretch to "solved" noticeably steadier; try double=False.
    """
    if args.quick:
        warmup, sync_every = 100, 50   # --quick: start learning (and syncing) within a few episodes
    rng = np.random.default_rng(args.seed)
    q = make_q_network()
    q_target = make_q_network()
    q_target.load_state_dict(q.state_dict())     # start identical; load_state_dict copies the values
    optimizer = tg.optim.Adam(q.parameters(), lr=lr)
    buffer = ReplayBuffer(buffer_size, 4, rng)
    env = CartPole(seed=args.seed + 1)

    returns, losses, best, steps, start = [], [], 0.0, 0, time.perf_counter()
    bar = common.Progress(max_episodes, desc="dqn", unit="episode")
    for episode in range(max_episodes):
        state, done, total = env.reset(), False, 0.0
        while not done:
            # ---- act: epsilon-greedy. Explore with a random action with probability epsilon
            # (decaying linearly from 1 to 0.01 over the first 5,000 steps), else take argmax_a Q(s, a).
            epsilon = max(eps_end, 1.0 - (1.0 - eps_end) * steps / eps_decay_steps)
            if rng.random() < epsilon:
                action = int(rng.integers(2))
            else:
                with tg.no_grad():
                    action = q(tg.from_numpy(state)).argmax().item()
            next_state, reward, terminated, truncated = env.step(action)
            # Store `terminated` only: a time-out (truncated) is not the end of the world, so its
            # target still adds gamma * max Q(s'). Treating it as terminal would teach the network
            # that standing upright at step 199 is worth nothing.
            buffer.push(state, action, reward, next_state, float(terminated))
            state, done, total, steps = next_state, terminated or truncated, total + reward, steps + 1

            # ---- learn: one update on a random minibatch of 64 transitions per environment step,
            # once the buffer holds `warmup` transitions. The whole minibatch goes through the
            # network at once, (64, 4) -> (64, 2): the cost is that of one small batch, not 64 steps.
            if steps >= warmup:
                s, a, r, s2, term = buffer.sample(batch_size)
                with tg.no_grad():                               # the target is a fixed number: no gradient
                    if double:
                        best_next = q(s2).argmax(dim=1, keepdim=True)             # chosen by the online net
                        next_value = q_target(s2).gather(1, best_next).squeeze(1)  # valued by the target net
                    else:
                        next_value = q_target(s2).max(dim=1).values
                    target = r + gamma * (1 - term) * next_value                 # (B,); just r where terminal
                q_sa = q(s).gather(1, a.unsqueeze(1)).squeeze(1)                 # (B,) Q of the action taken
                loss = F.smooth_l1_loss(q_sa, target)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q.parameters(), 10.0)
                optimizer.step()
                losses.append(loss.item())
            if steps % sync_every == 0:
                q_target.load_state_dict(q.state_dict())   # refresh the frozen copy

        returns.append(total)
        if len(returns) >= WINDOW or episode == max_episodes - 1:
            best = max(best, solved_check(returns))
        bar.update(ret=f"{total:.0f}", avg100=f"{solved_check(returns):.1f}", eps=f"{epsilon:.2f}")
        if len(returns) >= WINDOW and solved_check(returns) >= SOLVED_AT:
            break
        if time.perf_counter() - start > time_limit:
            print(f"\ndqn: stopped by the time limit ({time_limit:.0f} s)")
            break
    bar.close()
    return returns, best, time.perf_counter() - start, steps, losses


def main():
    def extra(parser):
        parser.add_argument("--episodes", type=int, default=None,
                            help="the most episodes each method may train (default 2000, --quick 10); "
                                 "training stops as soon as it is solved")
        parser.add_argument("--time-limit", type=float, default=600.0,
                            help="a safety net: the most seconds each method may train (default 600)")
    args = common.parse_args(__file__, __doc__, extra=extra)
    if args.episodes is None:
        args.episodes = 10 if args.quick else 2000
    if args.episodes < 1:
        raise SystemExit("--episodes must be at least 1")
    tg.manual_seed(args.seed)
    print(f"at most {args.episodes} episodes and {args.time_limit:.0f} s per method; CartPole-v0 "
          f"(episodes capped at {CartPole.max_steps} steps), solved = average return >= {SOLVED_AT:.0f} "
          f"over {WINDOW} consecutive episodes")

    # ---- a look at the environment: a random policy keeps the pole up for ~20 steps -------------
    env, lengths = CartPole(seed=args.seed + 2), []
    for _ in range(20):
        env.reset()
        done, n = False, 0
        while not done:
            _, _, terminated, truncated = env.step(env.rng.randrange(2))
            done, n = terminated or truncated, n + 1
        lengths.append(n)
    random_return = float(np.mean(lengths))
    print(f"random policy: average return {random_return:.1f} over 20 episodes (the pole falls quickly)")

    # ---- 1. REINFORCE with a baseline -----------------------------------------------------------
    print("\n-- REINFORCE with a value baseline: after each episode, make its good actions more likely")
    r_returns, r_best, r_time = train_reinforce(args, args.episodes, args.time_limit)
    r_solved, r_avg = report("reinforce", r_returns, r_best, r_time)

    # ---- 2. DQN ---------------------------------------------------------------------------------
    print("\n-- DQN: learn Q(s, a) from replayed transitions, act greedily (with some exploration)")
    d_returns, d_best, d_time, d_steps, d_losses = train_dqn(args, args.episodes, args.time_limit)
    d_solved, d_avg = report("dqn", d_returns, d_best, d_time)
    print(f"dqn: {d_steps} environment steps, {len(d_losses)} minibatch updates")

    # ---- the picture: return per episode, its 100-episode moving average, and the 195 line -------
    def draw(fig):
        panels = [("REINFORCE with baseline", r_returns, r_solved), ("DQN", d_returns, d_solved)]
        for i, (title, rets, solved) in enumerate(panels):
            ax = fig.add_subplot(1, 2, i + 1)
            episodes = range(1, len(rets) + 1)
            ax.plot(episodes, rets, alpha=0.35, label="return of each episode")
            ax.plot(episodes, moving_average(rets), label=f"average of the last {WINDOW}")
            ax.axhline(SOLVED_AT, color="black", linestyle="--", linewidth=1, label=f"solved ({SOLVED_AT:.0f})")
            if solved:
                ax.axvline(solved, color="green", linestyle=":", linewidth=1)
            ax.set(title=f"{title}: " + (f"solved at episode {solved}" if solved else "not solved"),
                   xlabel="episode", ylabel="return (steps the pole stayed up)", ylim=(0, CartPole.max_steps + 10))
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=8)
    common.save_plot(args.out / "returns.png", draw, figsize=(11, 4))

    common.summary(args.name, [
        "Reinforcement learning learns from rewards, not labels: play episodes, then make what led to "
        "high discounted returns G_t = r_t + gamma G_{t+1} more likely (or more valued).",
        "REINFORCE: a Categorical policy over the network's logits; descend -log pi(a_t|s_t) * (G_t - V(s_t)). "
        "The learned baseline V(s) lowers the variance of the gradient without biasing it.",
        "DQN: regress Q(s, a) on r + gamma max_a' Q_target(s', a') with a Huber loss, on random minibatches "
        "from a replay buffer; a target network (a copy via state_dict, refreshed every few hundred steps) "
        "keeps the target still; epsilon-greedy trades exploring for exploiting.",
        "A time-out is not a terminal state: bootstrap through it, stop only where the pole really fell.",
        "DQN reuses every transition many times but can forget what it learned (its curve dips and recovers); "
        "REINFORCE uses each episode once and climbs more steadily, with one update per episode, not per step.",
        "Act under tg.no_grad() and learn in batches (a whole episode, or a minibatch): the per-step Python "
        "cost is what dominates small RL problems.",
    ], {"random policy average return": random_return,
        "reinforce solved at episode": r_solved if r_solved else "not solved",
        "reinforce best average return": r_best, "reinforce seconds": r_time,
        "dqn solved at episode": d_solved if d_solved else "not solved",
        "dqn best average return": d_best, "dqn seconds": d_time})


if __name__ == "__main__":
    main()
