import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_folders(tmp_path, monkeypatch):
    """Each test gets its own cache and data folders and runs in smoke mode."""
    monkeypatch.setenv("GAPUTILS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAPUTILS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GAPUTILS_MODE", "smoke")
    monkeypatch.delenv("GAPUTILS_DEVICE", raising=False)
    return tmp_path
