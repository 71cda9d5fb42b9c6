"""The coarse losses against hand computations: batch-hard triplet and the Wasserstein critic."""

from __future__ import annotations

import torch

from xgeo.cmpc.loss import WassersteinCritic, batch_hard_triplet, cross_modal_triplet, squared_distances


def test_squared_distances_by_hand():
    a = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0], [3.0, 4.0]])
    assert torch.allclose(squared_distances(a, b), torch.tensor([[1.0, 25.0], [2.0, 20.0]]))


def test_batch_hard_triplet_by_hand():
    # anchors and targets on a line; ids 0, 1, 2 with unique ids per batch
    anchor = torch.tensor([[0.0], [1.0], [5.0]])
    target = torch.tensor([[0.5], [3.0], [5.0]])
    labels = torch.tensor([0, 1, 2])
    # d = (a - t)^2: row 0: [0.25, 9, 25]; row 1: [0.25, 4, 16]; row 2: [20.25, 4, 0]
    # hinge(d+ - d- + 0.5): row 0: 0.25 - 9 + 0.5 < 0 -> 0; row 1: 4 - 0.25 + 0.5 = 4.25; row 2: 0 - 4 + 0.5 < 0 -> 0
    assert torch.isclose(batch_hard_triplet(anchor, target, labels), torch.tensor(4.25 / 3))
    # reverse direction (targets as anchors): row 0: [0.25, 0.25, 20.25] -> 0.25 - 0.25 + 0.5 = 0.5;
    # row 1: [9, 4, 4] -> 4 - 4 + 0.5 = 0.5; row 2: [25, 16, 0] -> 0
    both = cross_modal_triplet(anchor, target, labels)  # sar = anchor, opt = target: L(opt->sar) + L(sar->opt)
    assert torch.isclose(both, torch.tensor(4.25 / 3 + 1.0 / 3))


def test_batch_hard_uses_the_farthest_positive_with_repeated_ids():
    anchor = torch.tensor([[0.0], [0.0]])
    target = torch.tensor([[1.0], [2.0]])
    labels = torch.tensor([4, 4])  # no negative at all: the hinge is 0 (d- = inf)
    assert batch_hard_triplet(anchor, target, labels) == 0
    labels = torch.tensor([4, 4, 7])
    anchor, target = torch.tensor([[0.0], [0.0], [10.0]]), torch.tensor([[1.0], [2.0], [3.0]])
    # row 0: d = [1, 4, 9], d+ = max(1, 4) = 4, d- = 9 -> 0; row 1 the same; row 2: d+ = 49, d- = min(100, 64) -> 49 - 64 + .5 < 0
    assert batch_hard_triplet(anchor, target, labels) == 0
    anchor[2] = 2.5  # row 2: d = [2.25, 0.25, 0.25], d+ = 0.25, d- = 0.25 -> 0.5
    assert torch.isclose(batch_hard_triplet(anchor, target, labels), torch.tensor(0.5 / 3))


def _linear_critic(dim: int) -> WassersteinCritic:
    """A critic whose net is one-dimensional and linear at first: D(x) = x·w (hidden units pass x0 through)."""
    critic = WassersteinCritic(dim, lr=1e-3, steps=1)
    with torch.no_grad():
        for layer in (critic.net.fc1, critic.net.fc2, critic.net.fc3):
            layer.weight.zero_()
            layer.bias.zero_()
        critic.net.fc1.weight[0, 0] = 0.1
        critic.net.fc2.weight[0, 0] = 0.1
        critic.net.fc3.weight[0, 0] = 0.1
    return critic


def test_critic_loss_picks_the_hardest_halves_by_hand():
    critic = _linear_critic(2)
    # D(x) = 0.001 * x0 for x0 >= 0 (both leaky ReLUs pass positives through)
    sar = torch.tensor([[1.0, 0], [4.0, 0], [2.0, 0], [8.0, 0]])
    opt = torch.tensor([[3.0, 0], [9.0, 0], [5.0, 0], [0.0, 0]])
    # lowest-scored SAR half: x0 = 1, 2 -> mean 1.5; highest-scored optical half: 9, 5 -> mean 7
    assert torch.isclose(critic.critic_loss(sar, opt), torch.tensor(1e-3 * (-1.5 + 7.0)))
    gen = critic.generator_loss(opt.requires_grad_(True))
    assert torch.isclose(gen, torch.tensor(-0.01 * 1e-3 * 7.0))
    gen.backward()
    expected = torch.zeros(4, 2)
    expected[[1, 2], 0] = -0.01 * 1e-3 / 2  # only the chosen optical rows, through D's weights
    assert torch.allclose(opt.grad, expected)


def test_critic_step_is_adam_then_clipping():
    torch.manual_seed(0)
    critic = WassersteinCritic(4, lr=1e-3, weight_decay=0.0, steps=1, clip=0.1)
    with torch.no_grad():
        critic.net.fc1.weight.fill_(0.5)  # outside the clip range
        before = {n: p.clone() for n, p in critic.net.named_parameters()}
    sar, opt = torch.randn(6, 4), torch.randn(6, 4)
    reference = WassersteinCritic(4, lr=1e-3, weight_decay=0.0, steps=1)
    reference.net.load_state_dict({n: p.clone() for n, p in before.items()})
    reference.net.requires_grad_(True)
    loss = reference.critic_loss(sar, opt)
    grads = torch.autograd.grad(loss, list(reference.net.parameters()))
    critic.train_critic(sar, opt)
    for (name, p), g in zip(critic.net.named_parameters(), grads, strict=True):
        # Adam's first step: m_hat = g, v_hat = g^2, so w -= lr * g / (|g| + eps); then the clip
        step = before[name] - 1e-3 * g / (g.abs() + 1e-8)
        assert torch.allclose(p, step.clamp(-0.1, 0.1), atol=1e-7), name
        assert p.abs().max() <= 0.1 and not p.requires_grad
    assert torch.allclose(critic.net.fc1.weight, torch.full((512, 4), 0.1))  # 0.5 - 0.001 clipped to 0.1


def test_critic_weights_get_no_gradient_from_the_generator_term():
    critic = WassersteinCritic(4, steps=5)
    opt = torch.randn(8, 4, requires_grad=True)
    critic.generator_loss(opt).backward()
    assert opt.grad is not None and all(p.grad is None for p in critic.net.parameters())
    loss = critic.train_critic(torch.randn(8, 4), opt)
    assert isinstance(loss, float) and len(critic.optimizer.state) == 6  # 6 tensors stepped
    assert all(p.abs().max() <= 0.1 for p in critic.net.parameters())
