"""Hypothesis strategies for what people (and attackers) type: numbers in every spelling,
non-finite and huge values, empty strings, control characters, LIKE wildcards, long text."""

from __future__ import annotations

from hypothesis import strategies as st

SUFFIXES = ["", "k", "K", "M", "B", "G", "T", "m", "x"]

numbers_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.tuples(st.floats(-1e4, 1e4, allow_nan=False), st.sampled_from(SUFFIXES)).map(
        lambda t: f"{t[0]:g}{t[1]}"
    ),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e309", "-0", "0", "1e-320", "2,000", "1_000",
                     "7B", "2T", " 5 ", "", " ", "0x10", "1/2", "1e11", "99999999999"]),
)  # fmt: skip

names_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "%", "_", "a%", "\x00", "a\nb", "\x1b[31mred", "\u202eevil",
                     "..", "../x", "x" * 300, "LoRA", "BF16", "completed"]),
)  # fmt: skip

# values a flag would take (so the fuzz also reaches the answers, not only the errors)
plausible = st.sampled_from(["8", "1", "2", "1k", "0.5", "0.01", "12", "4096", "7B", "2T", "100",
                             "2k", "50", "bf16", "BF16", "fp8", "LoRA", "lora", "scratch",
                             "full-finetune", "A100-80GB", "H100", "aws", "gcp", "month", "total",
                             "json", "completed", "default", "20240601"])  # fmt: skip

any_value = st.one_of(plausible, numbers_text, names_text)
