"""The units of the tracking evidence (:mod:`editor.tracking.evidence`), one concern each.

* :mod:`.tuning` — every tuned constant, named, with the clips it was tuned on;
* :mod:`.shapes` — mask geometry (boxes, placing, shifting, ramps);
* :mod:`.model` — the object model (:class:`~.model.ObjectModel`) and one frame at the
  working resolution (:class:`~.model.FrameData`);
* :mod:`.appearance` — colour histograms and texture matching of the object's views;
* :mod:`.motion` — position and velocity, where the object is expected and can have reached;
* :mod:`.size` — size changes: full or partial views, growth with texture evidence;
* :mod:`.search` — looking for a lost object in the whole frame and verifying candidates;
* :mod:`.verdict` — the confidence of one mask and the trim of what grew without evidence;
* :mod:`.blur` — motion blur on the frame, a cap on the confidence of fast, smeared objects;
* :mod:`.agreement` — the forward and backward passes' masks compared where both reach;
* :mod:`.calibration` — the reported confidence as a probability (P(IoU ≥ 0.5)).
"""
