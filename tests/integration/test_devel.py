"""The devel flavor: nvcc of the variant's CUDA, and a PyTorch CUDA extension compiles in it."""

from __future__ import annotations

from helpers import docker

EXTENSION = r'''
import torch.utils.cpp_extension as ext
cuda = """
#include <torch/extension.h>
__global__ void twice(float* x, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] *= 2; }
void run(torch::Tensor t) { twice<<<(t.numel() + 255) / 256, 256>>>(t.data_ptr<float>(), t.numel()); }
"""
cpp = "void run(torch::Tensor t);"
module = ext.load_inline("imgbuild_twice", cpp_sources=cpp, cuda_sources=cuda, functions=["run"],
                         extra_cuda_cflags=["-gencode=arch=compute_90,code=sm_90"], verbose=False,
                         build_directory="/tmp/ext")
print("built", module.__file__)
'''


def test_nvcc_matches_the_variant_cuda(devel_image):
    result = docker("run", "--rm", "--network", "host", devel_image, "nvcc", "--version")
    assert result.returncode == 0 and "release 13.0" in result.stdout, result.stdout + result.stderr


def test_a_cuda_extension_compiles(devel_image):
    result = docker("run", "--rm", "--network", "host", "-e", "TORCH_CUDA_ARCH_LIST=9.0", devel_image,
                    "bash", "-c", f"mkdir -p /tmp/ext && python - <<'EOF'\n{EXTENSION}\nEOF", timeout=900)
    assert result.returncode == 0 and "built" in result.stdout, (result.stdout + result.stderr)[-3000:]


def test_runtime_and_devel_share_the_torch_layers(runtime_image, devel_image):
    def layers(ref):
        return docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref).stdout

    import json

    runtime, devel = json.loads(layers(runtime_image)), json.loads(layers(devel_image))
    shared = 0
    for a, b in zip(runtime, devel, strict=False):
        if a != b:
            break
        shared += 1
    # Everything up to and including the torch layer is shared: the OS, CA, user, Python, Jupyter and torch layers.
    assert shared >= 6 and len(devel) > shared, (shared, len(runtime), len(devel))
