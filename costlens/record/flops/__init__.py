"""FLOPs a training really executes, counted on a few steps and extrapolated.

`FlopMeter` installs global torch hooks (no change to the user's script) and counts with
``torch.utils.flop_counter.FlopCounterMode`` (forward, backward, attention, including the CPU flash
attention kernels the counter misses by default) on the first few windows of each input shape,
then extrapolates by count. torch is imported lazily: ``install()`` before ``import torch`` puts a
tiny import hook in ``sys.meta_path`` that installs the meter when torch has finished importing.

How the work is cut up (the *window* is the unit that is measured or extrapolated):
- A window opens at the first forward of an outermost module (global forward pre-hook; modules
  called inside other modules do not open one) in the training thread (the first thread that runs
  a forward; dispatch modes are per thread, so other threads' work is not counted).
- It closes at the end of a backward (``torch.autograd.backward`` / ``Tensor.backward`` wrapped),
  at an optimizer step (global step post-hook), or, for forward-only work (``no_grad`` /
  ``inference_mode`` evaluation, a frozen backbone), at the end of a forward whose output needs no
  gradient. Its key is the sequence of (module, input shapes, grad mode) of its outermost forwards
  and how it closed. A key's first windows are measured; later ones add the key's measured mean.
  A window whose key was never measured is estimated from the nearest measured input size of the
  same module (scaled by input numel) and corrected once that key is measured.
- Measurement is bounded: at most max(24, 5% of windows) windows are ever measured, so a loop
  whose shapes change every step (dynamic padding) costs at most about 2% extra.
- Not counted: the optimizer step's own FLOPs and anything between a backward and the next forward
  (FlopCounterMode counts no FLOPs for SGD or Adam anyway); work outside ``nn.Module`` calls that
  happens before a window opens (a loop without any module counts steps but no FLOPs).

``torch.compile``: once it is called, the global module hooks go and the compiled objects' own
calls open the windows; their FLOPs come from an eager replay on fake tensors, once per input
signature, so no dispatch mode is ever held over a compiled call
(:mod:`costlens.record.flops.compiled`).

Steps are optimizer steps (a step counted when at least one backward happened since the last one:
several optimizers stepping after one backward are one step; gradient accumulation is one step),
or, when no optimizer step has been seen, backward passes (hand-written SGD). Forward-only windows
are FLOPs but not steps. Samples and tokens come from the first tensor input of the first forward
of each training window (dim 0; tokens = dim0 * dim1 for int32/int64 inputs of dim >= 2); counts
given to ``declare()`` win.

One job per file: ``meter`` (the hooks and windows), ``ledger`` (the counts), ``dispatch``
(FlopCounterModes among the script's own modes), ``hooks`` (installing the torch hooks),
``import_hook``, ``inputs``, ``precision``, ``compiled`` and ``replay`` (torch.compile),
``attention`` (the counter's CPU flash attention
mapping), ``counting`` (one step on the meta device) and ``torch_internals`` (every private torch
API, to re-check on each torch upgrade). The analytic formulas live in :mod:`costlens.core.physics`.
"""

from costlens.core.physics import gpt_forward_flops_per_token, gpt_train_flops_per_token
from costlens.record.flops.attention import attention_flop_mapping, flop_counter
from costlens.record.flops.counting import count_train_step_flops
from costlens.record.flops.ledger import FREE_MEASURED_WINDOWS, MEASURE_FRACTION, FlopStats
from costlens.record.flops.meter import MAX_WINDOW_FORWARDS, FlopMeter

__all__ = [
    "FREE_MEASURED_WINDOWS",
    "MAX_WINDOW_FORWARDS",
    "MEASURE_FRACTION",
    "FlopMeter",
    "FlopStats",
    "attention_flop_mapping",
    "count_train_step_flops",
    "flop_counter",
    "gpt_forward_flops_per_token",
    "gpt_train_flops_per_token",
]
