"""The shipped CPU table: small GCP and Azure shapes, so "the same run elsewhere" is like-sized."""

from __future__ import annotations

import csv

from costlens.core.paths import data_dir
from costlens.price import alternatives
from costlens.price.tables import PriceTable


def _cpu_rows() -> list[dict[str, str]]:
    with open(data_dir() / "cpu_prices.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_two_vcpu_cpu_run_elsewhere_is_two_vcpus_on_every_cloud():
    alts = {a["provider"]: a for a in alternatives("CPU", 0, 1.0, PriceTable.load(), min_vcpus=2)}
    vcpus = {(r["provider"], r["instance_type"]): int(r["vcpus"]) for r in _cpu_rows()}
    aws = alts["aws"]["cost_usd"]
    for prov in ("gcp", "azure"):
        alt = alts[prov]
        assert vcpus[(prov, alt["instance_type"])] == 2, alt
        assert aws / 2 <= alt["cost_usd"] <= aws * 2, (prov, alt["cost_usd"], aws)
        assert alt["as_of"] is not None


def test_every_cpu_row_names_its_source_and_date():
    for r in _cpu_rows():
        assert r["source"].strip() and r["as_of"].strip(), r
