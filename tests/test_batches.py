"""Measuring a model on a DataLoader and with a loss of one's own (gaputils.batches)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import gaputils as gu
from gaputils import batches, hessian, landscape, sharpness


def small_cnn(seed=0):
    """A small CNN with BatchNorm (running statistics that are not the defaults) and dropout."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 3 * 3, 3)).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 1, 8, 8, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (50,), generator=g)
    net.train()
    net(x)
    return net.eval(), (x, y)


def loader(data, batch_size=7, **kw):
    """Batches of 7: the last of 50 examples has only 1, so weighting by size matters."""
    return DataLoader(TensorDataset(*data), batch_size=batch_size, **kw)


def test_loader_equals_tensor_pair_for_every_measurement():
    net, data = small_cnn()
    dl = loader(data)
    f_t, g_t = hessian.gradient(net, data)
    f_l, g_l = hessian.gradient(net, dl)
    assert f_l == pytest.approx(f_t, rel=1e-12)
    torch.testing.assert_close(g_l, g_t)
    v = torch.randn(g_t.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(hessian.hvp(net, dl, v), hessian.hvp(net, data, v))
    torch.testing.assert_close(hessian.hvp(net, dl, v, method="fr"), hessian.hvp(net, data, v))
    top_t = hessian.top_eigenvalues(net, data, k=3, tol=1e-10)
    top_l = hessian.top_eigenvalues(net, dl, k=3, tol=1e-10)
    np.testing.assert_allclose(top_l.values, top_t.values, rtol=1e-8)
    np.testing.assert_allclose(hessian.trace(net, dl, num_probes=9),
                               hessian.trace(net, data, num_probes=9), rtol=1e-8)
    np.testing.assert_allclose(hessian.density(net, dl, num_runs=2, lanczos_steps=8).density,
                               hessian.density(net, data, num_runs=2, lanczos_steps=8).density,
                               rtol=1e-6, atol=1e-10)
    s_t, s_l = sharpness.keskar(net, data, max_iter=3), sharpness.keskar(net, dl, max_iter=3)
    assert s_l.value == pytest.approx(s_t.value, rel=1e-8)
    assert sharpness.average(net, dl, num_samples=2).value == pytest.approx(
        sharpness.average(net, data, num_samples=2).value, rel=1e-8)
    d = landscape.random_direction(net)
    np.testing.assert_allclose(landscape.plane(net, d, d, dl, n=3)["loss"],
                               landscape.plane(net, d, d, data, n=3)["loss"], rtol=1e-12)
    other, _ = small_cnn(seed=1)
    res = landscape.interpolate(net, other, dl, test=dl, alphas=[0.0, 0.5])
    assert res["train_loss"][0] != res["train_loss"][1] and np.isfinite(res["test_loss"]).all()
    # BN statistics re-estimated on a loader's batches: those of the pair in whole batches of 7
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    landscape.recompute_bn(a, loader(data, drop_last=True))
    landscape.recompute_bn(b, data[0], batch_size=7)
    for (k, u), v in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(u, v, msg=k)


def test_a_regression_loss_gives_the_exact_hessian_of_least_squares():
    # f(w, c) = mean (w.x + c - y)^2 has the constant Hessian 2 [X 1]^T [X 1] / N
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randn(30, 1, generator=g, dtype=torch.float64)
    net = nn.Linear(4, 1).double()
    mse = nn.functional.mse_loss
    design = torch.cat([x, torch.ones(30, 1, dtype=torch.float64)], 1)
    exact = np.linalg.eigvalsh((2 * design.T @ design / 30).numpy())[::-1]
    for data in ((x, y), loader((x, y), batch_size=4)):
        top = hessian.top_eigenvalues(net, data, k=5, tol=1e-10, loss_fn=mse)
        np.testing.assert_allclose(top.values, exact, rtol=1e-8)
        trace, _ = hessian.trace(net, data, num_probes=30, method="hutch++", loss_fn=mse)
        assert trace == pytest.approx(exact.sum(), rel=1e-8)  # 5 dimensions: Hutch++ is exact
        res = landscape.line(net, torch.zeros(5, dtype=torch.float64), data, n=3, loss_fn=mse)
        f0 = float(mse(net(x), y).detach())
        np.testing.assert_allclose(res["loss"], f0, rtol=1e-12)
        assert np.isnan(res["acc"]).all()  # no classes, no accuracy
        assert sharpness.keskar(net, data, max_iter=2, loss_fn=mse).f0 == pytest.approx(f0)


class Noisy(Dataset):
    """An 'augmenting' dataset: every access adds fresh noise."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.randn_like(self.x[i]), self.y[i]


def test_random_data_and_one_shot_iterators_are_refused_clearly():
    net, data = small_cnn()
    torch.manual_seed(0)
    with pytest.raises(RuntimeError, match="shuffle=False"):
        hessian.top_eigenvalues(net, loader(data, shuffle=True))
    with pytest.raises(RuntimeError, match="augmentation"):
        hessian.trace(net, DataLoader(Noisy(*data), batch_size=10))
    with pytest.raises(RuntimeError, match="differ between two passes"):
        sharpness.keskar(net, loader(data, shuffle=True))
    with pytest.raises(RuntimeError, match="augmentation"):
        hessian.exact_trace(net, DataLoader(Noisy(*data), batch_size=10))
    with pytest.raises(TypeError, match="one-shot iterator"):
        hessian.gradient(net, iter(loader(data)))
    with pytest.raises(TypeError, match=r"not an \(x, y\) pair"):
        hessian.gradient(net, [{"x": data[0], "y": data[1]}])
    with pytest.raises(ValueError, match="as many rows"):
        hessian.gradient(net, (data[0], data[1][:-1]))
    batches.check(net, loader(data))  # a loader without shuffling passes
    noisy = nn.Sequential(net, NoiseLayer())  # random in eval mode too: the model is random
    with pytest.raises(RuntimeError, match="not deterministic"):
        batches.check(noisy, loader(data))


class NoiseLayer(nn.Module):
    def forward(self, x):
        return x + 0.01 * torch.randn_like(x)


def test_a_list_of_batches_and_the_batch_evaluation_weight_by_size():
    net, data = small_cnn()
    parts = [(data[0][:3], data[1][:3]), (data[0][3:], data[1][3:])]
    assert batches.Batches(parts).count() == 50
    np.testing.assert_allclose(batches.evaluate(net, parts), gu.train.evaluate(net, *data),
                               rtol=1e-12)
    f, g = hessian.gradient(net, parts)
    torch.testing.assert_close(g, hessian.gradient(net, data)[1])


def test_the_chunk_is_chosen_from_the_memory_it_takes():
    net, (x, _) = small_cnn()
    per_example = 4 * 8 * (1 * 8 * 8 + 3 * 4 * 6 * 6 + 4 * 3 * 3 * 2 + 36 + 3)  # float64 outputs
    assert batches.auto_chunk(net, x, memory=per_example * 100) == 64
    assert batches.auto_chunk(net, x, memory=10**12) == batches.MAX_CHUNK
    assert batches.auto_chunk(net, x, memory=1) == 1


@pytest.mark.gpu
def test_a_cpu_loader_feeds_a_model_on_the_gpu():
    net, data = small_cnn()
    dl = loader(data)
    cpu = hessian.top_eigenvalues(net, dl, k=2, tol=1e-10).values
    gpu = hessian.top_eigenvalues(net.cuda(), dl, k=2, tol=1e-10).values
    np.testing.assert_allclose(gpu, cpu, rtol=1e-7)


def test_evaluate_builds_no_graph_and_measures_its_chunk_once():
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.randn(40, 1, 4, 4), torch.randint(0, 3, (40,))
    seen = []
    net.register_forward_hook(lambda m, i, o: seen.append((len(o), o.requires_grad)))
    batches.evaluate(net, (x, y))
    batches.evaluate(net, (x, y))
    assert not any(grad for _, grad in seen)
    assert [n for n, _ in seen] == [2, 40, 40]  # the 2-example probe once, then the data


def test_outputs_are_the_eval_mode_forward_pass_chunk_by_chunk():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Dropout(0.5), nn.Linear(7, 3))
    net(torch.randn(64, 5))  # running statistics other than the initial ones
    x = torch.randn(23, 5)
    with torch.no_grad():
        whole = net.eval()(x)
    net.train()
    for chunk in (None, 5, 23, 100):  # a short last chunk, one chunk, more than there is
        out = batches.outputs(net, x, chunk=chunk)
        assert out.shape == (23, 3) and not out.requires_grad and net.training
        torch.testing.assert_close(out, whole, rtol=1e-6, atol=1e-7)
