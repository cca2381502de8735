"""Every accelerator `costlens gpus` lists can be estimated at its default precision."""

from __future__ import annotations

import pytest

from costlens.core.errors import UnknownAcceleratorError, UsageError
from costlens.price import tables as catalog

NEW_NAMES = (
    "H800", "A800", "A40", "L40", "L40S", "RTX A6000", "RTX 6000 Ada", "RTX 3090", "RTX 4090",
    "B200", "B300", "MI250X", "MI300X", "Quadro RTX 8000", "NVIDIA GeForce RTX 4090",
)  # fmt: skip


@pytest.mark.parametrize("name", NEW_NAMES)
def test_new_accelerators_resolve_and_have_a_default_peak(name: str):
    spec = catalog.gpu_spec(name)
    assert spec.require_peak(None) == spec.peak_flops_per_s[spec.default_precision] > 1e13
    assert spec.source and spec.as_of


def test_every_listed_accelerator_has_a_sourced_default_precision():
    for spec in catalog.gpu_specs():
        if spec.key == "CPU":
            assert spec.default_precision == "fp32" and not spec.precisions
            continue
        assert spec.default_precision in spec.precisions, spec.key
        assert spec.require_peak(spec.default_precision) > 0


@pytest.mark.parametrize(
    ("name", "default"),
    [("V100", "fp16"), ("V100-32GB", "fp16"), ("T4", "fp16"), ("A100", "bf16"), ("H100", "bf16"),
     ("RTX 3090", "bf16"), ("Quadro RTX 6000", "fp16")],
)  # fmt: skip
def test_default_precision_follows_the_hardware(name: str, default: str):
    assert catalog.gpu_spec(name).default_precision == default


def test_a_precision_the_gpu_lacks_names_the_ones_it_has():
    with pytest.raises(UsageError, match=r"no bf16 peak \(it has: fp32, fp16\)"):
        catalog.gpu_spec("V100").require_peak("bf16")
    with pytest.raises(UsageError, match="fp8"):
        catalog.gpu_spec("A100-80GB").require_peak("fp8")


def test_unknown_name_suggests_neighbours():
    with pytest.raises(UnknownAcceleratorError) as info:
        catalog.resolve_gpu("RTX 5090")
    assert "RTX4090" in info.value.suggestions
