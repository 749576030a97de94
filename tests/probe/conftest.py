"""Probe tests run single-threaded: tiny torch models on a shared 2-core machine slow down ~10x with 2 threads."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)
