import pytest
import torch

from gaputils import hessian, models

SHAPES = [(1, 28, 28), (3, 32, 32)]


@pytest.mark.parametrize("name", ["F1", "C1", "C2", "resnet"])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_shapes(name, shape):
    torch.manual_seed(0)
    net = models.build(name, shape, 10)
    net.eval()
    assert net(torch.randn(2, *shape)).shape == (2, 10)


def test_f1_parameter_count_matches_formula():
    net = models.build("F1", (1, 28, 28), 10)
    # first layer, four more hidden layers (each with BN's 2 x 512), output layer
    expected = (784 * 512 + 512 + 1024) + 4 * (512 * 512 + 512 + 1024) + (512 * 10 + 10)
    assert models.num_parameters(net) == expected == 1_462_794


def test_documented_counts():
    doc = models.__doc__.replace(",", "")
    for name, shape in [("C1", (3, 32, 32)), ("C2", (1, 28, 28)), ("resnet", (3, 32, 32)),
                        ("vit", (1, 28, 28))]:
        assert str(models.num_parameters(models.build(name, shape, 10))) in doc


def test_keskar_layers():
    f1 = models.build("F1", (1, 28, 28), 10)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in f1) == 5
    c2 = models.build("C2", (3, 32, 32), 100)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in c2) == 13
    r44 = models.build("resnet", (3, 32, 32), 10, depth=44)
    convs = [m for m in r44.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 44  # 43 convs 3x3 + the final dense layer


def test_bad_input():
    with pytest.raises(ValueError, match="F1, C1, C2, resnet, vit"):
        models.build("vgg99", (1, 28, 28), 10)
    with pytest.raises(ValueError, match="6n\\+2"):
        models.build("resnet", (3, 32, 32), 10, depth=21)
    with pytest.raises(ValueError, match="C, H, W"):
        models.build("F1", (28, 28), 10)
    assert isinstance(models.build("f1", (1, 28, 28), 10), torch.nn.Module)  # case-insensitive


def test_tiny_vit_has_no_batchnorm_and_learns_a_batch():
    torch.manual_seed(0)
    net = models.build("vit", (1, 28, 28), 10)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert net(x[:3]).shape == (3, 10)
    with pytest.raises(ValueError, match="divide"):
        models.build("vit", (1, 28, 28), 10, patch=5)


def test_vit_attention_equals_torch_multihead_attention_and_has_a_hessian():
    torch.manual_seed(0)
    net = models.build("vit", (1, 28, 28), 10).double()
    att = net.encoder[0].attention
    ref = torch.nn.MultiheadAttention(64, 4, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(att.qkv.weight)
        ref.in_proj_bias.copy_(att.qkv.bias)
        ref.out_proj.weight.copy_(att.out.weight)
        ref.out_proj.bias.copy_(att.out.bias)
    x = torch.randn(3, 16, 64, dtype=torch.float64)
    torch.testing.assert_close(att(x), ref(x, x, x, need_weights=False)[0])
    data = torch.randn(8, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (8,))
    n = sum(p.numel() for p in net.parameters())
    u, v = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
    hu, hv = hessian.hvp(net, data, u), hessian.hvp(net, data, v)  # needs a double backward
    torch.testing.assert_close(v @ hu, u @ hv)  # the Hessian is symmetric
