"""The SAM 2 family (SAM 2 / 2.1, EdgeTAM) through Hugging Face transformers' implementation.

* :mod:`~editor.backends.sam2.checkpoint`: checkpoint folders (``config.json`` +
  ``model.safetensors``), the families, one-line errors.
* :mod:`~editor.backends.sam2.loading`: one loaded model shared by a build's segmenter and tracker.
* :mod:`~editor.backends.sam2.pixels`: frames and masks to and from the model's square input.
* :mod:`~editor.backends.sam2.session`: transformers' streaming session, pruned to flat memory.
* :mod:`~editor.backends.sam2.tracker` / :mod:`~editor.backends.sam2.segmenter`: the backends.
* :mod:`~editor.backends.sam2.synthetic`: random-weight models (small and published shapes)
  for tests and benchmarks.

PyTorch and transformers are imported by these modules: import them only when the ``sam2``
extra is installed (the plugin, ``trackedit_plugins.sam2_backend``, checks first).
"""
