"""Mask-quality evaluation: DAVIS J&F, simulated clicks, dataset readers."""
from editor.evaluation.jf import boundary_f, db_statistics, evaluate_sequence, region_j, seg2bmap

__all__ = ["boundary_f", "db_statistics", "evaluate_sequence", "region_j", "seg2bmap"]
