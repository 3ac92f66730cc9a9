"""quant.quantize_model(..., backend="triton") gives the same layer outputs, bit for bit, as the reference back
end for the named recipes, in the interpreter or on a GPU, whichever this process uses (weights through the kernels or the host-side exact_mse, activations, decomposition
and the residual GEMM accumulator)."""
import copy
import warnings

import numpy as np
import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

import torch  # noqa: E402

import quant  # noqa: E402

pytestmark = pytest.mark.triton


class TwoLayer(torch.nn.Module):
    """Named like an MMDiT block so the recipes' policies quantize both linears."""

    def __init__(self):
        super().__init__()
        self.double_blocks = torch.nn.ModuleList([torch.nn.Sequential(
            torch.nn.Linear(64, 96), torch.nn.GELU(), torch.nn.Linear(96, 32))])

    def forward(self, x):
        return self.double_blocks[0](x)


@pytest.mark.parametrize("recipe", ["blockdialect", "semanticdialect", "semanticdialect-no-seda", "mxfp4",
                                    "nvfp4", "w8a8"])
def test_quantize_model_triton_equals_reference(recipe):
    torch.manual_seed(0)
    base = TwoLayer()
    x = torch.randn(2, 40, 64) * torch.exp(torch.randn(2, 40, 1))
    outs = []
    for backend in ("reference", "triton"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # a recipe may note a formatbook substitution
            model = quant.quantize_model(copy.deepcopy(base), recipe, backend=backend)
        assert set(model.quant_context.plan.values()) == {"full"}
        with torch.no_grad():
            outs.append(model(x).numpy())
    np.testing.assert_array_equal(outs[1].view(np.int32), outs[0].view(np.int32))
