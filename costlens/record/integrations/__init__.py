"""Integrations with the frameworks ML engineers train with; each loads only when its framework
is imported by the training script (none of them is a dependency of costlens).

``hf`` (a Hugging Face ``TrainerCallback``), ``lightning`` (a Lightning ``Callback``), ``report``
(what both tell the active run) and ``frameworks`` (attaching them under ``costlens run`` or
``costlens.profile`` with no code change).
"""
